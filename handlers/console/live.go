package console

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// hub fans Postgres notifications about reports (NOTIFY tips: a new report,
// a claim, a status change) out to every open queue page, over one
// connection for the whole console.
type hub struct {
	mu   sync.Mutex
	subs map[chan string]struct{}
	stop chan struct{} // closed when the console stops: open streams end
}

func (h *hub) subscribe() chan string {
	ch := make(chan string, 16)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[chan string]struct{}{}
	}
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch
}

func (h *hub) unsubscribe(ch chan string) {
	h.mu.Lock()
	delete(h.subs, ch)
	h.mu.Unlock()
}

func (h *hub) publish(payload string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- payload:
		default: // a slow page misses one nudge; the next refresh catches up
		}
	}
}

// Run listens for changes to reports until ctx ends, reconnecting after a
// failure; start it beside the console's listener.
func (c *Console) Run(ctx context.Context) {
	defer close(c.live.stop)
	for ctx.Err() == nil {
		err := c.db.Listen(ctx, "tips", c.live.publish)
		if ctx.Err() != nil {
			return
		}
		c.log.WarnContext(ctx, "console listener", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// events streams changes to the queue as Server-Sent Events: the page
// refreshes its table in place, and marks a new urgent report.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	// Signed in? (The same checks as every page, on a session read here.)
	cookie, err := r.Cookie(c.sm.Cookie.Name)
	if err != nil {
		http.Error(w, "sign in", http.StatusUnauthorized)
		return
	}
	sctx, err := c.sm.Load(r.Context(), cookie.Value)
	if err != nil {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	name := c.sm.GetString(sctx, "officer")
	o, err := c.db.OfficerByName(r.Context(), name)
	if name == "" || err != nil || o.Disabled || o.Generation != c.sm.GetInt(sctx, "gen") {
		http.Error(w, "sign in", http.StatusUnauthorized)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	ch := c.live.subscribe()
	defer c.live.unsubscribe(ch)
	fmt.Fprint(w, "retry: 5000\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	beat := time.NewTicker(25 * time.Second)
	defer beat.Stop()
	for {
		rc.SetWriteDeadline(time.Now().Add(time.Minute))
		select {
		case <-r.Context().Done():
			return
		case <-c.live.stop:
			return
		case <-beat.C:
			fmt.Fprint(w, ": still here\n\n")
		case p := <-ch:
			kind := "change"
			if p == "alarm" { // someone called for help and has not sent yet
				kind = "alarm"
			} else if strings.HasSuffix(p, " new urgent") {
				kind = "urgent"
			} else if strings.Contains(p, " new ") {
				kind = "new"
			}
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", kind, strings.Fields(p)[0])
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
