package locales

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// NFC returns s in Unicode normal form C, the form tinbao stores and compares.
// Text typed on some phones arrives decomposed (NFD).
func NFC(s string) string { return norm.NFC.String(s) }

// Fold gives the accent-insensitive match key of s: lower case, tone and vowel
// marks removed, đ/Đ (and the look-alike Ð) mapped to d, punctuation turned
// into spaces, runs of space collapsed. "Báo  tin!" and "bao tin" share the key
// "bao tin", and so do the two tone placements "hòa" and "hoà".
func Fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := true // drop leading spaces
	// Invalid bytes first become U+FFFD: norm passes an invalid sequence through
	// with the rune after it undecomposed, so "\xf1Ѷ" kept its mark once.
	for _, r := range norm.NFD.String(strings.ToValidUTF8(s, "\uFFFD")) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == 'đ' || r == 'Đ' || r == 'Ð' || r == 'ð':
			r = 'd'
		case r == '/' || unicode.IsLetter(r) || unicode.IsDigit(r):
			r = unicode.ToLower(r)
		default:
			if !space {
				b.WriteByte(' ')
				space = true
			}
			continue
		}
		b.WriteRune(r)
		space = false
	}
	return strings.TrimRight(b.String(), " ")
}

// StripMarks writes Vietnamese without its tone and vowel marks, keeping case:
// "Đồng Tháp" → "Dong Thap" (đ/Đ, and the look-alikes Ð/ð, become d/D). The
// result is NFC.
func StripMarks(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFD.String(strings.ToValidUTF8(s, "\uFFFD")) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == 'đ' || r == 'ð':
			r = 'd'
		case r == 'Đ' || r == 'Ð':
			r = 'D'
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}

// Clean makes typed text safe to keep and show: NFC, invalid UTF-8 replaced,
// control characters other than newline and tab removed (Postgres refuses
// NUL), and the invisible direction overrides and byte-order marks that can
// make text in the console read differently from what was sent.
func Clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return '\n'
		case unicode.IsControl(r):
			return -1
		case r == '\uFEFF', r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069', r == '\u200E', r == '\u200F':
			return -1
		}
		return r
	}, s)
	// At most one empty line in a row, however many were typed (a single
	// ReplaceAll left four newlines as three, so Clean was not idempotent).
	for strings.Contains(s, "\n\n\n") {
		s = strings.ReplaceAll(s, "\n\n\n", "\n\n")
	}
	return NFC(s)
}
