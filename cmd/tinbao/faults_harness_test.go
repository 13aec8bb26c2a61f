package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tinbao/bot/sms/smstest"
	"tinbao/bot/telegram/telegramtest"
	"tinbao/storage"
)

const (
	drillWebhookSecret = "drill-webhook_secret"
	drillTwilioSID     = "ACdrill"
	drillTwilioToken   = "drilltoken0123456789abcdef"
	drillTwilioNumber  = "+15005550006"
)

// harness is one fault-drill run: its own Postgres and Redis (so that they
// can be stopped), the binary as built from this tree, two replicas, the
// fake providers in this process, and every conversation the load made.
type harness struct {
	t    *testing.T
	cfg  drillConfig
	root string // the repository
	dir  string // services, binary, logs
	keep bool
	bin  string
	env  map[string]string // DATABASE_URL, REDIS_URL

	tg   *telegramtest.Server
	tw   *smstest.Twilio
	reps []*replica
	db   *storage.DB

	client   *http.Client
	reqLog   *requestLog
	nextConv atomic.Int64
	nextID   atomic.Int64 // update_id and MessageSid numbers
	mu       sync.Mutex
	convs    []*conv
}

func newHarness(t *testing.T, full bool) *harness {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "tinbao-faults.")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cfg: configFor(full), root: root, dir: dir, env: map[string]string{},
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	h.nextID.Store(1_000_000)
	t.Cleanup(func() {
		for _, rep := range h.reps {
			rep.kill()
		}
		exec.Command("bash", filepath.Join(root, "scripts/services.sh"), "down", dir).Run()
		if !h.keep {
			os.RemoveAll(dir)
		}
	})
	h.services("up")
	h.readEnv()
	h.build()
	h.fakes()
	h.migrate()
	reqLog, err := newRequestLog(filepath.Join(dir, "requests.log"))
	if err != nil {
		t.Fatal(err)
	}
	h.reqLog = reqLog
	t.Cleanup(reqLog.close)
	addrs := []string{freeAddr(t), freeAddr(t)}
	for i, a := range addrs {
		rep := &replica{name: fmt.Sprintf("r%d", i+1), addr: a, console: freeAddr(t),
			logPath: filepath.Join(dir, fmt.Sprintf("replica%d.log", i+1)), env: h.replicaEnv("http://" + addrs[0])}
		h.reps = append(h.reps, rep)
		h.start(rep)
	}
	h.db, _ = openKeyedDB(t, h.env["DATABASE_URL"])
	h.warmUp()
	return h
}

// warmUp runs the load for a moment before any drill, so that the figures a
// drill starts from include the pools (Postgres, Redis, HTTP) grown to size.
func (h *harness) warmUp() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h.load(ctx)
	h.client.CloseIdleConnections()
	time.Sleep(time.Second)
}

func (h *harness) readEnv() {
	b, err := os.ReadFile(filepath.Join(h.dir, "env"))
	if err != nil {
		h.t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			h.env[k] = v
		}
	}
}

