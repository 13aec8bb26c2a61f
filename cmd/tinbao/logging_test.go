package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tinbao/bot"
)

// logLines decodes JSON log lines.
func logLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		out = append(out, m)
	}
	return out
}

type secretThing struct{ phone string }

func (s secretThing) LogValue() slog.Value {
	return slog.GroupValue(slog.String("phone", s.phone), slog.String("channel", "sms"))
}

func TestLogAllowList(t *testing.T) {
	var b bytes.Buffer
	log := newLogger(&b, slog.LevelDebug)
	log.Debug("one", "request_id", "r1", "text", "em tôi bị giữ ở Bavet", "chat_id", 987654321,
		slog.Group("message", "channel", "telegram", "first_name", "Bí Mật"),
		slog.Group("who", "sender", "p1"),
		"thing", secretThing{"+84900000001"}, "status", 200, "after", 3*time.Second, "urgent", true,
		"channel", struct{ X string }{"struct under a plain key"})
	log.With("config", secretThing{"0900000001"}).Info("two")
	lines := logLines(t, &b)
	one := lines[0]
	for k, want := range map[string]any{"request_id": "r1", "text": droppedValue, "chat_id": droppedValue,
		"who": droppedValue, "thing": droppedValue, "status": float64(200), "after": float64(3 * time.Second), "urgent": true,
		"channel": droppedValue} {
		if fmt.Sprint(one[k]) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", k, one[k], want)
		}
	}
	if m := one["message"].(map[string]any); m["channel"] != "telegram" || m["first_name"] != droppedValue {
		t.Errorf("message group = %v", m)
	}
	if c := lines[1]["config"].(map[string]any); c["phone"] != droppedValue || c["channel"] != "sms" {
		t.Errorf("a LogValuer under an allowed group: %v", c)
	}
	for _, leak := range []string{"Bavet", "987654321", "Bí Mật", "900000001", "struct under"} {
		if strings.Contains(b.String(), leak) {
			t.Errorf("log holds %q:\n%s", leak, b.String())
		}
	}
}

// The rule of #10: a code and a sender's pseudonym never share a line, in
// whatever order or way they arrive.
func TestLogNeverPairsReferenceAndSender(t *testing.T) {
	var b bytes.Buffer
	log := newLogger(&b, slog.LevelDebug)
	m := bot.Message{Channel: "sms", Sender: "pseudo-1", MessageID: "m1", Text: "secret words"}
	log.Info("a", "message", m, "reference", "TB-7K3M-Q9XJ")
	log.Info("b", "reference", "TB-7K3M-Q9XJ", "sender", "pseudo-1")
	log.With("sender", "pseudo-1").Info("c", "reference", "TB-7K3M-Q9XJ")
	log.With("reference", "TB-7K3M-Q9XJ").Info("d", "message", m)
	log.Info("e", "sender", "pseudo-1", "err", errors.New("tip TB-7K3M-Q9XJ: tb7k3mq9xj not found"))
	log.Info("f", "reference", "TB-7K3M-Q9XJ") // alone: kept
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if strings.Contains(line, "pseudo-1") && strings.Contains(strings.ToUpper(line), "7K3M") {
			t.Errorf("a line ties the code to the sender: %s", line)
		}
		if strings.Contains(line, "secret words") {
			t.Errorf("message text logged: %s", line)
		}
	}
	if !strings.Contains(b.String(), `"msg":"f","reference":"TB-7K3M-Q9XJ"`) {
		t.Errorf("a code alone was dropped:\n%s", b.String())
	}
}

