package flows

import (
	"errors"
	"strings"
)

// Reference codes look like TB-7K3M-Q9XJ: seven random Crockford base32
// symbols and a Luhn mod 32 check symbol, so a mistyped code is caught before
// any lookup. They encode neither identity nor order.
const refAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// RefPayloadLen is the number of random symbols in a reference code.
const RefPayloadLen = 7

// Errors from ParseReference.
var (
	ErrRefFormat = errors.New("reference: not a reference code")
	ErrRefCheck  = errors.New("reference: check symbol does not match")
)

// Reference is a reference code in canonical form (TB-XXXX-XXXX).
type Reference string

func symbolValue(c byte) int { return strings.IndexByte(refAlphabet, c) }

// refCheckSymbol computes the Luhn mod 32 check symbol; the factor 2 applies
// first to the rightmost payload symbol.
func refCheckSymbol(payload string) byte {
	const n = len(refAlphabet)
	factor, sum := 2, 0
	for i := len(payload) - 1; i >= 0; i-- {
		addend := factor * symbolValue(payload[i])
		addend = addend/n + addend%n
		sum += addend
		factor = 3 - factor
	}
	return refAlphabet[(n-sum%n)%n]
}

// NewReference builds a code from random bytes (at least RefPayloadLen of
// them; only the low five bits of each are used). Flows stay pure: the caller
// brings the randomness.
func NewReference(random []byte) Reference {
	var b strings.Builder
	for i := 0; i < RefPayloadLen; i++ {
		b.WriteByte(refAlphabet[random[i]&31])
	}
	return formatReference(b.String())
}

func formatReference(payload string) Reference {
	full := payload + string(refCheckSymbol(payload))
	return Reference("TB-" + full[:4] + "-" + full[4:])
}

// ParseReference accepts what people type: lower case, spaces, missing dashes
// or prefix, and the look-alikes O→0, I/L→1. It returns the canonical form, or
// ErrRefFormat / ErrRefCheck.
func ParseReference(s string) (Reference, error) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case isRefSeparator(r):
			continue
		case r == 'O':
			r = '0'
		case r == 'I' || r == 'L':
			r = '1'
		case r > 127:
			return "", ErrRefFormat
		}
		b.WriteRune(r)
	}
	code := b.String()
	// "TB" cannot be payload because B is a valid symbol but T+B would make the
	// code ten symbols long; strip it only then.
	if len(code) == RefPayloadLen+3 && strings.HasPrefix(code, "TB") {
		code = code[2:]
	}
	if len(code) != RefPayloadLen+1 {
		return "", ErrRefFormat
	}
	for i := 0; i < len(code); i++ {
		if symbolValue(code[i]) < 0 {
			return "", ErrRefFormat
		}
	}
	payload := code[:RefPayloadLen]
	if refCheckSymbol(payload) != code[RefPayloadLen] {
		return "", ErrRefCheck
	}
	return formatReference(payload), nil
}

// LooksLikeReference reports whether s has the shape of a code, whether or not
// its check symbol is right: used to answer "please check the code" instead of
// treating it as chat. Digits alone ("1800 1567", "12345678") are a number
// unless written with TB: tinbao never issues a code without a letter.
//
// It must also be typed as a code is: with its TB prefix, or as eight
// symbols in one piece or two of four ("7k3m q9xj"). Short sentences fold
// into eight symbols too ("em xin loi" reads EMX1N101), and were taken for a
// mistyped code.
func LooksLikeReference(s string) bool {
	if _, err := ParseReference(s); err != nil && !errors.Is(err, ErrRefCheck) {
		return false
	}
	typed := strings.ToUpper(strings.TrimSpace(s))
	if strings.HasPrefix(typed, "TB") {
		return true
	}
	pieces := strings.FieldsFunc(typed, isRefSeparator)
	shaped := len(pieces) == 1 || len(pieces) == 2 && len(pieces[0]) == 4 && len(pieces[1]) == 4
	return shaped && HasLetter(typed)
}

// isRefSeparator is what people put between a code's pieces.
func isRefSeparator(r rune) bool {
	return r == ' ' || r == '-' || r == '_' || r == '.' || r == '\t'
}

// FindReference finds a valid code among words ("mã của tôi là
// TB-7K3M-Q9XJ"), typed in up to three pieces; "" if there is none.
func FindReference(text string) Reference {
	f := strings.Fields(text)
	for i := range f {
		if ref, n := referenceAt(f, i); n > 0 {
			return ref
		}
	}
	return ""
}

// referenceAt reads a valid code typed as words[i:], in up to three pieces,
// the longest first; it returns the code and how many pieces it took (0:
// none).
func referenceAt(words []string, i int) (Reference, int) {
	for n := min(len(words)-i, 3); n >= 1; n-- {
		piece := strings.Join(words[i:i+n], " ")
		if ref, err := ParseReference(piece); err == nil && LooksLikeReference(piece) {
			return ref, n
		}
	}
	return "", 0
}

// codeAttempt reports whether text, typed where a code was asked for, is a
// try at one (to be answered "check the code") rather than words that
// moved on ("em can giup", "em bi nhot o 1 nha nghi"): at most three
// pieces, and one piece, a digit or the TB prefix.
func codeAttempt(text string) bool {
	typed := strings.ToUpper(strings.TrimSpace(text))
	pieces := len(strings.FieldsFunc(typed, isRefSeparator))
	return pieces == 1 || pieces <= 3 && (strings.HasPrefix(typed, "TB") || strings.ContainsAny(typed, "0123456789"))
}

// HasLetter reports whether a code's symbols include a letter; codes are
// drawn again until they do, so that a number is never taken for one.
func HasLetter(symbols string) bool {
	return strings.ContainsFunc(symbols, func(r rune) bool { return r >= 'A' && r <= 'Z' && r != 'O' && r != 'I' && r != 'L' })
}
