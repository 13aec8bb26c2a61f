package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

const usage = `usage: tinbao <command>

commands:
  serve                 run the service (default)
  migrate               apply database migrations
  officer add USERNAME --role officer|supervisor|admin [--unit UNIT]
                        create an officer; the password is read from stdin,
                        or generated and printed once
  officer disable|enable USERNAME, officer reset-password USERNAME
                        end an account's access (or give it back), or set a new
                        password (stdin, or generated and printed once)
  officer reset-2fa USERNAME
                        turn two-step sign-in off after a lost phone; every
                        session ends (an administrator must set it up again
                        at the next sign-in)
  purge [--dry-run]     remove what has outlived its retention (or say what)
  keys rotate           print a TINBAO_SECRET with a new master key first
  keys rotate --rewrap  once every replica runs with it: wrap each report's
                        data key again by the new key
  chat                  talk to the conversations in this terminal (no databases)
  help                  show this text

Configuration comes from the environment; see README.md.
`

// errUsage marks a mistake in the command line; main prints usage for it.
var errUsage = errors.New("wrong usage")

// run is the program minus the process: every input arrives as an argument.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, getenv, stdout, stderr)
	case "migrate":
		err = migrate(ctx, getenv, stdout)
	case "officer":
		err = officer(ctx, args, getenv, stdin, stdout, stderr)
	case "purge":
		err = purge(ctx, args, getenv, stdout)
	case "keys":
		err = keys(ctx, args, getenv, stdout, stderr)
	case "chat":
		err = chat(ctx, stdin, stdout)
	case "help", "-h", "--help":
		_, err = io.WriteString(stdout, usage)
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
	if errors.Is(err, errUsage) {
		io.WriteString(stderr, usage)
	}
	return err
}
