package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"tinbao/storage/storagetest"
)

// TestPurgeCommand runs `tinbao purge --dry-run` and `tinbao purge` as an
// operator would, and checks the retention settings are read and checked.
func TestPurgeCommand(t *testing.T) {
	dbURL := storagetest.DatabaseURL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "TINBAO_SECRET": testSecret, "RETAIN_HANDLES": "7d"}
	getenv := func(k string) string { return env[k] }
	for _, args := range [][]string{{"purge", "--dry-run"}, {"purge"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, getenv, nil, &out, &out); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{"report contents and media", "contact handles", "(kept 7d)", "delivery records",
			"conversational SMS replies", "audit entries", "(kept 1825d)", "conversation state"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v printed %q, missing %q", args, out.String(), want)
			}
		}
		if dry := strings.Contains(out.String(), "dry run"); dry != (len(args) == 2) {
			t.Errorf("%v printed %q", args, out.String())
		}
	}
	env["RETAIN_AUDIT"] = "30d"
	env["RETAIN_REPORTS"] = "forever"
	err := run(context.Background(), []string{"purge"}, getenv, nil, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "RETAIN_AUDIT") || !strings.Contains(err.Error(), "RETAIN_REPORTS") {
		t.Errorf("bad retention settings: %v", err)
	}
	if err := run(context.Background(), []string{"purge", "--now"}, getenv, nil, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Error("an unknown flag was accepted")
	}
}
