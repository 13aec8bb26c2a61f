package telegram

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"tinbao/bot"
	"tinbao/bot/telegram/telegramtest"
	"tinbao/identity"
)

func newAdapter(t *testing.T) (*Adapter, *telegramtest.Server, *identity.Keyring) {
	t.Helper()
	fake := telegramtest.NewServer(t)
	keys, err := identity.ParseKeyring(strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Token: telegramtest.Token, APIURL: fake.URL}, nil, keys, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return a, fake, keys
}

func TestUpdatesBecomeMessages(t *testing.T) {
	a, fake, keys := newAdapter(t)
	ctx := context.Background()
	for _, tc := range []struct {
		fixture string
		ok      bool
		want    bot.Message
	}{
		{"start.json", true, bot.Message{Text: "/start", MessageID: "10001"}},
		{"text.json", true, bot.Message{Text: "Có người bị lừa sang Campuchia"}},
		{"callback_query.json", true, bot.Message{Choice: "c:send", MessageID: "10003"}},
		{"sticker.json", true, bot.Message{Unsupported: true}},
		{"edited_message.json", false, bot.Message{}}, // edits are not new answers
		{"group_text.json", false, bot.Message{}},     // tinbao talks one to one
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			u, err := ParseUpdate(telegramtest.Fixture(t, tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			m, chatID, ok := a.message(ctx, u)
			if ok != tc.ok {
				t.Fatalf("taken = %t, want %t", ok, tc.ok)
			}
			if !ok {
				return
			}
			if chatID != 42 || m.Handle != "42" || m.Channel != bot.ChannelTelegram || m.LangHint != "vi" {
				t.Errorf("message = %+v, chat %d", m, chatID)
			}
			if m.Sender != keys.Pseudonym(bot.ChannelTelegram, "42") {
				t.Errorf("sender %q is not the keyed pseudonym of the chat", m.Sender)
			}
			if tc.want.Text != "" && m.Text != tc.want.Text || tc.want.Choice != m.Choice ||
				tc.want.Unsupported != m.Unsupported || (tc.want.MessageID != "" && tc.want.MessageID != m.MessageID) {
				t.Errorf("message = %+v, want %+v", m, tc.want)
			}
		})
	}
	// The pressed button is acknowledged and its keyboard taken away.
	if n := len(fake.Calls("answerCallbackQuery")); n != 1 {
		t.Errorf("answerCallbackQuery called %d times, want 1", n)
	}
	if n := len(fake.Calls("editMessageReplyMarkup")); n != 1 {
		t.Errorf("editMessageReplyMarkup called %d times, want 1", n)
	}
}

func TestParseUpdateRefusesWhatIsNotAnUpdate(t *testing.T) {
	for _, body := range []string{``, `{`, `[]`, `{"message":{"text":"x"}}`, `"update"`} {
		if _, err := ParseUpdate([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseUpdate(%q) = %v, want ErrMalformed", body, err)
		}
	}
}

func TestSendTextClassifiesErrors(t *testing.T) {
	a, fake, _ := newAdapter(t)
	ctx := context.Background()
	id, err := a.SendText(ctx, "42", "Cảm ơn bạn")
	if err != nil || id != "1000" {
		t.Fatalf("SendText = %q, %v", id, err)
	}
	fake.FailNext("sendMessage", 1, telegramtest.TooManyRequests(7))
	var retry *bot.RetryAfterError
	if _, err := a.SendText(ctx, "42", "x"); !errors.As(err, &retry) || retry.After != 7*time.Second {
		t.Errorf("429: %v, want RetryAfterError of 7s", err)
	}
	fake.FailNext("sendMessage", 1, telegramtest.BlockedByUser)
	if _, err := a.SendText(ctx, "42", "x"); !errors.Is(err, bot.ErrUndeliverable) {
		t.Errorf("403: %v, want ErrUndeliverable", err)
	}
	fake.FailNext("sendMessage", 1, telegramtest.ChatNotFound)
	if _, err := a.SendText(ctx, "42", "x"); !errors.Is(err, bot.ErrUndeliverable) {
		t.Errorf("400 chat not found: %v, want ErrUndeliverable", err)
	}
	fake.FailNext("sendMessage", 1, telegramtest.Error{Code: 404, Description: "Not Found"})
	if _, err := a.SendText(ctx, "42", "x"); err == nil || errors.Is(err, bot.ErrUndeliverable) {
		t.Errorf("404 (a wrong API URL): %v, want a retryable error", err)
	}
	if _, err := a.SendText(ctx, "not-a-chat", "x"); err == nil {
		t.Error("a malformed handle was sent")
	}
}

// A group upgraded to a supergroup has a new ID: the message still arrives.
func TestSendTextFollowsAMigratedGroup(t *testing.T) {
	a, fake, _ := newAdapter(t)
	const oldGroup, newGroup = -4012345678, -1004012345678
	fake.FailNext("sendMessage", 1, telegramtest.ChatMigrated(newGroup))
	id, err := a.SendText(context.Background(), strconv.Itoa(oldGroup), "🔴 TB-7K3M-Q9XJ")
	if err != nil || id == "" {
		t.Fatalf("SendText = %q, %v", id, err)
	}
	if got := fake.SentTo(newGroup); len(got) != 1 || got[0].Text != "🔴 TB-7K3M-Q9XJ" {
		t.Errorf("sent to the new group: %+v", got)
	}
}
