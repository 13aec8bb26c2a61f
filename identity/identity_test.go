package identity

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

const (
	keyA = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	keyB = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
)

func TestParseKeyring(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	for _, tc := range []struct {
		name, secret string
		ok           bool
	}{
		{"hex", keyA, true},
		{"base64", b64, true},
		{"two keys", keyB + "," + keyA, true},
		{"short", "00ff", false},
		{"empty", "", false},
		{"not a key", "correct horse battery staple!!!!", false},
		{"empty second key", keyA + ",", false},
	} {
		_, err := ParseKeyring(tc.secret)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%t", tc.name, err, tc.ok)
		}
	}
}

func TestPseudonymIsStableKeyedAndOpaque(t *testing.T) {
	a, _ := ParseKeyring(keyA)
	b, _ := ParseKeyring(keyB)
	p := a.Pseudonym("telegram", "42")
	if p != a.Pseudonym("telegram", "42") {
		t.Error("pseudonym is not stable")
	}
	if p == a.Pseudonym("sms", "42") {
		t.Error("pseudonym ignores the channel")
	}
	if p == b.Pseudonym("telegram", "42") {
		t.Error("pseudonym ignores the key")
	}
	if len(p) != 32 || strings.Trim(p, "0123456789abcdef") != "" {
		t.Errorf("pseudonym %q is not 32 hex characters", p)
	}
	// Adding a newer key in front must not change who is who.
	rotated, _ := ParseKeyring(keyB + "," + keyA)
	if rotated.Pseudonym("telegram", "42") != p {
		t.Error("pseudonym changed when a newer key was added")
	}
}

func TestSealOpen(t *testing.T) {
	a, _ := ParseKeyring(keyA)
	sealed, err := a.Seal("sms", "p1", "+84900000000")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("84900000000")) {
		t.Fatal("sealed handle contains the number in clear")
	}
	got, err := a.Open("sms", "p1", sealed)
	if err != nil || got != "+84900000000" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := a.Open("sms", "p2", sealed); !errors.Is(err, ErrNoKey) {
		t.Errorf("opened under another pseudonym: %v", err)
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := a.Open("sms", "p1", tampered); !errors.Is(err, ErrNoKey) {
		t.Errorf("opened a tampered value: %v", err)
	}
	// After rotation the old key still opens old values; new values use the new key.
	rotated, _ := ParseKeyring(keyB + "," + keyA)
	if got, err := rotated.Open("sms", "p1", sealed); err != nil || got != "+84900000000" {
		t.Errorf("rotated ring cannot open an old value: %q %v", got, err)
	}
	fresh, _ := rotated.Seal("sms", "p1", "x")
	if _, err := a.Open("sms", "p1", fresh); !errors.Is(err, ErrNoKey) {
		t.Error("a value sealed with the new key opened with only the old one")
	}
	if s1, _ := a.Seal("sms", "p1", "x"); bytes.Equal(s1, fresh) {
		t.Error("two seals are equal: nonce reused?")
	}
}
