// Package sms is the SMS adapter. For now it renders replies as SMS text;
// the Twilio webhooks and sending come with the SMS work.
package sms

import (
	"fmt"
	"strings"

	"tinbao/flows"
)

// Render turns a reply into one SMS text. Where the answer must be one of
// the choices they are numbered ("1 Báo tin"), and the person may type the
// digit or the words. Where they are shortcuts beside free text (Bỏ qua),
// their words are shown to be typed.
func Render(r flows.Reply) string {
	if r.Menu && r.Hint != "" {
		return r.Text + "\n" + r.Hint // the menu costs a segment: say how to get it
	}
	if len(r.Choices) == 0 {
		return r.Text
	}
	var b strings.Builder
	b.WriteString(r.Text)
	if r.Pick {
		for i, c := range r.Choices {
			fmt.Fprintf(&b, "\n%d %s", i+1, c.Label)
		}
		return b.String()
	}
	if r.Hint != "" {
		b.WriteString("\n" + r.Hint) // how to answer without buttons ("0 = bỏ qua")
		return b.String()
	}
	labels := make([]string, len(r.Choices))
	for i, c := range r.Choices {
		labels[i] = c.Label
	}
	b.WriteString("\n» " + strings.Join(labels, " | "))
	return b.String()
}

// Compose is the one SMS that carries a turn's replies, in order: one text
// rather than several, so that a phone shows them together and the parts
// are counted once. Unless keepMarks, it is written without Vietnamese
// marks (GSM-7: 160 characters a segment instead of 70).
func Compose(replies []flows.Reply, keepMarks bool) string {
	texts := make([]string, 0, len(replies))
	for _, r := range replies {
		if t := Render(r); t != "" {
			texts = append(texts, t)
		}
	}
	text := strings.Join(texts, "\n")
	if !keepMarks {
		text = Strip(text)
	}
	return text
}