func TestLogScrubsErrors(t *testing.T) {
	const token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	var b bytes.Buffer
	log := newLogger(&b, slog.LevelDebug, "hunter2-redis-pass", "sk_live_signing_key")
	errs := []error{
		errors.New(`twilio: status 400: {"code":21211,"message":"The 'To' number +84 900 000 001 is not a valid phone number."}`),
		errors.New("chat 0900.000.002 / 84-900-000-003 / (090) 0000004 blocked"),
		fmt.Errorf(`Post "https://api.telegram.org/bot%s/sendMessage": dial tcp 149.154.167.220:443: i/o timeout`, token),
		errors.New("dial redis://user:hunter2-redis-pass@10.0.0.5:6379/0 failed; AUTH hunter2-redis-pass"),
		errors.New("gateway said: sk_live_signing_key rejected for nguyen.van.a@example.com from [2001:db8::1]:443"),
		errors.New("bad \xff byte " + strings.Repeat("x", 2*maxFree)),
	}
	for _, err := range errs {
		log.Warn("send", "err", err, "reason", err.Error())
	}
	out := b.String()
	for _, leak := range []string{"900 000 001", "0900.000.002", "84-900-000-003", "0000004", token, "AAHdqTcv", "149.154.167.220",
		"hunter2", "sk_live", "nguyen.van.a", "2001:db8", "10.0.0.5", "\xff"} {
		if strings.Contains(out, leak) {
			t.Errorf("log holds %q:\n%s", leak, out)
		}
	}
	for _, kept := range []string{"is not a valid phone number", "21211", "i/o timeout", ":443", "rejected for"} {
		if !strings.Contains(out, kept) {
			t.Errorf("scrubbing lost %q, which helps and names no one:\n%s", kept, out)
		}
	}
	for _, l := range logLines(t, &b) {
		if n := len(l["err"].(string)); n > maxFree+len("…") {
			t.Errorf("err of %d bytes, want at most %d", n, maxFree)
		}
	}
}

// FuzzQuietIsQuiet: text that quiet lets skip the patterns is text none
// of them would have changed, so the shortcut scrubs exactly what the
// patterns scrub.
func FuzzQuietIsQuiet(f *testing.F) {
	for _, s := range []string{"http request", "/webhooks/telegram", "tb-abcd-efgh", "TBabcdEFGH", "a@b.co", "[::1]:80",
		"call +84 900 000 001", "x://u:p@h/", "KTBſ", "tB k\u212a", "telegram update failed"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if quiet(v) && scrubPatterns(v) != v {
			t.Fatalf("quiet(%q), but the patterns make it %q", v, scrubPatterns(v))
		}
	})
}

// go-redis's own lines reach the JSON log at warn level as one message,
// without REDIS_URL's password, whatever the line quotes.
func TestRedisLogLinesJoinTheLogWithoutThePassword(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: dials fail and go-redis says so
	const password = "s3cret-Redis-pw"
	redisURL := "redis://tinbao:" + password + "@" + addr + "/0"
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"REDIS_URL": redisURL, "LOG_LEVEL": "debug"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	var b syncBuffer
	log := newLogger(&b, cfg.LogLevel, cfg.secrets()...)
	redis.SetLogger(redisLogger{log})
	defer redis.SetLogger(redisLogger{slog.New(slog.DiscardHandler)})

	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	opts.DialTimeout, opts.MaxRetries = 200*time.Millisecond, 0
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	rdb.Ping(context.Background())
	// And a line that quotes the URL itself, as a future go-redis might.
	redisLogger{log}.Printf(context.Background(), "redis: cannot reach %s (%v)", redisURL, opts)

	out := b.String()
	t.Logf("log:\n%s", out)
	if strings.Contains(out, password) {
		t.Fatalf("the Redis password is in the log:\n%s", out)
	}
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		lines = append(lines, m)
	}
	if len(lines) < 2 {
		t.Fatalf("go-redis logged nothing about a failed dial:\n%s", out)
	}
	for _, m := range lines {
		if m["level"] != "WARN" || m["component"] != "redis" || !strings.HasPrefix(m["msg"].(string), "redis: ") {
			t.Errorf("line = %v, want a warning from redis with its text as msg", m)
		}
	}
}
