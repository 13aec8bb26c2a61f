package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"tinbao/flows"
)

// A session lives in Redis in a compact form, because every byte of it is
// held for every parked conversation:
//
//   - a JSON array, each field at a fixed position (sessionFields), a zero
//     value written as 0 and trailing zeros left out, so no field names;
//   - a message that raised an alarm is usually also an answer (the story):
//     its words are not written twice, it names the answer instead;
//   - times are unix milliseconds.
//
// Decoding gives the session back exactly, to the millisecond. It also
// reads the JSON object of flows.Session written before this form.

// sessionFields points at each field of s in its stored position, the
// distress messages at d. Append new fields at the end and never reorder:
// records already in Redis are read by position (TestSessionCodecCoversEveryField
// fails when a field of flows.Session is missing here).
func sessionFields(s *flows.Session, d *[]storedDistress) []any {
	// What outlives a finished report (language, last message, country)
	// first, then a report's common fields, the rare ones last: trailing
	// zeros cost nothing.
	return []any{&s.Lang, &s.Touched, &s.Abroad, &s.Flow, &s.Step, &s.Answers, &s.Urgent, &s.More,
		&s.JoinStep, &s.JoinAt, d, &s.Draft, &s.Media, &s.Editing, &s.Paused, &s.Resume, &s.Confirm,
		&s.EditMenu, &s.Opener}
}

// outliving is how many of sessionFields outlive a finished report.
const outliving = 3

// parked reports whether sess holds nothing but what outlives a report: the
// conversation is over, and its record may leave its key (Sessions).
func parked(sess flows.Session) bool {
	if len(sess.Distress) > 0 {
		return false
	}
	var none []storedDistress
	for _, p := range sessionFields(&sess, &none)[outliving:] {
		if storedValue(p) != 0 {
			return false
		}
	}
	return true
}

// storedDistress is a flows.Distress as [ms, words] or [ms, 0, answer].
type storedDistress struct {
	At   int64
	Text string
	Of   string // the answer whose words these are, when Text is left out
}

func (d storedDistress) MarshalJSON() ([]byte, error) {
	if d.Of != "" {
		return json.Marshal([]any{d.At, 0, d.Of})
	}
	return json.Marshal([]any{d.At, d.Text})
}

func (d *storedDistress) UnmarshalJSON(b []byte) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) < 2 {
		return fmt.Errorf("stored distress %.40s: %v", b, err)
	}
	if err := json.Unmarshal(parts[0], &d.At); err != nil {
		return err
	}
	if len(parts) > 2 {
		return json.Unmarshal(parts[2], &d.Of)
	}
	return json.Unmarshal(parts[1], &d.Text)
}

// encodeSession writes sess in the compact form.
func encodeSession(sess flows.Session) ([]byte, error) {
	var distress []storedDistress
	for _, d := range sess.Distress {
		sd := storedDistress{At: d.At.UnixMilli(), Text: d.Text}
		if of := answerWith(sess.Answers, d.Text); of != "" {
			sd.Text, sd.Of = "", of
		}
		distress = append(distress, sd)
	}
	ptrs := sessionFields(&sess, &distress)
	vals := make([]any, len(ptrs))
	last := -1
	for i, p := range ptrs {
		vals[i] = storedValue(p)
		if vals[i] != 0 {
			last = i
		}
	}
	return json.Marshal(vals[:last+1])
}

// storedValue is the value p points at, as written: 0 for a zero value, 1
// for true.
func storedValue(p any) any {
	switch v := p.(type) {
	case *string:
		if *v != "" {
			return *v
		}
	case *bool:
		if *v {
			return 1
		}
	case *int64:
		if *v != 0 {
			return *v
		}
	case *map[string]string:
		if len(*v) > 0 {
			return *v
		}
	case *[]flows.Media:
		if len(*v) > 0 {
			return *v
		}
	case *[]storedDistress:
		if len(*v) > 0 {
			return *v
		}
	default:
		panic(fmt.Sprintf("storage: session field of type %T has no stored form", p))
	}
	return 0
}

// answerWith is the first answer (by name, so the choice is stable) whose
// words are text, or "".
func answerWith(answers map[string]string, text string) string {
	if text == "" {
		return ""
	}
	var found string
	for k, v := range answers {
		if v == text && (found == "" || k < found) {
			found = k
		}
	}
	return found
}

// decodeSession reads a session written by encodeSession (or the JSON
// object of flows.Session written before).
func decodeSession(raw []byte) (flows.Session, error) {
	var sess flows.Session
	if bytes.HasPrefix(raw, []byte("{")) {
		err := json.Unmarshal(raw, &sess)
		return sess, err
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil {
		return flows.Session{}, err
	}
	var distress []storedDistress
	for i, p := range sessionFields(&sess, &distress) {
		if i >= len(parts) { // trailing zeros left out
			break
		}
		if b, ok := p.(*bool); ok {
			*b = string(parts[i]) == "1"
			continue
		}
		if string(parts[i]) == "0" {
			continue
		}
		if err := json.Unmarshal(parts[i], p); err != nil {
			return flows.Session{}, fmt.Errorf("stored session field %d: %w", i, err)
		}
	}
	for _, sd := range distress {
		d := flows.Distress{At: time.UnixMilli(sd.At).UTC(), Text: sd.Text}
		if sd.Of != "" {
			d.Text = sess.Answers[sd.Of]
		}
		sess.Distress = append(sess.Distress, d)
	}
	return sess, nil
}
