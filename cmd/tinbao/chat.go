package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"tinbao/flows"
	"tinbao/locales"
)

// chat talks to the flows in a terminal, with no databases: a quick way to
// read and try the conversations. Type a button's number to press it.
func chat(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	cat, err := locales.Load()
	if err != nil {
		return err
	}
	engine := flows.New(cat, flows.Options{})
	fmt.Fprintln(stdout, "tinbao chat: type as a person would; a number presses a button; Ctrl-D ends.")
	var s flows.Session
	var choices []flows.Choice
	in := bufio.NewScanner(stdin)
	for {
		fmt.Fprint(stdout, "> ")
		if !in.Scan() || ctx.Err() != nil {
			fmt.Fprintln(stdout)
			return in.Err()
		}
		line := in.Text()
		input := flows.Input{Channel: "web", Text: line, Now: time.Now()}
		if n, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && n >= 1 && n <= len(choices) {
			input = flows.Input{Channel: "web", Choice: choices[n-1].ID, Now: time.Now()}
		}
		b := make([]byte, flows.RefPayloadLen)
		rand.Read(b)
		input.Reference = flows.NewReference(b)
		res := engine.Step(s, input)
		s = res.Session
		choices = nil
		for _, r := range res.Replies {
			fmt.Fprintln(stdout, r.Text)
			for i, c := range r.Choices {
				fmt.Fprintf(stdout, "  [%d] %s\n", i+1, c.Label)
			}
			choices = r.Choices
		}
		if res.Report != nil {
			fmt.Fprintf(stdout, "(report %s would be committed; acknowledgement:)\n%s\n", res.Report.Reference, res.Report.Ack)
		}
		if res.Lookup != "" {
			fmt.Fprintf(stdout, "(no database here: %s is looked up as unknown)\n%s\n", res.Lookup,
				engine.Status(s.Lang, res.Lookup, "", false, false).Text)
		}
		if res.Wipe {
			fmt.Fprintln(stdout, "(the conversation would be wiped from the channel)")
		}
	}
}
