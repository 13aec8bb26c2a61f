package storage_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tinbao/flows"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// parallel runs n operations from 16 goroutines and returns operations per
// second.
func parallel(b *testing.B, n int, do func(i int) error) float64 {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := do(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkCommitTip is a figure of docs/performance.md: a
// report committed with its acknowledgement, audit row and NOTIFY, durably
// (synchronous commit), as a ratio to the bound B_pg1 measured in the same
// run on the same pool: a single-row INSERT of a similar row. 16 at once.
// Target ≥ 0.60, aim 1.0. In the same run, for the comparison: each report
// in its own transaction as before group commit (alone_ratio), and the
// latency of one writer alone, grouped and not (p50_1w_ms, alone_p50_1w_ms).
func BenchmarkCommitTip(b *testing.B) {
	ctx := context.Background()
	db := storagetest.DB(b)
	if _, err := db.Pool().Exec(ctx, `CREATE TABLE bound (id bigserial PRIMARY KEY, ref text UNIQUE, channel text,
		payload jsonb, created_at timestamptz DEFAULT now())`); err != nil {
		b.Fatal(err)
	}
	payload := `{"what": "Có người rủ em tôi sang Campuchia làm việc nhẹ lương cao", "where": "Cái Bè, Đồng Tháp"}`
	run := fmt.Sprint(time.Now().UnixNano())
	bound := parallel(b, 3000, func(i int) error {
		_, err := db.Pool().Exec(ctx, `INSERT INTO bound (ref, channel, payload) VALUES ($1, 'telegram', $2)`,
			fmt.Sprint(run, i), payload)
		return err
	})
	commit := func(commit func(context.Context, storage.NewTip) (storage.CommittedTip, error), source string) error {
		random := make([]byte, flows.RefPayloadLen)
		rand.Read(random)
		_, err := commit(ctx, newTip(string(flows.NewReference(random)), source))
		if err == storage.ErrReferenceTaken {
			return nil
		}
		return err
	}
	alone := parallel(b, 1500, func(i int) error { return commit(db.CommitTipAlone, fmt.Sprint(run, "a", i)) })
	// One writer alone, the two paths taking turns so that neither gains
	// from going second.
	var aloneLat, groupLat []time.Duration
	for i := range 200 {
		for _, p := range []struct {
			do  func(context.Context, storage.NewTip) (storage.CommittedTip, error)
			lat *[]time.Duration
			tag string
		}{{db.CommitTipAlone, &aloneLat, "al"}, {db.CommitTip, &groupLat, "gl"}} {
			start := time.Now()
			if err := commit(p.do, fmt.Sprint(run, p.tag, i)); err != nil {
				b.Fatal(err)
			}
			*p.lat = append(*p.lat, time.Since(start))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	rate := parallel(b, b.N, func(i int) error { return commit(db.CommitTip, fmt.Sprint(run, i)) })
	b.StopTimer()
	b.ReportMetric(rate, "commits/s")
	b.ReportMetric(bound, "inserts/s")
	b.ReportMetric(rate/bound, "ratio_to_bound")
	b.ReportMetric(alone/bound, "alone_ratio")
	b.ReportMetric(ms(median(groupLat)), "p50_1w_ms")
	b.ReportMetric(ms(median(aloneLat)), "alone_p50_1w_ms")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
