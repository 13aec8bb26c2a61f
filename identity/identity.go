// Package identity keeps senders anonymous by construction: a sender is known
// only by a keyed pseudonym, and the handle needed to write back (a chat ID, a
// phone number) is sealed with AES-256-GCM so that only the sending code can
// open it. Keys come from TINBAO_SECRET; this package never sees the
// environment.
package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// MinKeyLen is the shortest master key accepted, in bytes.
const MinKeyLen = 32

// ErrNoKey means a sealed value names a key that is not in the keyring (it was
// retired) or the value was tampered with.
var ErrNoKey = errors.New("identity: no key opens this value")

// Keyring holds the master keys from TINBAO_SECRET, newest first.
type Keyring struct {
	keys []masterKey
}

type masterKey struct {
	id     [4]byte // a fingerprint stored with every sealed value
	seal   cipher.AEAD
	pseudo []byte
}

// ParseKeyring reads TINBAO_SECRET: one or more keys, newest first, separated
// by commas, each hex or base64 of at least 32 bytes.
func ParseKeyring(secret string) (*Keyring, error) {
	var kr Keyring
	for i, part := range strings.Split(secret, ",") {
		part = strings.TrimSpace(part)
		raw, err := decodeKey(part)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		kr.keys = append(kr.keys, newMasterKey(raw))
	}
	return &kr, nil
}

func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty key")
	}
	if b, err := hex.DecodeString(s); err == nil {
		if len(b) < MinKeyLen {
			return nil, fmt.Errorf("key is %d bytes, want at least %d", len(b), MinKeyLen)
		}
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) < MinKeyLen {
				return nil, fmt.Errorf("key is %d bytes, want at least %d", len(b), MinKeyLen)
			}
			return b, nil
		}
	}
	return nil, errors.New("key is neither hex nor base64")
}

// derive gives an independent subkey per purpose, so the pseudonym key and the
// sealing key never coincide.
func derive(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("tinbao/v1/" + purpose))
	return m.Sum(nil)
}

func newMasterKey(raw []byte) masterKey {
	block, err := aes.NewCipher(derive(raw, "seal"))
	if err != nil { // a 32-byte key always makes a cipher
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	var k masterKey
	copy(k.id[:], derive(raw, "key-id"))
	k.seal = aead
	k.pseudo = derive(raw, "pseudonym")
	return k
}

// Pseudonym is the keyed, stable name of a sender: HMAC-SHA256 over
// channel + ":" + raw ID, hex, 32 characters. It uses the oldest key in the
// ring so that adding a newer key does not change who is who.
func (kr *Keyring) Pseudonym(channel, rawID string) string {
	m := hmac.New(sha256.New, kr.keys[len(kr.keys)-1].pseudo)
	m.Write([]byte(channel + ":" + rawID))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// Seal encrypts a reply handle with the newest key. The associated data binds
// it to its channel and pseudonym, so a sealed handle copied onto another
// sender's row does not open.
func (kr *Keyring) Seal(channel, pseudonym, handle string) ([]byte, error) {
	k := kr.keys[0]
	nonce := make([]byte, k.seal.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := make([]byte, 0, 1+len(k.id)+len(nonce)+len(handle)+k.seal.Overhead())
	out = append(out, 1) // format version
	out = append(out, k.id[:]...)
	out = append(out, nonce...)
	return k.seal.Seal(out, nonce, []byte(handle), aad(channel, pseudonym)), nil
}

// Open decrypts a handle sealed by Seal with any key still in the ring.
func (kr *Keyring) Open(channel, pseudonym string, sealed []byte) (string, error) {
	if len(sealed) < 5 || sealed[0] != 1 {
		return "", ErrNoKey
	}
	for _, k := range kr.keys {
		if !hmac.Equal(k.id[:], sealed[1:5]) {
			continue
		}
		rest := sealed[5:]
		if len(rest) < k.seal.NonceSize() {
			return "", ErrNoKey
		}
		plain, err := k.seal.Open(nil, rest[:k.seal.NonceSize()], rest[k.seal.NonceSize():], aad(channel, pseudonym))
		if err != nil {
			return "", ErrNoKey
		}
		return string(plain), nil
	}
	return "", ErrNoKey
}

func aad(channel, pseudonym string) []byte { return []byte(channel + "\x00" + pseudonym) }

// NewSecret returns a fresh random master key, hex encoded.
func NewSecret() string {
	b := make([]byte, MinKeyLen)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}
