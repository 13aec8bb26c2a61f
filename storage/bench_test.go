package storage_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"tinbao/bench/benchrun"
	"tinbao/flows"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

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
	insert := func(i int) error {
		_, err := db.Pool().Exec(ctx, `INSERT INTO bound (ref, channel, payload) VALUES ($1, 'telegram', $2)`,
			fmt.Sprint(run, i), payload)
		return err
	}
	commit := func(commit func(context.Context, storage.NewTip) (storage.CommittedTip, error), source string) error {
		random := make([]byte, flows.RefPayloadLen)
		rand.Read(random)
		_, err := commit(ctx, newTip(string(flows.NewReference(random)), source))
		if err == storage.ErrReferenceTaken {
			return nil
		}
		return err
	}
	alone := benchrun.Parallel(b, 1500, func(i int) error { return commit(db.CommitTipAlone, fmt.Sprint(run, "a", i)) })
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
	bound, rate := benchrun.Interleave(b, 3000, b.N, insert, func(i int) error { return commit(db.CommitTip, fmt.Sprint(run, i)) })
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

// BenchmarkSessionStep is one message's Redis work (Begin, then Finish with
// a session), one sender at a time and then 16 senders at once, as ratios
// to bounds measured in the same run: a PING round trip alone, and PINGs
// from 16 clients at once. Alone it shows what sharing round trips
// (batch.go) costs a message with no company (target: nothing, ratio about
// 2, for two round trips); at 16 it shows what sharing gains.
func BenchmarkSessionStep(b *testing.B) {
	ctx := context.Background()
	rdb, prefix := storagetest.Redis(b)
	s := storage.NewSessions(rdb, prefix, 30*time.Minute)
	sess := flows.Session{Flow: "report", Step: "where", Lang: "vi", Answers: map[string]string{"what": "có người rủ đi Campuchia"}}
	var msg atomic.Int64
	step := func(i int) error {
		who, id := fmt.Sprint("u", i%5000), fmt.Sprint(msg.Add(1))
		if _, err := s.Begin(ctx, "telegram", id, who, id); err != nil {
			return err
		}
		_, err := s.Finish(ctx, "telegram", id, who, id, sess, false, 0)
		return err
	}
	step(-1) // Redis learns the scripts
	const n = 5000
	timeOne := func(do func(int) error) time.Duration {
		start := time.Now()
		for i := range n {
			if err := do(i); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / n
	}
	ping := func(int) error { return rdb.Ping(ctx).Err() }
	for b.Loop() {
		alone, pingAlone := timeOne(step), timeOne(ping)
		at16, pings16 := benchrun.Parallel(b, 4*n, step), benchrun.Parallel(b, 4*n, ping)
		b.ReportMetric(float64(alone.Microseconds()), "µs_alone")
		b.ReportMetric(float64(alone)/float64(pingAlone), "pings_alone")
		b.ReportMetric(at16, "steps/s_16")
		b.ReportMetric(at16/pings16, "ratio_to_pings_16")
	}
}
