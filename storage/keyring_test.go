package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"tinbao/identity"
	"tinbao/storage"
	"tinbao/storage/storagetest"
)

// A ring that would quietly lose data is refused: one without the key
// pseudonyms come from (every sender would be someone new, and numbers that
// sent STOP texted again), and one without a key a report is still wrapped
// by. A rotation done as the README says passes at every step.
func TestCheckKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storagetest.DB(t)
	old := identity.NewSecret()
	ring := func(secret string) *identity.Keyring {
		kr, err := identity.ParseKeyring(secret)
		if err != nil {
			t.Fatal(err)
		}
		return kr
	}
	first := ring(old)
	db.SetKeys(first)
	if err := db.CheckKeys(ctx, first); err != nil {
		t.Fatalf("first start: %v", err)
	}
	if _, err := db.CommitTip(ctx, newTip("TB-7K3M-Q9XJ", "1")); err != nil {
		t.Fatal(err)
	}
	_, rotatedSecret := identity.Rotate(old)
	rotated := ring(rotatedSecret)
	if err := db.CheckKeys(ctx, rotated); err != nil {
		t.Fatalf("a new key put first, the old kept: %v", err)
	}
	newOnly := ring(strings.Split(rotatedSecret, ",")[0])
	err := db.CheckKeys(ctx, newOnly)
	if !errors.Is(err, storage.ErrKeyring) || !strings.Contains(err.Error(), "pseudonyms") {
		t.Fatalf("the pseudonym key retired: %v, want a refusal naming pseudonyms", err)
	}
	// A middle key retired before --rewrap: the report it wraps is unreadable.
	_, three := identity.Rotate(rotatedSecret) // newest, middle (rotated's newest), old
	db.SetKeys(rotated)
	if _, err := db.CommitTip(ctx, newTip("TB-0000-0000", "2")); err != nil { // wrapped by the middle key
		t.Fatal(err)
	}
	if _, err := db.AddOfficer(ctx, "lan", "admin", "", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetTOTP(ctx, "lan", "JBSWY3DPEHPK3PXP"); err != nil { // sealed by the middle key
		t.Fatal(err)
	}
	sealed, err := rotated.Seal("sms", "p9", "smsgate:+84900000009") // a reply still to send
	if err != nil {
		t.Fatal(err)
	}
	reply, err := db.QueueReply(ctx, "sms", "p9", sealed, "vi", "Chung toi nhan duoc roi")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(three, ",")
	skipped := ring(parts[0] + "," + parts[2])
	if err := db.CheckKeys(ctx, skipped); !errors.Is(err, storage.ErrKeyring) || !strings.Contains(err.Error(), ": 3 report") {
		t.Fatalf("a key retired before --rewrap: %v, want a refusal counting a report, a queued message and a two-factor secret", err)
	}
	full := ring(three)
	db.SetKeys(full)
	if _, err := db.RewrapDataKeys(ctx, full); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ResealTOTP(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckKeys(ctx, skipped); err != nil {
		t.Errorf("the middle key retired after --rewrap: %v", err)
	}
	var resealed []byte
	db.Pool().QueryRow(ctx, `SELECT recipient_sealed FROM outbox WHERE id = $1`, reply).Scan(&resealed)
	if h, err := skipped.Open("sms", "p9", resealed); err != nil || h != "smsgate:+84900000009" {
		t.Errorf("the queued reply's handle after --rewrap: %q %v", h, err)
	}
}
