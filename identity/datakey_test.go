package identity

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestDataKeySealsAndOpensOnlyForItsPurpose(t *testing.T) {
	kr := mustRing(t, NewSecret())
	dk, wrapped, err := kr.NewDataKey("TB-7K3M-Q9XJ")
	if err != nil {
		t.Fatal(err)
	}
	sealed := dk.Seal("tip", []byte("câu chuyện"))
	if !SealedByDataKey(sealed) || bytes.Contains(sealed, []byte("chuy")) {
		t.Fatalf("sealed value %x is not a data-key seal or shows its text", sealed)
	}
	again, err := kr.UnwrapDataKey("TB-7K3M-Q9XJ", wrapped)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := again.Open("tip", sealed); err != nil || string(plain) != "câu chuyện" {
		t.Fatalf("Open = %q, %v", plain, err)
	}
	if _, err := again.Open("handle", sealed); !errors.Is(err, ErrNoKey) {
		t.Fatalf("opened for another purpose: %v", err)
	}
	if _, err := kr.UnwrapDataKey("TB-0000-0000", wrapped); !errors.Is(err, ErrNoKey) {
		t.Fatalf("a data key unwrapped for another report: %v", err)
	}
	if _, err := kr.UnwrapDataKey("TB-7K3M-Q9XJ", nil); !errors.Is(err, ErrNoKey) {
		t.Fatalf("a destroyed key unwrapped: %v", err)
	}
	other, _, _ := kr.NewDataKey("TB-7K3M-Q9XJ")
	if _, err := other.Open("tip", sealed); !errors.Is(err, ErrNoKey) {
		t.Fatalf("another report's key opened it: %v", err)
	}
}

func TestRotateRewrapsUnderTheNewKeyAndKeepsPseudonyms(t *testing.T) {
	oldSecret := NewSecret()
	old := mustRing(t, oldSecret)
	dk, wrapped, _ := old.NewDataKey("TB-7K3M-Q9XJ")
	sealed := dk.Seal("tip", []byte("x"))
	handle, _ := old.Seal("sms", "p", "+84000000000")

	newKey, secret := Rotate(oldSecret)
	if secret != newKey+","+oldSecret {
		t.Fatalf("Rotate = %q", secret)
	}
	rotated := mustRing(t, secret)
	if rotated.Pseudonym("telegram", "42") != old.Pseudonym("telegram", "42") {
		t.Fatal("pseudonyms changed with the rotation")
	}
	re, changed, err := rotated.Rewrap("TB-7K3M-Q9XJ", wrapped)
	if err != nil || !changed || !rotated.WrappedByNewest(re) || old.WrappedByNewest(re) {
		t.Fatalf("Rewrap = %v, %v", changed, err)
	}
	if _, changed, _ := rotated.Rewrap("TB-7K3M-Q9XJ", re); changed {
		t.Fatal("rewrapped twice")
	}
	if _, err := old.UnwrapDataKey("TB-7K3M-Q9XJ", re); !errors.Is(err, ErrNoKey) {
		t.Fatal("the old key alone opens a key wrapped by the new one")
	}
	dk2, err := rotated.UnwrapDataKey("TB-7K3M-Q9XJ", re)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := dk2.Open("tip", sealed); err != nil || string(p) != "x" {
		t.Fatalf("after rotation Open = %q, %v", p, err)
	}
	if h, err := rotated.Open("sms", "p", handle); err != nil || h != "+84000000000" {
		t.Fatalf("a handle sealed before the rotation: %q, %v", h, err)
	}
	if !strings.HasPrefix(secret, newKey) {
		t.Fatal("the new key is not first")
	}
}

func mustRing(t *testing.T, secret string) *Keyring {
	t.Helper()
	kr, err := ParseKeyring(secret)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}
