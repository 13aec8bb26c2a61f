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
	bound, rate := interleave(b, 3000, b.N, insert, func(i int) error { return commit(db.CommitTip, fmt.Sprint(run, i)) })
	b.ReportMetric(rate, "commits/s")
	b.ReportMetric(bound, "inserts/s")
	b.ReportMetric(rate/bound, "ratio_to_bound")
	b.ReportMetric(alone/bound, "alone_ratio")
	b.ReportMetric(ms(median(groupLat)), "p50_1w_ms")
	b.ReportMetric(ms(median(aloneLat)), "alone_p50_1w_ms")
}

// interleave runs boundN operations of the bound and n of the system in 4
// rounds taking turns, and returns each one's rate over all its rounds: a
// drift in a shared machine's speed during the run (an fsync's cost moves
// a lot on a virtual disk) then falls on both sides of the ratio, not one.
// The benchmark's timer runs for the system only.
func interleave(b *testing.B, boundN, n int, bound, system func(i int) error) (boundRate, rate float64) {
	b.Helper()
	b.StopTimer()
	// A round of fewer than 16 would not run 16 at once.
	rounds := max(1, min(4, n/16))
	var boundTime, systemTime time.Duration
	for r := range rounds {
		from, to := boundN*r/rounds, boundN*(r+1)/rounds
		start := time.Now()
		parallel(b, to-from, func(i int) error { return bound(from + i) })
		boundTime += time.Since(start)
		from, to = n*r/rounds, n*(r+1)/rounds
		b.StartTimer()
		start = time.Now()
		parallel(b, to-from, func(i int) error { return system(from + i) })
		systemTime += time.Since(start)
		b.StopTimer()
	}
	return float64(boundN) / boundTime.Seconds(), float64(n) / systemTime.Seconds()
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
		at16, pings16 := parallel(b, 4*n, step), parallel(b, 4*n, ping)
		b.ReportMetric(float64(alone.Microseconds()), "µs_alone")
		b.ReportMetric(float64(alone)/float64(pingAlone), "pings_alone")
		b.ReportMetric(at16, "steps/s_16")
		b.ReportMetric(at16/pings16, "ratio_to_pings_16")
	}
}
