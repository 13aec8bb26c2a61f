package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tinbao/bot/telegram/telegramtest"
)

// TestFaultDrills kills, stops and starves the real binary under load and
// then checks, in Postgres and at the fake providers, that no report was
// lost, doubled or left unacknowledged (README "Fault drills"). Two replicas
// share one Postgres and one Redis throughout. The short version runs in
// make test; FAULTS=full (make faults) runs every drill for longer and prints
// the table the README shows.
func TestFaultDrills(t *testing.T) {
	full := os.Getenv("FAULTS") == "full"
	if !full {
		if testing.Short() {
			t.Skip("fault drills: not with -short")
		}
		if os.Getenv("TEST_DATABASE_URL") == "" {
			if os.Getenv("CI") != "" {
				t.Fatal("fault drills: TEST_DATABASE_URL is not set (run through make test)")
			}
			t.Skip("fault drills: run through make test, or FAULTS=full (make faults)")
		}
	}
	h := newHarness(t, full)
	drills := []drill{drillKill9, drillRedis, drillPostgres}
	if full {
		drills = []drill{drillSteady, drillKill9, drillPostgres, drillRedis, drillSIGTERM, drillProviders}
	}
	var rows []drillRow
	for _, d := range drills {
		if only := os.Getenv("FAULTS_ONLY"); only != "" && !strings.Contains(d.name, only) {
			continue // FAULTS_ONLY=Redis: one drill, while working on it
		}
		row := h.run(d)
		rows = append(rows, row)
		t.Logf("%s: %s", row.name, row.summary())
		if !row.ok() {
			t.Errorf("drill %s: %s", row.name, strings.Join(row.problems, "; "))
		}
	}
	table := formatTable(rows, h.cfg)
	fmt.Print(table)
	if out := os.Getenv("FAULTS_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.Logf("request log and replica logs are in %s (kept)", h.dir)
		h.keep = true
	}
}

// drillConfig sets the load and the lengths of a run.
type drillConfig struct {
	people int           // concurrent people writing
	load   time.Duration // how long each drill's load lasts
	outage time.Duration // how long Postgres or Redis is down
	settle time.Duration // how long acknowledgements may take after the load
}

func configFor(full bool) drillConfig {
	if full {
		return drillConfig{people: 12, load: 30 * time.Second, outage: 10 * time.Second, settle: 90 * time.Second}
	}
	return drillConfig{people: 4, load: 5 * time.Second, outage: 3 * time.Second, settle: 30 * time.Second}
}

// A drill is a fault injected while the load runs: fault starts at a third
// of the load and returns once the fault is over (or hands back what it
// measured, such as a drain time).
type drill struct {
	name  string
	fault func(h *harness, r *drillRow)
}

var drillSteady = drill{name: "steady (no fault)", fault: func(h *harness, r *drillRow) {}}

// kill -9 of one replica under load, then a restart: what it committed
// stays, what it leased is sent by the other replica or after the restart.
var drillKill9 = drill{name: "kill -9 + restart", fault: func(h *harness, r *drillRow) {
	rep := h.reps[0]
	r.cutAllowed = true // requests in flight on the killed replica get no answer
	rep.kill()
	time.Sleep(time.Second)
	h.start(rep)
}}

// Postgres stopped (pg_ctl -m fast) for the outage, then started on the same
// port: webhooks answer 503 fast, and Telegram's retries land after recovery.
var drillPostgres = drill{name: "Postgres stopped", fault: func(h *harness, r *drillRow) {
	h.services("pg-stop")
	time.Sleep(h.cfg.outage)
	h.services("up")
}}

// Redis killed (SIGKILL, append-only file kept) for the outage, then
// restarted on the same port and directory.
var drillRedis = drill{name: "Redis killed", fault: func(h *harness, r *drillRow) {
	b, err := os.ReadFile(filepath.Join(h.dir, "redis.pid"))
	if err != nil {
		r.problem("no redis.pid: %v", err)
		return
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		r.problem("kill redis %d: %v", pid, err)
	}
	time.Sleep(h.cfg.outage)
	h.services("up")
}}

