package handlers

import (
	"encoding/json"
	"regexp"
	"testing"
	"unicode/utf8"
)

var pageMessageID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// FuzzChatRequest feeds POST /chat/send bodies to the parser: what it
// accepts has a message ID as the page makes them and a choice no longer
// than a button's, and writing it back as the page would reads the same.
func FuzzChatRequest(f *testing.F) {
	for _, s := range []string{`{"id":"m1","text":"/start","choice":"","lang":"vi-VN"}`, `{"id":"m2","choice":"m:report","queued":true}`,
		`{"id":"../../x","text":"hi"}`, `{"text":"hi"}`, `{"id":"a","text":"\u0000\u202e","choice":"` + string(make([]byte, 65)) + `"}`,
		`{"id":"a","ID":"b"}`, `{"id":1}`, `[]`, `null`, "\xff", `{"id":"é"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := parseChatRequest(body)
		if err != nil {
			return
		}
		if !pageMessageID.MatchString(in.ID) || len(in.Choice) > 64 {
			t.Fatalf("accepted %q: %+v", body, in)
		}
		again, err := json.Marshal(chatRequest{ID: in.ID, Text: in.Text, Choice: in.Choice, Lang: in.Lang, Queued: in.Queued})
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseChatRequest(again)
		if err != nil {
			t.Fatalf("written back %s, refused: %v", again, err)
		}
		// json.Marshal writes invalid UTF-8 as U+FFFD: compare what survives.
		if back.ID != in.ID || back.Queued != in.Queued || (validUTF8(in.Text) && back.Text != in.Text) ||
			(validUTF8(in.Choice) && back.Choice != in.Choice) {
			t.Fatalf("round trip: %+v → %s → %+v", in, again, back)
		}
	})
}

func validUTF8(s string) bool { return utf8.ValidString(s) }
