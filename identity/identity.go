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

// Len is how many master keys the ring holds.
func (kr *Keyring) Len() int { return len(kr.keys) }

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
	out = append(out, formatMaster)
	out = append(out, k.id[:]...)
	out = append(out, nonce...)
	return k.seal.Seal(out, nonce, []byte(handle), aad(channel, pseudonym)), nil
}

// Open decrypts a handle sealed by Seal with any key still in the ring.
func (kr *Keyring) Open(channel, pseudonym string, sealed []byte) (string, error) {
	if len(sealed) < 5 || sealed[0] != formatMaster {
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

// A DataKey is one report's own AES-256-GCM key. The report's personal
// fields and the handle to write back are sealed under it, and it is stored
// only wrapped by a master key. Destroying the wrapped copy (an erasure) makes
// every copy of those fields unreadable, including the ones in old backups.
type DataKey struct {
	aead cipher.AEAD
}

// Formats of sealed values, the first byte of each.
const (
	formatMaster  = 1 // a handle sealed by a master key (Seal)
	formatWrapped = 2 // a data key wrapped by a master key
	formatData    = 3 // a value sealed by a data key
)

// NewDataKey makes a fresh data key for the report with reference ref, and
// returns it with its copy wrapped by the newest master key.
func (kr *Keyring) NewDataKey(ref string) (DataKey, []byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return DataKey{}, nil, fmt.Errorf("data key: %w", err)
	}
	wrapped, err := kr.wrap(ref, raw)
	if err != nil {
		return DataKey{}, nil, err
	}
	return newDataKey(raw), wrapped, nil
}

func newDataKey(raw []byte) DataKey {
	block, err := aes.NewCipher(raw)
	if err != nil {
		panic(err) // 32 bytes always make a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return DataKey{aead: aead}
}

func (kr *Keyring) wrap(ref string, raw []byte) ([]byte, error) {
	k := kr.keys[0]
	nonce := make([]byte, k.seal.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("wrap data key: %w", err)
	}
	out := make([]byte, 0, 1+len(k.id)+len(nonce)+len(raw)+k.seal.Overhead())
	out = append(out, formatWrapped)
	out = append(out, k.id[:]...)
	out = append(out, nonce...)
	return k.seal.Seal(out, nonce, raw, []byte("data-key\x00"+ref)), nil
}

// UnwrapDataKey opens the data key of the report with reference ref. It
// returns ErrNoKey for a destroyed (empty) key, a key wrapped by a master
// key no longer in the ring, or a tampered one.
func (kr *Keyring) UnwrapDataKey(ref string, wrapped []byte) (DataKey, error) {
	raw, err := kr.unwrap(ref, wrapped)
	if err != nil {
		return DataKey{}, err
	}
	return newDataKey(raw), nil
}

func (kr *Keyring) unwrap(ref string, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 5 || wrapped[0] != formatWrapped {
		return nil, ErrNoKey
	}
	for _, k := range kr.keys {
		if !hmac.Equal(k.id[:], wrapped[1:5]) {
			continue
		}
		rest := wrapped[5:]
		if len(rest) < k.seal.NonceSize() {
			return nil, ErrNoKey
		}
		raw, err := k.seal.Open(nil, rest[:k.seal.NonceSize()], rest[k.seal.NonceSize():], []byte("data-key\x00"+ref))
		if err != nil || len(raw) != 32 {
			return nil, ErrNoKey
		}
		return raw, nil
	}
	return nil, ErrNoKey
}

// Rewrap wraps a data key again by the newest master key, for a rotation.
// It reports false, with wrapped unchanged, when the newest key wraps it
// already.
func (kr *Keyring) Rewrap(ref string, wrapped []byte) ([]byte, bool, error) {
	if kr.WrappedByNewest(wrapped) {
		return wrapped, false, nil
	}
	raw, err := kr.unwrap(ref, wrapped)
	if err != nil {
		return nil, false, err
	}
	out, err := kr.wrap(ref, raw)
	return out, err == nil, err
}

// WrappedByNewest reports whether the newest master key wrapped this value
// (a data key, or a value Seal made).
func (kr *Keyring) WrappedByNewest(sealed []byte) bool {
	return len(sealed) >= 5 && hmac.Equal(sealed[1:5], kr.keys[0].id[:])
}

// NewestKeyID is the fingerprint stored with values the newest key wraps.
func (kr *Keyring) NewestKeyID() []byte { return kr.keys[0].id[:] }

// PseudonymKeyID is the fingerprint of the key pseudonyms come from (the
// oldest): a database remembers it, so that a ring without it is refused
// rather than silently making every sender someone new.
func (kr *Keyring) PseudonymKeyID() []byte { return kr.keys[len(kr.keys)-1].id[:] }

// KeyIDs are the fingerprints of every key in the ring, newest first.
func (kr *Keyring) KeyIDs() [][]byte {
	ids := make([][]byte, len(kr.keys))
	for i := range kr.keys {
		ids[i] = kr.keys[i].id[:]
	}
	return ids
}

// Seal encrypts plain under the data key. purpose names what it is ("tip",
// "handle:<channel>:<pseudonym>", …) and is bound as associated data, so a
// value cannot be moved to another place of the same report.
func (dk DataKey) Seal(purpose string, plain []byte) []byte {
	nonce := make([]byte, dk.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	out := make([]byte, 0, 1+len(nonce)+len(plain)+dk.aead.Overhead())
	out = append(out, formatData)
	out = append(out, nonce...)
	return dk.aead.Seal(out, nonce, plain, []byte(purpose))
}

// Open decrypts a value Seal made under this data key for the same purpose.
func (dk DataKey) Open(purpose string, sealed []byte) ([]byte, error) {
	if dk.aead == nil || !SealedByDataKey(sealed) || len(sealed) < 1+dk.aead.NonceSize() {
		return nil, ErrNoKey
	}
	n := dk.aead.NonceSize()
	plain, err := dk.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(purpose))
	if err != nil {
		return nil, ErrNoKey
	}
	return plain, nil
}

// SealedByDataKey reports whether a value was sealed by a report's data key
// (rather than by a master key).
func SealedByDataKey(sealed []byte) bool { return len(sealed) > 0 && sealed[0] == formatData }

// HandlePurpose is the associated data of a report's reply handle sealed
// under its data key: bound to the channel and the sender's pseudonym, as
// Keyring.Seal binds it.
func HandlePurpose(channel, pseudonym string) string {
	return "handle\x00" + channel + "\x00" + pseudonym
}

// Rotate returns a fresh master key and the TINBAO_SECRET value that puts it
// first, before every key of this ring: secret is the current value.
func Rotate(secret string) (newKey, newSecret string) {
	newKey = NewSecret()
	var parts []string
	for _, p := range strings.Split(secret, ",") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	return newKey, strings.Join(append([]string{newKey}, parts...), ",")
}
