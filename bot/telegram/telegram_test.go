package telegram

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"tinbao/bot"
	"tinbao/bot/telegram/telegramtest"
	"tinbao/flows"
	"tinbao/identity"
	"tinbao/locales"
)

func newAdapter(t *testing.T) (*Adapter, *telegramtest.Server, *identity.Keyring) {
	t.Helper()
	fake := telegramtest.NewServer(t)
	keys, err := identity.ParseKeyring(strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Token: telegramtest.Token, APIURL: fake.URL}, nil, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return a, fake, keys
}

func TestUpdatesBecomeMessages(t *testing.T) {
	a, fake, keys := newAdapter(t)
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
			m, chatID, ok := a.message(u)
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
	// The pressed button is acknowledged and its keyboard taken away, off
	// the request path.
	for _, method := range []string{"answerCallbackQuery", "editMessageReplyMarkup"} {
		deadline := time.Now().Add(5 * time.Second)
		for len(fake.Calls(method)) == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := len(fake.Calls(method)); n != 1 {
			t.Errorf("%s called %d times, want 1", method, n)
		}
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

// failingSessions is a Redis that is down.
type failingSessions struct{ bot.Sessions }

func (failingSessions) Begin(context.Context, string, string, string, string, int64) (bot.Begun, error) {
	return bot.Begun{}, errors.New("redis: connection refused")
}

// When a message cannot be made durable, the webhook answers 503 and
// Telegram sends the update again; the person is not also told to send it
// again, which would apply a resent copy twice.
func TestFailureIsSilentForTheRetry(t *testing.T) {
	fake := telegramtest.NewServer(t)
	keys, _ := identity.ParseKeyring(strings.Repeat("cd", 32))
	cat, err := locales.Load()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	runner := bot.NewRunner(flows.New(cat, flows.Options{}), failingSessions{}, nil, keys, log)
	a, err := New(Config{Token: telegramtest.Token, APIURL: fake.URL}, runner, keys, log)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseUpdate(telegramtest.Fixture(t, "text.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.HandleUpdate(context.Background(), u); err == nil {
		t.Fatal("a failed message returned no error: the webhook would answer 200")
	}
	if calls := fake.Calls("sendMessage"); len(calls) != 0 {
		t.Errorf("the person was told something (%d messages) while Telegram will retry", len(calls))
	}
}

// A button pressed by someone else than the chat's owner is not applied.
func TestCallbackFromAnotherUserIgnored(t *testing.T) {
	a, _, _ := newAdapter(t)
	u, err := ParseUpdate([]byte(`{"update_id":9,"callback_query":{"id":"1","from":{"id":777,"is_bot":false,"first_name":"X"},
		"chat_instance":"1","data":"send","message":{"message_id":5,"date":1764230400,"chat":{"id":42,"type":"private"},"text":"x"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := a.message(u); ok {
		t.Error("a press by user 777 in chat 42 was taken")
	}
}

// A file is fetched by getFile and the download URL, within the cap; a
// larger one, or one Telegram will not hand a bot, is ErrFileTooBig; an
// error never carries the token of the download URL.
func TestDownload(t *testing.T) {
	a, fake, _ := newAdapter(t)
	ctx := context.Background()
	data := []byte(strings.Repeat("x", 2000))
	fake.AddFile("file-1", data)
	got, err := a.Download(ctx, "file-1", 4096)
	if err != nil || string(got) != string(data) {
		t.Fatalf("download = %d bytes, %v", len(got), err)
	}
	if _, err := a.Download(ctx, "file-1", 1000); !errors.Is(err, ErrFileTooBig) {
		t.Errorf("over the cap: %v, want ErrFileTooBig", err)
	}
	fake.FailNext("getFile", 1, telegramtest.FileTooBig)
	if _, err := a.Download(ctx, "file-1", 4096); !errors.Is(err, ErrFileTooBig) {
		t.Errorf("over the Bot API's limit: %v, want ErrFileTooBig", err)
	}
	fake.FailNext("download", 1, telegramtest.Error{Code: 500, Description: "Internal Server Error"})
	_, err = a.Download(ctx, "file-1", 4096)
	if err == nil || strings.Contains(err.Error(), telegramtest.Token) {
		t.Errorf("a failed download: %v (must fail, without the token)", err)
	}
	a.files.Transport = failingTransport{}
	if _, err := a.Download(ctx, "file-1", 4096); err == nil || strings.Contains(err.Error(), telegramtest.Token) {
		t.Errorf("a broken connection: %v (must fail, without the token)", err)
	}
}

type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("connection reset")
}