// SIGTERM under load: requests in flight are answered, the listener closes,
// and the process exits within 10 s; it is then started again.
var drillSIGTERM = drill{name: "SIGTERM + restart", fault: func(h *harness, r *drillRow) {
	rep := h.reps[1]
	r.drain = rep.terminate()
	if r.drain > 10*time.Second {
		r.problem("drain took %s, want ≤ 10s", r.drain.Round(time.Millisecond))
	}
	if rep.exitErr != nil {
		r.problem("exit after SIGTERM: %v", rep.exitErr)
	}
	h.start(rep)
}}

// Provider faults: a 429 storm (retry_after 1) then 500s from the fake Bot
// API, 429s and 500s from the fake Twilio; the checker then fires Twilio's
// receipts out of order and twice.
var drillProviders = drill{name: "provider 429/5xx, receipts shuffled", fault: func(h *harness, r *drillRow) {
	storm := h.cfg.outage / 2
	h.tg.FailFor("sendMessage", storm, telegramtest.TooManyRequests(1))
	h.tw.FailNext(20, http.StatusTooManyRequests, 20429)
	time.Sleep(storm)
	h.tg.FailFor("sendMessage", storm, telegramtest.Error{Code: http.StatusInternalServerError, Description: "Internal Server Error"})
	h.tw.FailNext(20, http.StatusInternalServerError, 20500)
	time.Sleep(storm)
	r.receipts = true
}}

// run runs one drill: baseline figures, load with the fault in it, time for
// the outbox to drain, then the checks and the figures after.
func (h *harness) run(d drill) drillRow {
	r := drillRow{name: d.name, before: h.figures()}
	first := h.nextConv.Load()
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.load)
	done := make(chan *loadStats, 1)
	go func() { done <- h.load(ctx) }()
	time.Sleep(h.cfg.load / 3)
	d.fault(h, &r)
	<-ctx.Done()
	cancel()
	r.load = <-done
	convs := h.convsSince(first)
	if r.receipts {
		h.settle(convs)
		h.fireReceipts(&r, convs)
	}
	h.check(&r, convs)
	h.client.CloseIdleConnections()
	// Back to the baseline within 5 s (the plan's bound), read every
	// 250 ms from 2 s on: idle connections close and handlers finish in
	// their own time, and one instant's reading once caught a replica
	// 2 goroutines over while it was still closing connections.
	time.Sleep(2 * time.Second)
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		r.after = h.figures()
		if len(r.figureProblems()) == 0 || time.Now().After(deadline) {
			break
		}
	}
	r.compareFigures()
	return r
}

// services runs scripts/services.sh on the drill's own directory.
func (h *harness) services(cmd string) {
	h.t.Helper()
	c := exec.Command("bash", filepath.Join(h.root, "scripts/services.sh"), cmd, h.dir)
	if out, err := c.CombinedOutput(); err != nil {
		h.t.Fatalf("services.sh %s: %v\n%s", cmd, err, out)
	}
}

// compareStatusRanks is the SQL for "no status went backwards": a receipt
// recorded with a higher rank than the row's status means a receipt was lost
// or undone.
const sqlReceiptAhead = `SELECT count(*) FROM outbox o JOIN delivery_receipts r ON r.provider_message_id = o.provider_message_id
WHERE r.status IN ('queued', 'sending', 'sent', 'delivered') AND outbox_status_rank(r.status) > outbox_status_rank(o.status)`

// fireReceipts sends, for every SMS of the drill's conversations, Twilio's
// status callbacks shuffled and repeated: the row must end delivered.
func (h *harness) fireReceipts(r *drillRow, convs []*conv) {
	phones := map[string]bool{}
	for _, c := range convs {
		if c.phone != "" {
			phones[c.phone] = true
		}
	}
	for _, m := range h.tw.Messages() {
		if !phones[m.To] {
			continue
		}
		for _, st := range []string{"delivered", "sent", "delivered", "queued", "sent"} {
			resp, err := h.tw.Callback(m, st, "")
			if err != nil {
				r.problem("receipt %s: %v", st, err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				r.problem("receipt %s: HTTP %d", st, resp.StatusCode)
			}
			r.receiptsSent++
		}
	}
}
