package locales

import (
	"strings"
	"testing"
)

// looseReference is FoldLoose as it was first written, word by word with a
// strings.Replacer: the oracle for the in-place version.
func looseReference(s string) string {
	words := strings.Fields(Fold(s))
	for i, w := range words {
		if w == "" || w[0] == '/' || allDigits(w) {
			continue
		}
		var b strings.Builder
		afterLetter := false
		for i := 0; i < len(w); i++ {
			ch := w[i]
			if ch >= '1' && ch <= '9' && afterLetter {
				continue
			}
			afterLetter = ch >= 'a' && ch <= 'z'
			b.WriteByte(ch)
		}
		w = b.String()
		if strings.HasPrefix(w, "dd") {
			w = w[1:]
		}
		w = strings.NewReplacer("aa", "a", "ee", "e", "oo", "o", "aw", "a", "ow", "o", "uw", "u").Replace(w)
		b.Reset()
		seenVowel := false
		for i := 0; i < len(w); i++ {
			ch := w[i]
			if seenVowel && strings.IndexByte("sfrxjz", ch) >= 0 {
				continue
			}
			if ch == 'w' {
				ch = 'u'
			}
			if isVowel(ch) {
				seenVowel = true
			}
			b.WriteByte(ch)
		}
		words[i] = b.String()
	}
	return strings.Join(words, " ")
}

// FuzzFoldLoose: FoldLoose says what the reference says, and Loose of a
// folded key says the same as FoldLoose of the text.
func FuzzFoldLoose(f *testing.F) {
	for _, s := range []string{"giusp tooi", "Vieetj Nam", "dduwowcj", "cuwus tooi", "Tie61ng Vie65t", "1 12 /baotin",
		"khoong", "aaa ooo eee awwa uwuw", "ddd dda d", "a1b22c9", "Đồng Tháp", "x\xffy", "  zz  "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := looseReference(s)
		if got := FoldLoose(s); got != want {
			t.Fatalf("FoldLoose(%q) = %q, want %q", s, got, want)
		}
		if got := Loose(Fold(s)); got != want {
			t.Fatalf("Loose(Fold(%q)) = %q, want %q", s, got, want)
		}
	})
}

func BenchmarkFoldLoose(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		FoldLoose("Có người rủ em tôi sang Campuchia, giusp tooi")
	}
}
