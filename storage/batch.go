package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shared round trips. A message costs Redis little work but two round
// trips, and under load most of a round trip's cost is system calls, on
// both sides, per request: measured on the intake step, Redis spent about
// 100 µs of CPU per message, most of it reading and writing its sockets.
// Messages handled at the same moment therefore share round trips, as
// reports share a commit (commit.go): the first message to arrive sends its
// pipeline at once together with every pipeline already waiting, and
// pipelines that arrive meanwhile wait for the next one. Nothing waits to
// gather, so one message alone sees no added latency.
//
// Each message's commands stay its own: its scripts run exactly as they
// would alone (Redis runs one command at a time either way), its error is
// the first of its own commands' errors, and a script Redis has forgotten
// is sent again only where it did not run (pipelineScripts).

// Shared round trip sizes.
const (
	// maxShared bounds one shared pipeline.
	maxShared = 64
	// sharedInFlight round trips may be under way at once: while one waits
	// for Redis's answer, the next one is built and sent.
	sharedInFlight = 2
	// sharedTimeout bounds one shared round trip. It runs on its own
	// context, never a caller's: a caller who gives up must not fail the
	// others' commands.
	sharedTimeout = 10 * time.Second
)

// pipelines shares round trips between the messages of one Sessions. It
// keeps no goroutine of its own: whoever waits leads the next round trip.
type pipelines struct {
	rdb     redis.UniversalClient
	mu      sync.Mutex
	waiting []*pipelineRequest
	flying  int // round trips under way or about to be
}

// pipelineRequest is one message's pipeline, waiting to be sent.
type pipelineRequest struct {
	ctx  context.Context
	fill func(redis.Pipeliner, scriptFunc)
	done chan error    // its own result
	lead chan struct{} // its caller is to send the next round trip
}

// do sends fill's commands, in a round trip shared with whatever other
// messages are waiting, and returns the first error among its own commands
// (redis.Nil included, as Pipelined gives it). Results are in the commands
// fill made. A caller who gives up while its commands still wait gets
// ctx's error and nothing is sent; once they are on their way, it waits for
// the answer, since a lock may already be taken in its name.
func (ps *pipelines) do(ctx context.Context, fill func(redis.Pipeliner, scriptFunc)) error {
	r := &pipelineRequest{ctx: ctx, fill: fill, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	ps.mu.Lock()
	ps.waiting = append(ps.waiting, r)
	if ps.flying < sharedInFlight {
		ps.flying++
		r.lead <- struct{}{}
	}
	ps.mu.Unlock()
	giveUp := ctx.Done()
	for {
		select {
		case err := <-r.done:
			// Answered by another's round trip while asked to lead:
			// the lead goes on, never lost.
			ps.passLead(r)
			return err
		case <-r.lead:
			ps.send()
		case <-giveUp:
			giveUp = nil
			ps.mu.Lock()
			i := slices.Index(ps.waiting, r)
			if i >= 0 {
				ps.waiting = slices.Delete(ps.waiting, i, i+1)
			}
			ps.mu.Unlock()
			if i >= 0 { // out of the queue: no lead can reach it any more
				ps.passLead(r)
				return fmt.Errorf("redis: %w", ctx.Err())
			}
		}
	}
}

// send takes what is waiting (up to maxShared), sends it as one round trip,
// answers each, and hands the lead to the first message still waiting.
func (ps *pipelines) send() {
	ps.mu.Lock()
	n := min(len(ps.waiting), maxShared)
	group := ps.waiting[:n:n]
	ps.waiting = ps.waiting[n:]
	ps.mu.Unlock()
	defer func() {
		// A panic (in a fill, a hook) must not leave the others of the
		// round trip waiting for ever, nor its lead lost.
		if p := recover(); p != nil {
			for _, r := range group {
				select {
				case r.done <- errors.New("redis: round trip failed"):
				default: // answered already
				}
			}
			ps.handOff()
			panic(p)
		}
	}()

	live := group[:0:0]
	for _, r := range group {
		// A caller who gave up before its commands went has nothing
		// done in its name.
		if err := r.ctx.Err(); err != nil {
			r.done <- fmt.Errorf("redis: %w", err)
			continue
		}
		live = append(live, r)
	}
	if len(live) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		spans := make([][2]int, len(live))
		cmds, err := pipelineScripts(ctx, ps.rdb, func(p redis.Pipeliner, eval scriptFunc) {
			for i, r := range live {
				spans[i][0] = p.Len()
				r.fill(p, eval)
				spans[i][1] = p.Len()
			}
		})
		cancel()
		for i, r := range live {
			r.done <- firstErr(cmds, spans[i], err)
		}
	}

	ps.handOff()
}

// passLead hands on a lead r was given but will not use.
func (ps *pipelines) passLead(r *pipelineRequest) {
	select {
	case <-r.lead:
		ps.handOff()
	default:
	}
}

// handOff passes a finished round trip's lead to the first waiting message
// not already asked to lead, or ends it.
func (ps *pipelines) handOff() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, r := range ps.waiting {
		select {
		case r.lead <- struct{}{}:
			return
		default: // already asked: it leads a round trip of its own
		}
	}
	ps.flying--
}

// firstErr is the first error among the commands of one message, or the
// round trip's error when its commands never came back.
func firstErr(cmds []redis.Cmder, span [2]int, err error) error {
	if span[1] > len(cmds) {
		return err
	}
	for _, c := range cmds[span[0]:span[1]] {
		if c.Err() != nil {
			return c.Err()
		}
	}
	return nil
}
