package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"tinbao/bot/telegram/telegramtest"
	"tinbao/identity"
	"tinbao/storage/storagetest"
)

// TestKeysRotateKeepsReportsReadable makes a report, rotates the master key
// as the README says (print the new secret, restart with it, re-wrap), and
// finds the report still looked up by its code, its story still readable,
// and its data key no longer opened by the old key alone.
func TestKeysRotateKeepsReportsReadable(t *testing.T) {
	ctx := context.Background()
	dbURL := storagetest.DatabaseURL(t)
	_, prefix := storagetest.Redis(t)
	tg := telegramtest.NewServer(t)
	const hook = "webhook-secret_123"
	tgEnv := func(secret string) map[string]string {
		return map[string]string{"TELEGRAM_BOT_TOKEN": telegramtest.Token, "TELEGRAM_API_URL": tg.URL,
			"TELEGRAM_WEBHOOK_SECRET": hook, "TINBAO_SECRET": secret}
	}
	s := startServiceOn(t, dbURL, prefix, tgEnv(testSecret))
	owner := s.telegramChat(t, tg, hook, 700101)
	ref := reportTo(t, owner, "Có người bị giữ hộ chiếu ở công ty")
	s.stop()

	var out, errOut bytes.Buffer
	env := map[string]string{"TINBAO_SECRET": testSecret, "DATABASE_URL": dbURL}
	if err := run(ctx, []string{"keys", "rotate"}, func(k string) string { return env[k] }, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(out.String())
	secret, ok := strings.CutPrefix(line, "TINBAO_SECRET=")
	if !ok || !strings.HasSuffix(secret, ","+testSecret) || strings.Count(secret, ",") != 1 {
		t.Fatalf("keys rotate printed %q", out.String())
	}
	if !strings.Contains(errOut.String(), "--rewrap") {
		t.Errorf("keys rotate does not say what to do next: %q", errOut.String())
	}

	env["TINBAO_SECRET"] = secret
	out.Reset()
	if err := run(ctx, []string{"keys", "rotate", "--rewrap"}, func(k string) string { return env[k] }, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "re-wrapped 1 data key") {
		t.Errorf("keys rotate --rewrap printed %q", out.String())
	}

	s = startServiceOn(t, dbURL, prefix, tgEnv(secret))
	rotated, _ := identity.ParseKeyring(secret)
	s.db.SetKeys(rotated)
	if newest, older, err := s.db.DataKeysByWrapper(ctx, rotated); err != nil || newest != 1 || older != 0 {
		t.Errorf("after --rewrap: %d data keys by the new key, %d by older ones, %v", newest, older, err)
	}
	if tip, err := s.db.TipByReference(ctx, ref); err != nil || !strings.Contains(tip.Details["what"], "hộ chiếu") {
		t.Errorf("after the rotation the report reads %+v, %v", tip, err)
	}
	oldOnly, _ := identity.ParseKeyring(testSecret)
	s.db.SetKeys(oldOnly)
	if _, err := s.db.TipByReference(ctx, ref); !errors.Is(err, identity.ErrNoKey) {
		t.Errorf("the old key alone still opens the report: %v", err)
	}

	owner = s.telegramChat(t, tg, hook, 700101)
	owner.say("TRA CUU " + ref)
	if got := owner.last().Text; !strings.Contains(got, ref) || !strings.Contains(got, "đã nhận") {
		t.Errorf("the owner's lookup after the rotation = %q", got)
	}
}
