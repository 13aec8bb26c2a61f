package flows

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"testing/quick"
)

func TestReferenceVectors(t *testing.T) {
	for _, tc := range []struct{ payload, want string }{
		{"7K3MQ9X", "TB-7K3M-Q9XJ"},
		{"0000000", "TB-0000-0000"},
		{"ABCDEFG", "TB-ABCD-EFGG"},
	} {
		if got := formatReference(tc.payload); string(got) != tc.want {
			t.Errorf("formatReference(%q) = %q, want %q", tc.payload, got, tc.want)
		}
	}
}

func TestParseReference(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Reference
		err      error
	}{
		{"canonical", "TB-7K3M-Q9XJ", "TB-7K3M-Q9XJ", nil},
		{"lower case", "tb-7k3m-q9xj", "TB-7K3M-Q9XJ", nil},
		{"no dashes", "tb7k3mq9xj", "TB-7K3M-Q9XJ", nil},
		{"no prefix", "7K3MQ9XJ", "TB-7K3M-Q9XJ", nil},
		{"spaces", " 7k3m q9xj ", "TB-7K3M-Q9XJ", nil},
		{"O for zero", "TB-OOOO-OOOO", "TB-0000-0000", nil},
		{"I and L for one", "TB-1111-111", "", ErrRefFormat},
		{"typo caught", "TB-7K3M-Q9XK", "", ErrRefCheck},
		{"swapped symbols caught", "TB-K73M-Q9XJ", "", ErrRefCheck},
		{"too short", "TB-7K3M", "", ErrRefFormat},
		{"U is not a symbol", "TB-7K3M-Q9XU", "", ErrRefFormat},
		{"Vietnamese text", "báo tin", "", ErrRefFormat},
		{"empty", "", "", ErrRefFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseReference(tc.in)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("ParseReference(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestLookAlikes(t *testing.T) {
	ref := formatReference("1010101")
	loose := "tb-iolo-lol" // I, L → 1 and O → 0
	got, err := ParseReference(loose + string(ref[len(ref)-1]))
	if err != nil || got != ref {
		t.Fatalf("ParseReference(look-alikes) = %q, %v; want %q", got, err, ref)
	}
}

// Every generated code parses back to itself, and every single-symbol typo
// is caught by the check symbol.
func TestReferenceProperties(t *testing.T) {
	prop := func(seed [RefPayloadLen]byte) bool {
		ref := NewReference(seed[:])
		got, err := ParseReference(string(ref))
		if err != nil || got != ref {
			t.Logf("round trip %q: %q %v", ref, got, err)
			return false
		}
		code := []byte(string(ref[3:7]) + string(ref[8:]))
		for pos := range code {
			for _, c := range []byte(refAlphabet) {
				if c == code[pos] {
					continue
				}
				typo := append([]byte(nil), code...)
				typo[pos] = c
				if _, err := ParseReference(string(typo)); !errors.Is(err, ErrRefCheck) {
					t.Logf("typo %q of %q not caught: %v", typo, ref, err)
					return false
				}
			}
		}
		return true
	}
	if err := quick.Check(prop, &quick.Config{MaxCount: 300}); err != nil {
		t.Fatal(err)
	}
}

func TestNewReferenceUsesWholeAlphabet(t *testing.T) {
	seen := map[byte]bool{}
	buf := make([]byte, RefPayloadLen)
	for i := 0; i < 2000; i++ {
		rand.Read(buf)
		ref := NewReference(buf)
		for _, c := range []byte(string(ref[3:7]) + string(ref[8:10])) {
			seen[c] = true
		}
	}
	if len(seen) != 32 {
		t.Errorf("generated codes used %d symbols, want 32", len(seen))
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"TB-7K3M-Q9XJ", "tb7k3mq9xj", "ｔｂ", "\x00", "TB--", "báo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// A code made from these bytes reads back as itself.
		if b := []byte(s); len(b) >= RefPayloadLen {
			made := NewReference(b)
			if got, err := ParseReference(string(made)); err != nil || got != made {
				t.Fatalf("NewReference(%x) = %q does not parse back: %q %v", b, made, got, err)
			}
		}
		ref, err := ParseReference(s)
		if err != nil {
			return
		}
		if again, err := ParseReference(string(ref)); err != nil || again != ref {
			t.Fatalf("canonical form %q does not parse back: %q %v", ref, again, err)
		}
		if len(ref) != 12 || ref[:3] != "TB-" || ref[7] != '-' || strings.Trim(string(ref[3:7])+string(ref[8:]), refAlphabet) != "" {
			t.Fatalf("canonical form %q is not TB-XXXX-XXXX", ref)
		}
	})
}

// Short sentences fold into eight symbols ("em xin loi" reads EMX1N101) and
// must not be taken for a mistyped code; codes as people type them must.
func TestLooksLikeReferenceByShape(t *testing.T) {
	for s, want := range map[string]bool{
		"em xin loi":    false,
		"anh oi cuu em": false,
		"toi ko biet":   false,
		"12345678":      false, // a number
		"7k3m q9xj":     true,
		"7K3M-Q9XJ":     true,
		"7k3mq9xj":      true,
		"tb 7k3m q9xj":  true,
		"TB-7K3M-Q9XA":  true, // wrong check symbol: still a code, to be checked
		"7k3 mq9xj":     false,
	} {
		if got := LooksLikeReference(s); got != want {
			t.Errorf("LooksLikeReference(%q) = %v, want %v", s, got, want)
		}
	}
	for s, want := range map[string]Reference{
		"ma cua toi la TB-7K3M-Q91B": "TB-7K3M-Q91B",
		"ma: 7k3m q91b nhe":          "TB-7K3M-Q91B",
		"em xin loi":                 "",
		"ma cua toi la TB-7K3M-Q9XA": "", // wrong check symbol
	} {
		if got := FindReference(s); got != want {
			t.Errorf("FindReference(%q) = %q, want %q", s, got, want)
		}
	}
}
