package locales

import (
	"strings"
	"testing"
)

func TestCountryIn(t *testing.T) {
	h := DefaultHotlines()
	for _, tc := range []struct{ in, want string }{
		{"Tôi đang ở Campuchia", "kh"},
		{"bị đưa sang Lào rồi Thái Lan", "la"},              // the first code in order, not the first named
		{"từ Thái Lan qua Myanmar, giờ ở Trung Quốc", "cn"}, // cn < mm < th
		{"xin chào", ""},
		{"campuchiaa", ""}, // whole words only
		{"", ""},
	} {
		if got := h.CountryIn(tc.in); got != tc.want {
			t.Errorf("CountryIn(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzHasWords: hasWords says what strings.Contains with a padded needle
// says.
func FuzzHasWords(f *testing.F) {
	for _, s := range [][2]string{{" o lao ", "lao"}, {" laos ", "lao"}, {" a  b ", ""}, {" cam pu chia ", "pu chia"}, {"", ""}, {" x ", "x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, padded, phrase string) {
		if got, want := hasWords(padded, phrase), strings.Contains(padded, " "+phrase+" "); got != want {
			t.Fatalf("hasWords(%q, %q) = %v, want %v", padded, phrase, got, want)
		}
	})
}
