// Package smsgate is the provider for SMS Gateway for Android: an Android
// phone with a Vietnamese SIM that receives SMS and posts each to a signed
// webhook, and sends SMS through a small REST API. It is the simplest
// two-way SMS route inside Vietnam, where Twilio cannot receive. (Its own Go
// client is not served by the module proxy here; the API is small.)
package smsgate

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"tinbao/bot"
	"tinbao/bot/sms"
)

// Name is the provider's name in handles and message IDs.
const Name = "smsgate"

// Config is what the provider needs from tinbao's configuration.
type Config struct {
	// URL is the full send endpoint: http://PHONE:8080/message (the app's
	// local mode) or https://HOST/3rdparty/v1/messages (its server).
	URL                string
	Username, Password string
	// TTL is how long the phone keeps trying to send one SMS; default 1 h.
	TTL time.Duration
}

// Client sends SMS through the gateway.
type Client struct {
	cfg  Config
	http *http.Client
}

// New builds the client; it does not call the gateway.
func New(cfg Config) *Client {
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	return &Client{cfg: cfg, http: &http.Client{Timeout: 20 * time.Second}}
}

type sendRequest struct {
	ID                 string      `json:"id,omitempty"`
	TextMessage        textMessage `json:"textMessage"`
	PhoneNumbers       []string    `json:"phoneNumbers"`
	WithDeliveryReport bool        `json:"withDeliveryReport"`
	TTL                int         `json:"ttl,omitempty"`
}

type textMessage struct {
	Text string `json:"text"`
}

type sendResponse struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

// Send asks the phone to send one SMS. The key becomes the message's ID, so
// a retried send is the same message, and the gateway's sent / delivered /
// failed events name it.
func (c *Client) Send(ctx context.Context, to, text, key string) (string, error) {
	body, _ := json.Marshal(sendRequest{ID: key, TextMessage: textMessage{Text: text}, PhoneNumbers: []string{to},
		WithDeliveryReport: true, TTL: int(c.cfg.TTL.Seconds())})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("smsgate: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("smsgate: %w", err) // the phone is off or out of reach: retried
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return "", &bot.RetryAfterError{After: retryAfter(resp.Header.Get("Retry-After")), Err: errors.New("smsgate: too many requests")}
	case resp.StatusCode == http.StatusBadRequest:
		return "", fmt.Errorf("%w: smsgate refused the message (HTTP 400)", bot.ErrUndeliverable)
	case resp.StatusCode >= 300:
		return "", fmt.Errorf("smsgate: HTTP %d", resp.StatusCode) // auth, 5xx: retried
	}
	var r sendResponse
	if err := json.Unmarshal(raw, &r); err != nil || r.ID == "" {
		if key != "" {
			return key, nil // accepted; its events will name our ID
		}
		return "", fmt.Errorf("smsgate: unreadable answer")
	}
	return r.ID, nil
}

func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 5 * time.Second
}

// MaxSkew is how far a webhook's timestamp may be from our clock.
const MaxSkew = 5 * time.Minute

// Errors of Verify and Parse.
var (
	ErrSignature = errors.New("smsgate: bad or missing signature")
	ErrStale     = errors.New("smsgate: timestamp too far from now")
	ErrMalformed = errors.New("smsgate: malformed event")
)

// Sign computes X-Signature: hex HMAC-SHA256 of the raw body followed by the
// X-Timestamp value.
func Sign(key string, body []byte, timestamp string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	m.Write([]byte(timestamp))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a webhook's signature (in constant time) and its freshness.
func Verify(key string, body []byte, signature, timestamp string, now time.Time) error {
	want, err := hex.DecodeString(Sign(key, body, timestamp))
	got, gerr := hex.DecodeString(signature)
	if err != nil || gerr != nil || key == "" || !hmac.Equal(want, got) {
		return ErrSignature
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > MaxSkew || d < -MaxSkew {
		return ErrStale
	}
	return nil
}

// Event is one webhook of the gateway.
type Event struct {
	ID        string // the event's own ID: the dedupe key
	Type      string // sms:received, sms:sent, sms:delivered, sms:failed, system:ping
	MessageID string // ours (sent, delivered, failed); the gateway's (received)
	Phone     string
	Text      string // received
	Reason    string // failed
	// ReceivedAt is when the SMS reached the gateway phone, as the phone
	// reports it (usually the SMS centre's timestamp, in whole seconds);
	// zero when missing or unreadable. A retried event keeps it.
	ReceivedAt time.Time
}

type wireEvent struct {
	ID      string `json:"id"`
	Event   string `json:"event"`
	Payload struct {
		MessageID   string `json:"messageId"`
		Message     string `json:"message"`
		PhoneNumber string `json:"phoneNumber"`
		Reason      string `json:"reason"`
		ReceivedAt  string `json:"receivedAt"`
	} `json:"payload"`
}

// Parse reads a webhook body.
func Parse(body []byte) (Event, error) {
	var w wireEvent
	if err := json.Unmarshal(body, &w); err != nil || w.ID == "" || w.Event == "" {
		return Event{}, ErrMalformed
	}
	e := Event{ID: w.ID, Type: w.Event, MessageID: w.Payload.MessageID, Phone: w.Payload.PhoneNumber,
		Text: w.Payload.Message, Reason: w.Payload.Reason}
	switch e.Type {
	case "sms:received":
		if e.Phone == "" {
			return Event{}, ErrMalformed
		}
		// "2024-06-22T15:46:11.000+07:00"; an SMS without a readable
		// time is still taken (as received when it reached us).
		e.ReceivedAt, _ = time.Parse(time.RFC3339, w.Payload.ReceivedAt)
	case "sms:sent", "sms:delivered", "sms:failed":
		if e.MessageID == "" {
			return Event{}, ErrMalformed
		}
	}
	return e, nil
}

// Inbound is a received SMS as the adapter takes it: deduplicated on the
// event's ID, not on payload.messageId, which the gateway derives from the
// content and does not keep unique.
func (e Event) Inbound() sms.Inbound {
	return sms.Inbound{Provider: Name, ID: e.ID, From: e.Phone, Text: e.Text, At: e.ReceivedAt}
}

// Receipt is the outbox's word for a sent / delivered / failed event, or "".
func (e Event) Receipt() string {
	switch e.Type {
	case "sms:sent":
		return "sent"
	case "sms:delivered":
		return "delivered"
	case "sms:failed":
		return "failed"
	}
	return ""
}
