package locales

import (
	"testing"
	"unicode"
	"unicode/utf8"

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

func TestFoldLoose(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"giusp tooi", "giup toi"},
		{"Vieetj Nam", "viet nam"},
		{"dduwowcj", "duoc"},
		{"cuwus tooi", "cuu toi"},
		{"baos tin", "bao tin"},
		{"Tie61ng Vie65t", "tieng viet"},
		{"1", "1"},   // a menu digit stays a digit
		{"12", "12"}, // a number of people too
		{"bao tin", "bao tin"},
		{"Báo tin", "bao tin"},
		{"/baotin", "/baotin"},
		{"khoong", "khong"},
	} {
		if got := FoldLoose(tc.in); got != tc.want {
			t.Errorf("FoldLoose(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"b\u0061\u0301o tin", "báo tin"},
		{"a\x00b", "ab"},
		{"\u202Egnp.exe", "gnp.exe"},
		{"\ufeffxin chào", "xin chào"},
		{"dòng 1\r\ndòng 2", "dòng 1\n\ndòng 2"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{"tab\tok", "tab\tok"},
	} {
		if got := Clean(tc.in); got != tc.want {
			t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzClean: what Clean returns is valid UTF-8 in NFC, holds no control
// character but newline and tab, no direction override, isolate, mark or
// byte-order mark, and is its own Clean; Fold of it is idempotent too.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"b\u0061\u0301o tin", "a\x00b", "\u202Egnp.exe", "\ufeffxin chào", "dòng 1\r\ndòng 2", "bad \xff byte",
		"\u2066x\u2069\u200e\u200f", "\u0301", "ǅ\u0345\u0307", "\r\r\n\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Clean(s)
		if !utf8.ValidString(c) {
			t.Fatalf("Clean(%q) = %q: invalid UTF-8", s, c)
		}
		for _, r := range c {
			if (unicode.IsControl(r) && r != '\n' && r != '\t') || r == '\uFEFF' || (r >= '\u202A' && r <= '\u202E') ||
				(r >= '\u2066' && r <= '\u2069') || r == '\u200E' || r == '\u200F' {
				t.Fatalf("Clean(%q) = %q keeps %U", s, c, r)
			}
		}
		if !norm.NFC.IsNormalString(c) {
			t.Fatalf("Clean(%q) = %q: not NFC", s, c)
		}
		if Clean(c) != c {
			t.Fatalf("Clean is not idempotent on %q: %q then %q", s, c, Clean(c))
		}
		if k := Fold(c); Fold(k) != k {
			t.Fatalf("Fold is not idempotent on %q", c)
		}
	})
}
