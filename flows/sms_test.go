package flows_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"tinbao/bot/sms"
	"tinbao/flows"
	"tinbao/locales"
)

// What SMS costs a person, measured on the SMS transcripts: each SMS tinbao
// sends (one per turn) with its encoding and segments, and the total of a
// whole conversation. Run with -v to see the table.
func TestSMSSegments(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := flows.New(cat, flows.Options{PanicWord: "thời tiết hôm nay", PrivacyURL: "https://tinbao.example/privacy"})
	paths, _ := filepath.Glob("testdata/*.txt")
	totals := map[string][2]int{} // file → segments without marks, with marks
	var over []string
	for _, path := range paths {
		raw, _ := os.ReadFile(path)
		if !strings.Contains(string(raw), "# kênh: sms") {
			continue
		}
		_, stripped := replaySMS(t, e, string(raw), false)
		_, kept := replaySMS(t, e, string(raw), true)
		var sum, sumKept int
		for i, text := range stripped {
			enc, n := sms.Count(text)
			_, nk := sms.Count(kept[i])
			sum, sumKept = sum+n, sumKept+nk
			t.Logf("%-28s %2d %s %d (kept marks: %d)  %.60q", filepath.Base(path), i+1, enc, n, nk, text)
			limit := 1
			switch {
			case strings.Contains(text, "113") && strings.Contains(text, "115"):
				limit = 2 // the emergency numbers
			case strings.Contains(text, "113") && strings.Contains(text, "+84 981"):
				limit = 3 // the numbers that work from abroad, an embassy's among them
			}
			if enc != sms.GSM7 || n > limit {
				over = append(over, fmt.Sprintf("%s #%d: %s, %d segments: %q", filepath.Base(path), i+1, enc, n, text))
			}
		}
		totals[filepath.Base(path)] = [2]int{sum, sumKept}
	}
	names := make([]string, 0, len(totals))
	for n := range totals {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("total %-28s %3d segments (with marks: %d)", n, totals[n][0], totals[n][1])
	}
	for _, o := range over {
		t.Errorf("SMS over budget: %s", o)
	}
	for name, max := range map[string]int{"report_sms_no_diacritics.txt": 10, "help_sms.txt": 10} {
		if got := totals[name][0]; got == 0 || got > max {
			t.Errorf("%s costs %d segments, want 1 to %d", name, got, max)
		}
	}
}
