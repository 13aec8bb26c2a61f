package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeRun runs scripts/run.sh (what `make run` runs) in a scratch copy of
// the repository's layout, with services.sh, go and bin/tinbao standing in
// for the real ones: it returns what the script printed and the PUBLIC_URL
// tinbao serve was started with. Nothing starts, nothing touches .dev.
func makeRun(t *testing.T, env map[string]string) (banner, publicURL string) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script, err := os.ReadFile("../../scripts/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{
		"scripts/run.sh": string(script),
		// services.sh up DIR writes DIR/env, as the real one does.
		"scripts/services.sh": "[ \"$1\" = up ] && mkdir -p \"$2\" && printf 'DATABASE_URL=postgres://x\\nREDIS_URL=redis://x\\n' >\"$2/env\"\nexit 0\n",
		// go build -o bin/tinbao: a tinbao whose serve says what it was given.
		"fakebin/go": "#!/bin/sh\nmkdir -p bin && cat >bin/tinbao <<'EOF'\n#!/bin/sh\n" +
			"case $1 in serve) echo \"serve PUBLIC_URL=$PUBLIC_URL\" ;; officer) echo 'password: x' ;; esac\nEOF\nchmod +x bin/tinbao\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bash, filepath.Join(dir, "scripts/run.sh"))
	cmd.Env = []string{"PATH=" + filepath.Join(dir, "fakebin") + ":" + os.Getenv("PATH"), "HOME=" + dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run.sh: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "serve PUBLIC_URL="); ok {
			return string(out), v
		}
	}
	t.Fatalf("tinbao serve was not started:\n%s", out)
	return "", ""
}

// `make run` with HTTP_ADDR set: PUBLIC_URL stayed http://127.0.0.1:8080,
// so the web chat linked its privacy notice to a port nobody listened on.
// Unset, it follows HTTP_ADDR now; set, it is kept. The banner says whether
// SMS is on, and which settings turn it on.
func TestMakeRunPublicURLAndSMS(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "http://127.0.0.1:8080"},
		{map[string]string{"HTTP_ADDR": "127.0.0.1:8090"}, "http://127.0.0.1:8090"},
		{map[string]string{"HTTP_ADDR": ":8091"}, "http://127.0.0.1:8091"},
		{map[string]string{"HTTP_ADDR": "0.0.0.0:8092"}, "http://127.0.0.1:8092"},
		{map[string]string{"HTTP_ADDR": ":8093", "PUBLIC_URL": "https://hotline.example"}, "https://hotline.example"},
	} {
		banner, got := makeRun(t, c.env)
		if got != c.want {
			t.Errorf("%v: serve got PUBLIC_URL=%q, want %q", c.env, got, c.want)
		}
		if !strings.Contains(banner, "sms       off (set SMSGATE_URL and SMSGATE_SIGNING_KEY, or TWILIO_ACCOUNT_SID") {
			t.Errorf("%v: the banner does not say SMS is off and how to turn it on:\n%s", c.env, banner)
		}
	}
	banner, _ := makeRun(t, map[string]string{"HTTP_ADDR": "127.0.0.1:8094", "SMSGATE_URL": "http://127.0.0.1:8092/message",
		"SMSGATE_SIGNING_KEY": "k", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM": "+1"})
	want := "sms       on: gateway (SMSGATE_*), events to http://127.0.0.1:8094/webhooks/smsgate; " +
		"Twilio (TWILIO_*), webhook http://127.0.0.1:8094/webhooks/twilio/sms"
	if !strings.Contains(banner, want) {
		t.Errorf("the banner does not say SMS is on (%q):\n%s", want, banner)
	}
}
