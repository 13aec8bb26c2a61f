package sms

import (
	"strings"
	"unicode/utf16"

	"golang.org/x/text/unicode/norm"

	"tinbao/locales"
)

// Encoding is how a phone packs a text: GSM-7 holds 160 characters in one
// segment (153 per part when split); one character outside it makes the
// whole text UCS-2, 70 (67 per part). Of the Vietnamese letters only a, à,
// e, è, é, i, ì, o, ò, u, ù, y are in GSM-7.
type Encoding string

// Encodings.
const (
	GSM7 Encoding = "GSM-7"
	UCS2 Encoding = "UCS-2"
)

// gsmBasic is the GSM 03.38 default alphabet; gsmExtension the characters
// reached through its escape, which cost two septets each.
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "^{}\\[~]|€\f"
)

// Count says how a text would travel: its encoding and the number of
// segments (parts) it costs. The text is taken in NFC, as phones send it.
func Count(text string) (Encoding, int) {
	text = norm.NFC.String(text)
	septets := 0
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsmBasic, r):
			septets++
		case strings.ContainsRune(gsmExtension, r):
			septets += 2
		default:
			units := len(utf16.Encode([]rune(text)))
			return UCS2, parts(units, 70, 67)
		}
	}
	return GSM7, parts(septets, 160, 153)
}

func parts(n, single, per int) int {
	switch {
	case n == 0:
		return 1
	case n <= single:
		return 1
	}
	return (n + per - 1) / per
}

// typographic marks that force UCS-2 for nothing, and their plain forms.
var plain = strings.NewReplacer("“", `"`, "”", `"`, "‘", "'", "’", "'", "•", "-", "…", "...", "–", "-", "—", "-",
	"«", `"`, "»", `"`, "×", "x", "\u00a0", " ", "→", "->")

// Strip writes Vietnamese without its marks (đ → d), and typographic marks
// as plain ones, so that a text travels as GSM-7: 160 characters a segment
// instead of 70. Case is kept; "Bạn có an toàn không?" → "Ban co an toan khong?".
func Strip(text string) string { return locales.StripMarks(plain.Replace(text)) }
