// Package benchrun runs a benchmark's operations as tinbao's figures are
// measured (docs/performance.md): Clients at once, in a closed loop, and a
// bound and its system taking turns, so that each ratio compares the two on
// the machine as it was at the time.
package benchrun

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Clients is how many operations are in flight at once, in a bound and in
// its system alike.
const Clients = 16

// rounds is how many turns a bound and its system take in one run.
const rounds = 4

// Parallel runs n operations from Clients goroutines and returns operations
// per second. A goroutine whose operation fails reports it and stops.
func Parallel(b *testing.B, n int, do func(i int) error) float64 {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range Clients {
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

// Interleave runs boundN operations of the bound and n of the system in up
// to four rounds taking turns, and returns each one's rate over all its
// rounds. Measured one after the other, a drift in a shared machine's speed
// during the run (the network stack's, an fsync's) lands on one side of the
// ratio only; taking turns spreads it over both. A round is never smaller
// than Clients, which it would not run at once. The benchmark's timer runs
// for the system only.
func Interleave(b *testing.B, boundN, n int, bound, system func(i int) error) (boundRate, rate float64) {
	b.Helper()
	b.StopTimer()
	turns := max(1, min(rounds, n/Clients))
	var boundTime, systemTime time.Duration
	for r := range turns {
		from, to := boundN*r/turns, boundN*(r+1)/turns
		start := time.Now()
		Parallel(b, to-from, func(i int) error { return bound(from + i) })
		boundTime += time.Since(start)
		from, to = n*r/turns, n*(r+1)/turns
		b.StartTimer()
		start = time.Now()
		Parallel(b, to-from, func(i int) error { return system(from + i) })
		systemTime += time.Since(start)
		b.StopTimer()
	}
	return float64(boundN) / boundTime.Seconds(), float64(n) / systemTime.Seconds()
}
