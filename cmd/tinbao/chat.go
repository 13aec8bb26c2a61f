package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"time"

	"tinbao/flows"
	"tinbao/locales"
)

// chat talks to the flows in a terminal, with no databases: a quick way to
// read and try the conversations. It follows the web chat's rules exactly:
// what is typed goes in as typed, so a number picks a numbered choice where
// the answer must be one, and is an answer ("1 người") where it is free text.
func chat(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	cat, err := locales.Load()
	if err != nil {
		return err
	}
	engine := flows.New(cat, flows.Options{PrivacyURL: "http://127.0.0.1:8080/privacy"})
	fmt.Fprintln(stdout, "tinbao chat: type as a person would; a number picks a numbered choice; [words] are buttons to type; Ctrl-D ends.")
	var s flows.Session
	in := bufio.NewScanner(stdin)
	for {
		fmt.Fprint(stdout, "> ")
		if !in.Scan() || ctx.Err() != nil {
			fmt.Fprintln(stdout)
			return in.Err()
		}
		b := make([]byte, flows.RefPayloadLen)
		rand.Read(b)
		res := engine.Step(s, flows.Input{Channel: "web", Text: in.Text(), Now: time.Now(), Seq: flows.SeqAfterReply,
			Reference: flows.NewReference(b)})
		s = res.Session
		for _, r := range res.Replies {
			fmt.Fprintln(stdout, terminal(r))
		}
		if res.Report != nil {
			fmt.Fprintf(stdout, "(report %s would be committed; acknowledgement:)\n%s\n", res.Report.Reference, res.Report.Ack)
		}
		if res.Lookup != "" {
			fmt.Fprintf(stdout, "(no database here: %s is looked up as unknown)\n%s\n", res.Lookup,
				terminal(engine.Status(s.Lang, res.Lookup, "", false, false)))
		}
		if res.Wipe {
			fmt.Fprintln(stdout, "(the conversation would be wiped from the channel)")
		}
	}
}

// terminal renders a reply: numbered where the answer must be one of the
// choices (as the flows read a typed number), else buttons to type.
func terminal(r flows.Reply) string {
	var b strings.Builder
	b.WriteString(r.Text)
	for i, c := range r.Choices {
		if r.Pick {
			fmt.Fprintf(&b, "\n  %d %s", i+1, c.Label)
		} else {
			fmt.Fprintf(&b, "\n  [%s]", c.Label)
		}
	}
	return b.String()
}
