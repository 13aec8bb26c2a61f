package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"tinbao/storage"
)

const officerUsage = "officer add USERNAME --role officer|supervisor|admin [--unit UNIT] | officer disable USERNAME | " +
	"officer enable USERNAME | officer reset-password USERNAME | officer reset-2fa USERNAME"

// officer manages console accounts: add, disable, enable, reset-password,
// reset-2fa.
func officer(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return fmt.Errorf("%w: %s", errUsage, officerUsage)
	}
	switch args[0] {
	case "add":
	case "disable", "enable", "reset-password", "reset-2fa":
		return changeOfficer(ctx, args[0], strings.ToLower(args[1]), getenv, stdin, stdout, stderr)
	default:
		return fmt.Errorf("%w: %s", errUsage, officerUsage)
	}
	username := strings.ToLower(args[1])
	fs := flag.NewFlagSet("officer add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "officer, supervisor or admin")
	unit := fs.String("unit", "", "the officer's unit, one of the units (/admin), e.g. \"Công an tỉnh\"")
	if err := fs.Parse(args[2:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if !slices.Contains(storage.Roles, *role) {
		return fmt.Errorf("%w: --role must be one of %s", errUsage, strings.Join(storage.Roles, ", "))
	}
	cfg, err := loadConfig(getenv, "DATABASE_URL")
	if err != nil {
		return err
	}
	password, generated, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	db, err := openMigrated(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	unitName := strings.TrimSpace(*unit)
	if _, err := db.AddOfficer(ctx, username, *role, unitName, password); err != nil {
		if errors.Is(err, storage.ErrOfficerExists) {
			return fmt.Errorf("officer %q already exists", username)
		}
		if errors.Is(err, storage.ErrNoUnit) {
			return noUnit(ctx, db, unitName)
		}
		return err
	}
	fmt.Fprintf(stdout, "officer %s added with role %s\n", username, *role)
	if generated {
		fmt.Fprintf(stdout, "password: %s\n", password)
	}
	return nil
}

// noUnit says that a unit does not exist and which ones do: an officer of a
// unit nobody refers to would see an empty queue and never know why.
func noUnit(ctx context.Context, db *storage.DB, unit string) error {
	units, err := db.Units(ctx)
	if err != nil {
		return fmt.Errorf("no unit %q (and the units could not be listed: %w)", unit, err)
	}
	names := make([]string, len(units))
	for i, u := range units {
		names[i] = fmt.Sprintf("%q", u.Name)
	}
	return fmt.Errorf("no unit %q; the units are %s (an administrator adds one on the console's /admin page)",
		unit, strings.Join(names, ", "))
}

// readPassword takes one line from stdin; with nothing there (no stdin, or an
// empty line) it generates a password to be printed once.
func readPassword(stdin io.Reader, stderr io.Writer) (string, bool, error) {
	if f, ok := stdin.(*os.File); ok {
		// A terminal: prompt. (/dev/null is a character device too.)
		null, _ := os.Stat(os.DevNull)
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 && (null == nil || !os.SameFile(st, null)) {
			fmt.Fprint(stderr, "password (empty to generate one): ")
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return generatePassword(), true, nil
	}
	if len([]rune(line)) < 12 {
		return "", false, errors.New("password must have at least 12 characters")
	}
	return line, false, nil
}

// generatePassword makes 26 random base32 characters (130 bits).
func generatePassword() string { return rand.Text() }

// changeOfficer disables or enables an account (every session ends), sets
// a new password (read from stdin, or generated and printed once; every
// session ends too), or turns two-step sign-in off for a lost phone (every
// session ends; an administrator sets it up again at the next sign-in).
func changeOfficer(ctx context.Context, what, username string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv, "DATABASE_URL")
	if err != nil {
		return err
	}
	var password string
	var generated bool
	if what == "reset-password" {
		if password, generated, err = readPassword(stdin, stderr); err != nil {
			return err
		}
	}
	db, err := openMigrated(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	switch what {
	case "reset-password":
		err = db.SetOfficerPassword(ctx, username, password)
	case "reset-2fa":
		err = db.ResetTOTP(ctx, username)
	default:
		err = db.SetOfficerDisabled(ctx, username, what == "disable")
	}
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no officer %q", username)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "officer %s: %s done; their sessions are ended\n", username, what)
	if generated {
		fmt.Fprintf(stdout, "password: %s\n", password)
	}
	return nil
}
