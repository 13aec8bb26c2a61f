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
func FoldLoose(s string) string { return Loose(Fold(s)) }

// Loose is FoldLoose of a key that is already folded (Fold's result): a
// caller that needs both keys of a message folds it once.
func Loose(folded string) string {
	// Every pass below only drops or swaps bytes, so one buffer the size
	// of the key holds the result: one allocation for the whole key.
	b := make([]byte, 0, len(folded))
	first := true
	for w := range strings.FieldsSeq(folded) {
		if !first {
			b = append(b, ' ')
		}
		first = false
		b = appendLooseWord(b, w)
	}
	return string(b)
}

func isVowel(b byte) bool { return strings.IndexByte("aeiouy", b) >= 0 }

// appendLooseWord appends w, undone of Telex and VNI, to dst. It works in
// place on the bytes it appends.
func appendLooseWord(dst []byte, w string) []byte {
	if w == "" || w[0] == '/' || allDigits(w) {
		return append(dst, w...)
	}
	start := len(dst)
	// VNI: tone and vowel digits typed after a letter.
	afterLetter := false
	for i := 0; i < len(w); i++ {
		ch := w[i]
		if ch >= '1' && ch <= '9' && afterLetter {
			continue // a run of VNI digits after a letter
		}
		afterLetter = ch >= 'a' && ch <= 'z'
		dst = append(dst, ch)
	}
	word := dst[start:]
	// Telex: dd → d, doubled vowels and w for the horn or breve (aa, ee,
	// oo, aw, ow, uw), left to right, never overlapping.
	if len(word) >= 2 && word[0] == 'd' && word[1] == 'd' {
		word = word[1:]
	}
	n := 0
	for i := 0; i < len(word); i++ {
		ch := word[i]
		if i+1 < len(word) && telexPair(ch, word[i+1]) {
			i++
		}
		dst[start+n] = ch
		n++
	}
	// Telex tones: s f r x j (and z, which removes a tone) after a vowel.
	word = dst[start : start+n]
	n = 0
	seenVowel := false
	for _, ch := range word {
		if seenVowel && strings.IndexByte("sfrxjz", ch) >= 0 {
			continue
		}
		if ch == 'w' {
			ch = 'u'
		}
		if isVowel(ch) {
			seenVowel = true
		}
		word[n] = ch
		n++
	}
	return dst[:start+n]
}

// telexPair reports whether a then b is a Telex pair that stands for a
// alone: aa, ee, oo (the circumflex) or aw, ow, uw (the breve and horn).
func telexPair(a, b byte) bool {
	switch a {
	case 'a', 'o':
		return b == a || b == 'w'
	case 'e':
		return b == 'e'
	case 'u':
		return b == 'w'
	}
	return false
}

func allDigits(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] < '0' || w[i] > '9' {
			return false
		}
	}
	return true
}
