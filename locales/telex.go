package locales

import "strings"

// FoldLoose is Fold that also undoes what Telex and VNI keyboards leave when
// their input method is off: "giusp tooi" → "giup toi", "Vieetj" → "viet",
// "dduwowcj" → "duoc", "Tie61ng" → "tieng". A word of digits alone is kept
// as it is, so a menu number is never read as a VNI tone.
//
// It is a second try for matching keywords and choices, never a rewrite of
// what people wrote: in Vietnamese spelled without marks no s, f, r, x, j or
// z follows a vowel in the same word, so dropping them there rarely makes a
// false match.
func FoldLoose(s string) string {
	words := strings.Fields(Fold(s))
	for i, w := range words {
		words[i] = looseWord(w)
	}
	return strings.Join(words, " ")
}

func isVowel(b byte) bool { return strings.IndexByte("aeiouy", b) >= 0 }

func looseWord(w string) string {
	if w == "" || w[0] == '/' {
		return w
	}
	allDigits := true
	for i := 0; i < len(w); i++ {
		if w[i] < '0' || w[i] > '9' {
			allDigits = false
			break
		}
	}
	if allDigits {
		return w
	}
	// VNI: tone and vowel digits typed after a letter.
	var b strings.Builder
	afterLetter := false
	for i := 0; i < len(w); i++ {
		ch := w[i]
		if ch >= '1' && ch <= '9' && afterLetter {
			continue // a run of VNI digits after a letter
		}
		afterLetter = ch >= 'a' && ch <= 'z'
		b.WriteByte(ch)
	}
	w = b.String()
	// Telex: dd → d, doubled vowels and w for the horn or breve.
	if strings.HasPrefix(w, "dd") {
		w = w[1:]
	}
	w = strings.NewReplacer("aa", "a", "ee", "e", "oo", "o", "aw", "a", "ow", "o", "uw", "u").Replace(w)
	// Telex tones: s f r x j (and z, which removes a tone) after a vowel.
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
	return b.String()
}
