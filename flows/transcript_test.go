package flows

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"tinbao/locales"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts in testdata/")

// Transcripts in testdata/*.txt are conversations a Vietnamese reviewer can
// read without reading Go: "> " lines are what the person sends ("> [Gửi]"
// presses the button labelled Gửi), "< " lines what tinbao answers, with its
// buttons in brackets, and "= " lines what was handed on (a finished report
// and its acknowledgement). The test replays the "> " lines and compares the
// whole conversation; `go test ./flows -update` rewrites the files.
func TestTranscripts(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := New(cat)
	paths, _ := filepath.Glob("testdata/*.txt")
	if len(paths) == 0 {
		t.Fatal("no transcripts in testdata/")
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := replay(t, e, string(raw))
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(raw) {
				t.Errorf("transcript differs; run `go test ./flows -update` and read the diff.\n--- got\n%s\n--- want\n%s", got, raw)
			}
		})
	}
}

func replay(t *testing.T, e *Engine, script string) string {
	var out strings.Builder
	var s Session
	var last []Choice
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	for i, line := range strings.Split(script, "\n") {
		if strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		if !strings.HasPrefix(line, "> ") {
			continue
		}
		said := strings.TrimPrefix(line, "> ")
		in := Input{Now: now, Reference: NewReference([]byte{7, 19, 3, 20, 23, 9, 29})}
		if strings.HasPrefix(said, "[") && strings.HasSuffix(said, "]") {
			label := said[1 : len(said)-1]
			for _, c := range last {
				if c.Label == label {
					in.Choice = c.ID
				}
			}
			if in.Choice == "" {
				t.Fatalf("line %d: no button %q on the last reply", i+1, label)
			}
		} else {
			in.Text = said
		}
		out.WriteString(line + "\n")
		r := e.Step(s, in)
		s = r.Session
		last = nil
		for _, rep := range r.Replies {
			out.WriteString(prefixLines("< ", rep.Text))
			if len(rep.Choices) > 0 {
				var labels []string
				for _, c := range rep.Choices {
					labels = append(labels, "["+c.Label+"]")
				}
				out.WriteString("  " + strings.Join(labels, " ") + "\n")
			}
			last = rep.Choices
		}
		if r.Report != nil {
			out.WriteString(describe(r.Report))
		}
		now = now.Add(time.Minute)
	}
	return out.String()
}

func prefixLines(prefix, text string) string {
	var b strings.Builder
	for _, l := range strings.Split(text, "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

func describe(r *Report) string {
	var keys []string
	for k := range r.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "= report kind=%s reference=%s urgent=%t lang=%s\n", r.Kind, r.Reference, r.Urgent, r.Lang)
	for _, k := range keys {
		fmt.Fprintf(&b, "=   %s: %s\n", k, r.Details[k])
	}
	b.WriteString(prefixLines("= ack: ", r.Ack))
	return b.String()
}
