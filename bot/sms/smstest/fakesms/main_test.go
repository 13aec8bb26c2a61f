package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain lets a test run the command itself: the test binary, started
// with FAKESMS_MAIN=1, is fakesms.
func TestMain(m *testing.M) {
	if os.Getenv("FAKESMS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakesms runs the command with args and returns its exit code and output.
func fakesms(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "FAKESMS_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

// `fakesms -h` printed `unknown command "-h"` and exited 1: help prints the
// commands and where the flags go, and exits 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"serve", "-h"}, {"gateway", "-h"}} {
		code, stdout, stderr := fakesms(t, args...)
		if code != 0 || stderr != "" {
			t.Errorf("fakesms %v: exit %d, stderr %q; want 0 and the usage on stdout", args, code, stderr)
		}
		for _, want := range []string{"fakesms serve [flags]", "fakesms gateway [flags] TEXT", "fakesms twilio [flags] TEXT",
			"flags (after the command", "-tinbao", "-gateway", "-twilio", "-from", "-id", "-received"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("fakesms %v: the usage lacks %q:\n%s", args, want, stdout)
			}
		}
	}
	code, _, stderr := fakesms(t, "sreve")
	if code != 2 || !strings.Contains(stderr, `unknown command "sreve"`) || !strings.Contains(stderr, "fakesms serve [flags]") {
		t.Errorf("a mistyped command: exit %d, stderr %q; want 2, what was wrong and the usage", code, stderr)
	}
	if code, _, stderr := fakesms(t); code != 2 || !strings.Contains(stderr, "usage:") {
		t.Errorf("no command: exit %d, stderr %q; want 2 and the usage", code, stderr)
	}
}

// serve, for a tinbao on another port, prints the settings for it (HTTP_ADDR
// and PUBLIC_URL) and the flag the phone's commands need.
func TestServePrintsSettingsForAnotherPort(t *testing.T) {
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	cmd := exec.Command(os.Args[0], "serve", "-tinbao", "http://127.0.0.1:8090", "-gateway", free(), "-twilio", free())
	cmd.Env = append(os.Environ(), "FAKESMS_MAIN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	var printed []string
	deadline := time.After(10 * time.Second)
	for !strings.Contains(strings.Join(printed, "\n"), "BAO TIN") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve stopped:\n%s", strings.Join(printed, "\n"))
			}
			printed = append(printed, l)
		case <-deadline:
			t.Fatalf("serve printed, within 10s:\n%s", strings.Join(printed, "\n"))
		}
	}
	got := strings.Join(printed, "\n")
	for _, want := range []string{"HTTP_ADDR=127.0.0.1:8090 PUBLIC_URL=http://127.0.0.1:8090 make run",
		`fakesms gateway -tinbao http://127.0.0.1:8090 "GIUP"`, `fakesms twilio -tinbao http://127.0.0.1:8090 "BAO TIN"`} {
		if !strings.Contains(got, want) {
			t.Errorf("serve does not print %q:\n%s", want, got)
		}
	}
}

// To try what the gateway's retry does, an SMS can be sent again with its
// event ID and its receivedAt; the command prints both for that.
func TestGatewayRetry(t *testing.T) {
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
	}))
	defer srv.Close()
	code, stdout, stderr := fakesms(t, "gateway", "-tinbao", srv.URL, "-id", "ev-1", "-received", "2026-12-01T10:00:00+07:00", "STOP")
	if code != 0 || !strings.Contains(stdout, "again: -id ev-1 -received 2026-12-01T10:00:00.000+07:00") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var ev struct {
		ID      string `json:"id"`
		Payload struct {
			Message    string `json:"message"`
			ReceivedAt string `json:"receivedAt"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(<-bodies, &ev); err != nil || ev.ID != "ev-1" || ev.Payload.Message != "STOP" ||
		ev.Payload.ReceivedAt != "2026-12-01T10:00:00.000+07:00" {
		t.Errorf("posted %+v, %v", ev, err)
	}
	if code, _, stderr := fakesms(t, "gateway", "-tinbao", srv.URL, "-received", "hôm qua", "STOP"); code != 2 ||
		!strings.Contains(stderr, "-received") {
		t.Errorf("an unreadable -received: exit %d, stderr %q; want 2 and what is wrong", code, stderr)
	}
}
