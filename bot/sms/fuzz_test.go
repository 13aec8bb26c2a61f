package sms

import (
	"testing"
	"unicode/utf8"
)

// Odd Unicode in, a phone number or a text out: never a panic, a stripped
// text always GSM-7 when it came from valid UTF-8 Vietnamese, and a count of
// at least one segment.
func FuzzText(f *testing.F) {
	for _, s := range []string{"Bạn có an toàn không?", "0900 000 001", "+84 90 000 0001", "\u202e\x00đĐÐ", "😀{}[]€", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = Normalize(s)
		if _, n := Count(s); n < 1 {
			t.Fatalf("Count(%q) = %d segments", s, n)
		}
		out := Strip(s)
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("Strip(%q) made invalid UTF-8", s)
		}
	})
}
