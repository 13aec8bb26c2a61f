package storage_test

import (
	"context"
	"crypto/rand"
	"fmt"
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
// Target ≥ 0.60 (one round trip), floor 0.15.
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
	b.ReportAllocs()
	b.ResetTimer()
	rate := parallel(b, b.N, func(i int) error {
		random := make([]byte, flows.RefPayloadLen)
		rand.Read(random)
		n := newTip(string(flows.NewReference(random)), fmt.Sprint(run, i))
		_, err := db.CommitTip(ctx, n)
		if err == storage.ErrReferenceTaken {
			return nil
		}
		return err
	})
	b.StopTimer()
	b.ReportMetric(rate, "commits/s")
	b.ReportMetric(bound, "inserts/s")
	b.ReportMetric(rate/bound, "ratio_to_bound")
}
