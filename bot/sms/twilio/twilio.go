// Package twilio is the Twilio SMS provider, through twilio-go: sending with
// a status callback, and reading Twilio's signed webhooks. Twilio cannot
// receive SMS in Vietnam; it serves people who write from abroad to a
// Twilio number, and outbound SMS with a registered sender.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	twilio "github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"tinbao/bot"
	"tinbao/bot/sms"
)

// Name is the provider's name in handles and message IDs.
const Name = "twilio"

// Config is what the provider needs from tinbao's configuration.
type Config struct {
	AccountSID, AuthToken, From string
	// APIURL is Twilio's API base; another one (a fake in tests) is reached
	// by rewriting the host in the HTTP transport: twilio-go has no
	// base-URL option.
	APIURL string
	// StatusCallback is where Twilio reports each message's state:
	// PUBLIC_URL + /webhooks/twilio/status.
	StatusCallback string
}

// Client sends SMS through Twilio.
type Client struct {
	rc       *twilio.RestClient
	from     string
	callback string
}

// New builds the client; it does not call Twilio.
func New(cfg Config) (*Client, error) {
	target, err := url.Parse(cfg.APIURL)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("twilio: bad API URL %q", cfg.APIURL)
	}
	var rt http.RoundTripper = http.DefaultTransport
	if target.Host != "api.twilio.com" {
		rt = rewrite{target: target, rt: rt}
	}
	c := &client.Client{
		Credentials: client.NewCredentials(cfg.AccountSID, cfg.AuthToken),
		HTTPClient: &http.Client{Transport: rt, Timeout: 15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	c.SetAccountSid(cfg.AccountSID) // with a client of our own, twilio-go does not set it
	return &Client{rc: twilio.NewRestClientWithParams(twilio.ClientParams{Client: c}), from: cfg.From,
		callback: cfg.StatusCallback}, nil
}

// rewrite sends every request to another host: a fake Twilio in tests.
type rewrite struct {
	target *url.URL
	rt     http.RoundTripper
}

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = r.target.Scheme, r.target.Host, r.target.Host
	return r.rt.RoundTrip(req)
}

// Send sends one SMS and returns its SID. Twilio has no idempotency key for
// sends, so key is unused: the outbox's lease keeps duplicates rare.
func (c *Client) Send(ctx context.Context, to, text, key string) (string, error) {
	p := &openapi.CreateMessageParams{}
	p.SetTo(to).SetFrom(c.from).SetBody(text)
	if c.callback != "" {
		p.SetStatusCallback(c.callback)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	msg, err := c.rc.Api.CreateMessage(p) // twilio-go takes no context
	if err != nil {
		return "", classify(err)
	}
	if msg.Sid == nil || *msg.Sid == "" {
		return "", errors.New("twilio: no SID in the answer")
	}
	return *msg.Sid, nil
}

// classify tells the outbox what a Twilio error means.
func classify(err error) error {
	var te *client.TwilioRestError
	if !errors.As(err, &te) {
		return err // network: retried
	}
	switch {
	case te.Code == 21610: // the number sent STOP to Twilio
		return fmt.Errorf("twilio %d: %w", te.Code, sms.ErrOptedOut)
	case te.Code == 21211 || te.Code == 21614 || te.Code == 21408: // invalid, not a mobile, region off
		return fmt.Errorf("%w: twilio %d", bot.ErrUndeliverable, te.Code)
	case te.Status == http.StatusTooManyRequests:
		return &bot.RetryAfterError{After: time.Second, Err: fmt.Errorf("twilio %d: too many requests", te.Code)}
	}
	return fmt.Errorf("twilio %d (HTTP %d)", te.Code, te.Status) // 5xx, auth, …: retried
}

// Valid checks a webhook's X-Twilio-Signature against the URL Twilio was
// given (PUBLIC_URL + path, never the request's Host) and the form.
func Valid(authToken, fullURL string, form url.Values, signature string) bool {
	if signature == "" {
		return false
	}
	params := make(map[string]string, len(form))
	for k, v := range form {
		params[k] = v[0] // as twilio-go's ValidateBody: SMS webhooks repeat no key
	}
	v := client.NewRequestValidator(authToken)
	return v.Validate(fullURL, params, signature)
}

// ErrMalformed means a webhook lacks what Twilio always sends.
var ErrMalformed = errors.New("twilio: malformed webhook")

// Inbound reads a received SMS from Twilio's form.
func Inbound(form url.Values) (sms.Inbound, error) {
	sid, from := form.Get("MessageSid"), form.Get("From")
	if sid == "" || from == "" {
		return sms.Inbound{}, ErrMalformed
	}
	return sms.Inbound{Provider: Name, ID: sid, From: from, Text: form.Get("Body")}, nil
}

// Status is one status callback.
type Status struct {
	SID       string
	Status    string // the outbox's word: sending, sent, delivered, failed, undelivered; "" to ignore
	ErrorCode string
	To        string
}

// StatusOf reads a status callback. States that say nothing new (queued,
// accepted, scheduled) have an empty Status; an unknown state is malformed.
func StatusOf(form url.Values) (Status, error) {
	s := Status{SID: form.Get("MessageSid"), ErrorCode: form.Get("ErrorCode"), To: form.Get("To")}
	state := form.Get("MessageStatus")
	if s.SID == "" || state == "" {
		return Status{}, ErrMalformed
	}
	switch state {
	case "queued", "accepted", "scheduled":
	case "sending":
		s.Status = "sending"
	case "sent":
		s.Status = "sent"
	case "delivered", "read", "partially_delivered":
		s.Status = "delivered"
	case "failed", "canceled":
		s.Status = "failed"
	case "undelivered":
		s.Status = "undelivered"
	default:
		return Status{}, ErrMalformed
	}
	return s, nil
}
