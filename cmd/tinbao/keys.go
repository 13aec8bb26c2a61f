package main

import (
	"context"
	"fmt"
	"io"

	"tinbao/identity"
)

// keys runs `tinbao keys rotate [--rewrap]`: a key rotation in two steps, so
// that no replica is ever handed a report it cannot open.
//
//  1. `tinbao keys rotate` makes a new master key and prints the
//     TINBAO_SECRET that puts it first. Every replica is restarted with it,
//     one at a time: each reads with both keys and seals new reports with
//     the new one.
//  2. `tinbao keys rotate --rewrap`, run with the new value once every
//     replica has it, wraps every report's data key again by the new key.
//
// The oldest key stays in the list for good: pseudonyms are derived from it,
// so that a sender stays the same sender across rotations.
func keys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" || len(args) > 2 || (len(args) == 2 && args[1] != "--rewrap") {
		return fmt.Errorf("%w: keys rotate [--rewrap]", errUsage)
	}
	if len(args) == 1 {
		cfg, err := loadConfig(getenv, "TINBAO_SECRET")
		if err != nil {
			return err
		}
		_, secret := identity.Rotate(getenv("TINBAO_SECRET"))
		fmt.Fprintf(stdout, "TINBAO_SECRET=%s\n", secret)
		fmt.Fprintf(stderr, `A new master key is first in the line above (the %d key(s) you have follow it).
1. Put it in every replica's environment and restart them one at a time.
2. Then run, with the new value: tinbao keys rotate --rewrap
Keep the last key in the list: pseudonyms come from it.
`, cfg.Keys.Len())
		return nil
	}
	cfg, db, err := openKeyed(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.RewrapDataKeys(ctx, cfg.Keys)
	if err != nil {
		return err
	}
	totp, err := db.ResealTOTP(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "re-wrapped %d data key(s) and %d two-factor secret(s) by the newest key\n", n, totp)
	return nil
}