// build compiles the binary from this tree, with the race detector when the
// tests run under it (the drills then find races in the service as well).
func (h *harness) build() {
	h.bin = filepath.Join(h.dir, "tinbao")
	args := []string{"build", "-o", h.bin}
	if raceDetector {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/tinbao")...)
	cmd.Dir = h.root
	if out, err := cmd.CombinedOutput(); err != nil {
		h.t.Fatalf("go build: %v\n%s", err, out)
	}
}

// fakes serves the fake Bot API and the fake Twilio on loopback ports.
func (h *harness) fakes() {
	h.tg = telegramtest.NewServer(h.t)
	h.tw = smstest.NewTwilio(drillTwilioSID, drillTwilioToken)
	h.t.Cleanup(h.tw.Close)
}

func (h *harness) migrate() {
	cmd := exec.Command(h.bin, "migrate")
	cmd.Env = envList(h.replicaEnv("http://127.0.0.1:1"))
	if out, err := cmd.CombinedOutput(); err != nil {
		h.t.Fatalf("tinbao migrate: %v\n%s", err, out)
	}
}

// replicaEnv is the configuration both replicas share; PUBLIC_URL is the
// first one's (Twilio signs for it, and sends its receipts there).
func (h *harness) replicaEnv(publicURL string) map[string]string {
	return map[string]string{
		"DATABASE_URL":            h.env["DATABASE_URL"],
		"REDIS_URL":               h.env["REDIS_URL"],
		"TINBAO_SECRET":           testSecret,
		"PUBLIC_URL":              publicURL,
		"TELEGRAM_BOT_TOKEN":      telegramtest.Token,
		"TELEGRAM_API_URL":        h.tg.URL,
		"TELEGRAM_WEBHOOK_SECRET": drillWebhookSecret,
		"TWILIO_ACCOUNT_SID":      drillTwilioSID,
		"TWILIO_AUTH_TOKEN":       drillTwilioToken,
		"TWILIO_FROM":             drillTwilioNumber,
		"TWILIO_API_URL":          h.tw.URL,
		"JOIN_WINDOW":             "200ms",
		"STAFFED_HOURS":           "24h",
		"PURGE_EVERY":             "0",
		"LOG_LEVEL":               "info",
		"PATH":                    os.Getenv("PATH"),
	}
}

func envList(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// replica is one service process.
type replica struct {
	name, addr, console, logPath string
	env                          map[string]string
	cmd                          *exec.Cmd
	done                         chan struct{}
	exitErr                      error
}

func (r *replica) url() string { return "http://" + r.addr }

// start starts a replica (again) and waits until it answers /healthz.
func (h *harness) start(r *replica) {
	h.t.Helper()
	logf, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		h.t.Fatal(err)
	}
	started := listening(r.logPath)
	env := map[string]string{"HTTP_ADDR": r.addr, "CONSOLE_ADDR": r.console}
	for k, v := range r.env {
		env[k] = v
	}
	r.cmd = exec.Command(h.bin, "serve")
	r.cmd.Env = envList(env)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		h.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		r.exitErr = cmd.Wait()
		logf.Close()
		close(done)
	}(r.cmd, r.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Its own "listening" line, not only an answer on its port: another
		// process that took the port would answer too.
		resp, err := http.Get(r.url() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if listening(r.logPath) > started {
				return
			}
		}
		select {
		case <-r.done:
			h.t.Fatalf("replica %s exited at start: %v (log %s)", r.name, r.exitErr, r.logPath)
		default:
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("replica %s did not come up: %v", r.name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listening counts the times a replica's log says it is listening.
func listening(logPath string) int {
	b, _ := os.ReadFile(logPath)
	return bytes.Count(b, []byte(`"msg":"listening"`))
}

// kill is kill -9, and waits for the process to be gone.
func (r *replica) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.done:
		return
	default:
	}
	r.cmd.Process.Kill()
	<-r.done
}

// terminate sends SIGTERM and returns how long the process took to exit.
func (r *replica) terminate() time.Duration {
	start := time.Now()
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		r.kill()
	}
	return time.Since(start)
}

func (r *replica) alive() bool {
	select {
	case <-r.done:
		return false
	default:
		return r.cmd != nil
	}
}

// figures is, per replica, its goroutines (from /metrics) and open files
// (from /proc).
type figures map[string][2]int

func (h *harness) figures() figures {
	f := figures{}
	for _, r := range h.reps {
		if !r.alive() {
			continue
		}
		g := -1
		if resp, err := http.Get("http://" + r.console + "/metrics"); err == nil {
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
					g, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
			resp.Body.Close()
		}
		fds := -1
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", r.cmd.Process.Pid)); err == nil {
			fds = len(ents)
		}
		f[r.name] = [2]int{g, fds}
	}
	return f
}

// requestLog writes one line per request and answer.
type requestLog struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

func newRequestLog(path string) (*requestLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &requestLog{f: f, w: bufio.NewWriter(f)}, nil
}

func (l *requestLog) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
}

func (l *requestLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Flush()
	l.f.Close()
}

// isRefused tells a connection refused (nothing listening: nothing was
// accepted) from an answer lost in flight.
func isRefused(err error) bool {
	var op *net.OpError
	for e := err; e != nil; {
		if o, ok := e.(*net.OpError); ok {
			op = o
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return op != nil && op.Op == "dial"
}
