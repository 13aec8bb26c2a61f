package locales

import (
	"testing"

	"golang.org/x/text/unicode/norm"
)

func TestFold(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "bao tin", "bao tin"},
		{"diacritics", "Báo tin", "bao tin"},
		{"decomposed input", norm.NFD.String("Giúp tôi"), "giup toi"},
		{"đ and Đ", "Đồng Tháp đi đâu", "dong thap di dau"},
		{"Ð look-alike", "ÐỒNG", "dong"},
		{"old and new tone placement", "hòa", Fold("hoà")},
		{"thủy and thuỷ", "thủy", Fold("thuỷ")},
		{"punctuation and spaces", "  Tố   giác!!  ", "to giac"},
		{"command kept", "/baotin", "/baotin"},
		{"digits kept", "1", "1"},
		{"emoji dropped", "cứu 🙏 tôi", "cuu toi"},
		{"empty", "", ""},
		{"full-width letters", "ＢＡＯ", "ｂａｏ"},
	} {
		if got := Fold(tc.in); got != tc.want {
			t.Errorf("%s: Fold(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestNFC(t *testing.T) {
	if got := NFC(norm.NFD.String("giúp tôi")); len([]rune(got)) != 8 {
		t.Errorf("NFC left %d runes, want 8", len([]rune(got)))
	}
}

func FuzzFold(f *testing.F) {
	for _, s := range []string{"Báo tin", "\xff\xfe", "Tie61ng Vie65t", "giusp tooi"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := Fold(s)
		if Fold(k) != k {
			t.Fatalf("Fold is not idempotent on %q: %q then %q", s, k, Fold(k))
		}
	})
}
