package flows

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"tinbao/locales"
)

// messageID matches the message IDs the flows use, such as "report.what".
var messageID = regexp.MustCompile(`"((?:button|menu|emergency|choice|consent|category|country|child|contact|who|need|report|help|ack|status|language|wipe|common|alert|notice|thread|web)\.[a-z0-9_.]+)"`)

// Every message ID the flows use exists in every language.
func TestEveryMessageIDUsedExists(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("*.go")
	used := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range messageID.FindAllStringSubmatch(string(src), -1) {
			used[m[1]] = true
		}
	}
	if len(used) < 50 {
		t.Fatalf("found only %d message IDs in the flows: is the pattern stale?", len(used))
	}
	for id := range used {
		for _, lang := range cat.Languages() {
			if got := cat.T(lang, id, map[string]any{"Reference": "TB-0000-0000", "Count": 2, "Max": 10}); got == id || got == "" {
				t.Errorf("%s: message %q is missing", lang, id)
			}
		}
	}
}

// No prompt asks for an ID-card or passport number, a full legal name, or
// "why" (docs/domain.md §6.3). The phrases live in forbidden_phrases.txt.
func TestNoPromptAsksWhatItMustNot(t *testing.T) {
	f, err := os.Open("forbidden_phrases.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var forbidden []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			forbidden = append(forbidden, line)
		}
	}
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, lang := range cat.Languages() {
		for _, id := range cat.IDs() {
			text := " " + locales.Fold(cat.T(lang, id, map[string]any{"Reference": "TB-0000-0000", "Count": 2, "Max": 10})) + " "
			checked++
			for _, p := range forbidden {
				if strings.Contains(text, " "+p+" ") {
					t.Errorf("%s %s asks what it must not (%q): %s", lang, id, p, text)
				}
			}
		}
	}
	if checked < 100 {
		t.Fatalf("checked only %d messages", checked)
	}
}

// On SMS the acknowledgement fits one segment: GSM-7 characters only, at
// most 160 of them with the code filled in.
func TestSMSAcknowledgementFitsOneSegment(t *testing.T) {
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	for _, lang := range cat.Languages() {
		for _, id := range []string{"ack.tip_sms", "ack.help_sms", "ack.help_now_sms"} {
			for _, when := range []string{"ack.hours_sms", "ack.urgent_sms", "ack.off_hours_sms"} {
				// The longest ending: the line for people abroad.
				danger := cat.T(lang, "ack.danger_abroad_sms", map[string]any{"Line": "+84 981 84 84 84"})
				text := cat.T(lang, id, map[string]any{"Reference": "TB-7K3M-Q9XJ", "Danger": danger,
					"When": cat.T(lang, when, map[string]any{"Hours": 120, "Open": "10:30"})})
				if strings.Contains(text, "{{") || strings.Contains(text, "<no value>") {
					t.Errorf("%s %s: a part is missing: %q", lang, id, text)
				}
				if n := len([]rune(text)); n > 160 {
					t.Errorf("%s %s: %d characters, want at most 160: %q", lang, id, n, text)
				}
				for _, r := range text {
					if !strings.ContainsRune(gsm7, r) {
						t.Errorf("%s %s: %q is not GSM-7, so the SMS would be sent as UCS-2 (70 characters a segment)", lang, id, r)
						break
					}
				}
			}
		}
	}
}
