package telegram

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"tinbao/bot"
	"tinbao/bot/telegram/telegramtest"
	"tinbao/identity"
)

// FuzzParseUpdate feeds webhook bodies to ParseUpdate and the update to the
// adapter's conversion: an accepted update has a positive ID and survives a
// round trip through JSON; a taken message is keyed by the chat's
// pseudonym, and carries none of the sender's names or username unless the
// person typed them.
func FuzzParseUpdate(f *testing.F) {
	files, _ := filepath.Glob("telegramtest/testdata/*.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{`{}`, `{"update_id":0}`, `{"update_id":-1,"message":{}}`, `{"update_id":1e3}`,
		`{"update_id":9223372036854775807,"message":{"chat":{"id":-1,"type":"private"},"text":"\u0000"}}`,
		`{"update_id":2,"callback_query":{"id":"x","from":{"id":5},"message":{"chat":{"id":5,"type":"private"},"date":0}}}`,
		`{"update_id":3,"callback_query":{"id":"x","from":{"id":5},"message":{"date":0}}}`, `null`, `[]`, "\xff"} {
		f.Add([]byte(s))
	}
	// A Bot API that says yes to everything, at once: a callback query's
	// answer and keyboard removal go there.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"result":true}`)
	}))
	defer api.Close()
	keys, err := identity.ParseKeyring(strings.Repeat("cd", 32))
	if err != nil {
		f.Fatal(err)
	}
	a, err := New(Config{Token: telegramtest.Token, APIURL: api.URL}, nil, keys, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := ParseUpdate(body)
		if err != nil {
			return
		}
		if u.ID <= 0 {
			t.Fatalf("accepted update_id %d", u.ID)
		}
		again, err := json.Marshal(u)
		if err != nil {
			return // a float such as NaN cannot be written back; not ours to fix
		}
		v, err := ParseUpdate(again)
		if err != nil || v.ID != u.ID || (u.Message == nil) != (v.Message == nil) || (u.CallbackQuery == nil) != (v.CallbackQuery == nil) ||
			(u.Message != nil && (v.Message.Text != u.Message.Text || v.Message.Chat.ID != u.Message.Chat.ID)) {
			t.Fatalf("round trip changed the update: %s\n→ %s (%v)", body, again, err)
		}
		m, chatID, ok := a.message(u)
		if !ok {
			return
		}
		handle := strconv.FormatInt(chatID, 10)
		if m.Handle != handle || m.Sender != keys.Pseudonym(bot.ChannelTelegram, handle) || m.MessageID != strconv.FormatInt(u.ID, 10) ||
			m.Channel != bot.ChannelTelegram {
			t.Fatalf("message %+v for chat %d", m, chatID)
		}
		typed := ""
		var names []string
		if msg := u.Message; msg != nil {
			typed = msg.Text + msg.Caption
			names = append(names, msg.Chat.FirstName, msg.Chat.LastName, msg.Chat.Username)
			if msg.From != nil {
				typed += msg.From.LanguageCode
				names = append(names, msg.From.FirstName, msg.From.LastName, msg.From.Username)
			}
		}
		if q := u.CallbackQuery; q != nil {
			typed = q.Data + q.From.LanguageCode
			names = append(names, q.From.FirstName, q.From.LastName, q.From.Username)
		}
		shown := fmt.Sprintf("%+v", bot.Message{Text: m.Text, Choice: m.Choice, LangHint: m.LangHint, Media: m.Media})
		for _, n := range names {
			if len(n) >= 4 && !strings.Contains(typed, n) && strings.Contains(shown, n) {
				t.Fatalf("the name %q reached the message: %s", n, shown)
			}
		}
	})
}
