// Package smstest fakes both SMS providers at the HTTP boundary, speaking
// their real wire protocols, so that tinbao's real clients talk to them in
// tests and from a terminal (fakesms): Twilio's Messages API with its signed
// status callbacks and inbound webhooks, and SMS Gateway for Android's send
// endpoint with its signed events. It imports nothing of tinbao's: the
// signatures are computed here independently.
package smstest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// Message is one SMS a fake was asked to send.
type Message struct {
	ID             string // Twilio SID, or the gateway message ID
	To, From, Body string
	StatusCallback string // Twilio
	Segments       int
	At             time.Time
}

type fake struct {
	mu     sync.Mutex
	msgs   []Message
	fails  []failure
	notify chan struct{}
}

type failure struct {
	status int
	code   int
}

func newFake() fake { return fake{notify: make(chan struct{}, 1)} }

func (f *fake) record(m Message) {
	f.mu.Lock()
	f.msgs = append(f.msgs, m)
	f.mu.Unlock()
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

func (f *fake) nextFailure() (failure, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fails) == 0 {
		return failure{}, false
	}
	x := f.fails[0]
	f.fails = f.fails[1:]
	return x, true
}

// Messages lists what was sent, in order.
func (f *fake) Messages() []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.msgs...)
}

// SentTo lists what was sent to one number.
func (f *fake) SentTo(to string) []Message {
	var out []Message
	for _, m := range f.Messages() {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// WaitSent waits until n messages went to a number, or timeout.
func (f *fake) WaitSent(to string, n int, timeout time.Duration) []Message {
	deadline := time.Now().Add(timeout)
	for {
		got := f.SentTo(to)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		select {
		case <-f.notify:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// segments counts an SMS's parts as a phone would: GSM-7 when every
// character is ASCII printable or newline (a simplification of GSM 03.38
// that suffices for a fake), else UCS-2.
func segments(s string) string {
	ascii := true
	for _, r := range s {
		if r > 126 || (r < 32 && r != '\n' && r != '\r') {
			ascii = false
		}
	}
	n, single, per := len(s), 160, 153
	if !ascii {
		n, single, per = len(utf16.Encode([]rune(s))), 70, 67
	}
	if n <= single {
		return "1"
	}
	return strconv.Itoa((n + per - 1) / per)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Twilio fakes Twilio's Messages API.
type Twilio struct {
	fake
	*httptest.Server
	AccountSID, AuthToken string
}

// NewTwilio starts a fake Twilio; close it with Close.
func NewTwilio(accountSID, authToken string) *Twilio {
	t := &Twilio{fake: newFake(), AccountSID: accountSID, AuthToken: authToken}
	t.Server = httptest.NewServer(http.HandlerFunc(t.serve))
	return t
}

// Handler serves the fake's API, for a server of one's own (fakesms).
func (t *Twilio) Handler() http.Handler { return http.HandlerFunc(t.serve) }

// FailNext makes the next n sends fail with an HTTP status and Twilio error
// code: 429 (code 20429), 500, or 400 with 21610 (unsubscribed), 21211
// (invalid number), 21614 (not a mobile).
func (t *Twilio) FailNext(n, status, code int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for range n {
		t.fails = append(t.fails, failure{status: status, code: code})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (t *Twilio) serve(w http.ResponseWriter, r *http.Request) {
	want := "/2010-04-01/Accounts/" + t.AccountSID + "/Messages.json"
	if r.Method != http.MethodPost || r.URL.Path != want {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 20404, "message": "not found", "status": 404})
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != t.AccountSID || p != t.AuthToken {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 20003, "message": "Authenticate", "status": 401})
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("To") == "" || r.PostForm.Get("Body") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 21604, "message": "A 'To' and 'Body' are required", "status": 400})
		return
	}
	if f, ok := t.nextFailure(); ok {
		writeJSON(w, f.status, map[string]any{"code": f.code, "message": fmt.Sprintf("fake failure %d", f.code),
			"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", f.code), "status": f.status})
		return
	}
	m := Message{ID: "SM" + randomHex(16), To: r.PostForm.Get("To"), From: r.PostForm.Get("From"),
		Body: r.PostForm.Get("Body"), StatusCallback: r.PostForm.Get("StatusCallback"), At: time.Now()}
	n, _ := strconv.Atoi(segments(m.Body))
	m.Segments = n
	t.record(m)
	writeJSON(w, http.StatusCreated, map[string]any{
		"sid": m.ID, "account_sid": t.AccountSID, "to": m.To, "from": m.From, "body": m.Body,
		"status": "queued", "num_segments": segments(m.Body), "direction": "outbound-api", "api_version": "2010-04-01",
		"date_created": time.Now().UTC().Format(time.RFC1123Z), "price": nil, "error_code": nil,
		"uri": want[:len(want)-5] + "/" + m.ID + ".json",
	})
}

// SignTwilio computes X-Twilio-Signature: base64 HMAC-SHA1 of the URL and
// every parameter (key then value, keys sorted).
func SignTwilio(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		for _, v := range form[k] {
			b.WriteString(k + v)
		}
	}
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// PostSigned posts a form as Twilio would: to postURL, signed for signedURL
// (the public URL Twilio was given, which a proxy may rewrite).
func (t *Twilio) PostSigned(postURL, signedURL string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, postURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", SignTwilio(t.AuthToken, signedURL, form))
	return http.DefaultClient.Do(req)
}

// InboundForm is the form Twilio posts for a received SMS.
func (t *Twilio) InboundForm(sid, from, to, body string) url.Values {
	return url.Values{"MessageSid": {sid}, "SmsMessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {t.AccountSID},
		"From": {from}, "To": {to}, "Body": {body}, "NumMedia": {"0"}, "NumSegments": {segments(body)},
		"SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"}, "FromCountry": {"VN"}, "ToCountry": {"US"}}
}

// Callback fires a status callback for a sent message, to the URL it was
// sent with (signed for that URL); errorCode is set for failed/undelivered.
func (t *Twilio) Callback(m Message, status, errorCode string) (*http.Response, error) {
	form := url.Values{"MessageSid": {m.ID}, "SmsSid": {m.ID}, "MessageStatus": {status}, "SmsStatus": {status},
		"AccountSid": {t.AccountSID}, "From": {m.From}, "To": {m.To}, "ApiVersion": {"2010-04-01"}}
	if errorCode != "" {
		form.Set("ErrorCode", errorCode)
	}
	return t.PostSigned(m.StatusCallback, m.StatusCallback, form)
}

// Gateway fakes SMS Gateway for Android's send endpoint.
type Gateway struct {
	fake
	*httptest.Server
	Username, Password string
	seen               map[string]bool
}

// NewGateway starts a fake gateway; its send endpoint is URL + "/message".
func NewGateway(username, password string) *Gateway {
	g := &Gateway{fake: newFake(), Username: username, Password: password, seen: map[string]bool{}}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	return g
}

// Handler serves the fake's API, for a server of one's own (fakesms).
func (g *Gateway) Handler() http.Handler { return http.HandlerFunc(g.serve) }

// FailNext makes the next n sends answer with an HTTP status (500, 429, 400).
func (g *Gateway) FailNext(n, status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for range n {
		g.fails = append(g.fails, failure{status: status})
	}
}

type gatewayRequest struct {
	ID          string `json:"id"`
	TextMessage struct {
		Text string `json:"text"`
	} `json:"textMessage"`
	PhoneNumbers       []string `json:"phoneNumbers"`
	WithDeliveryReport bool     `json:"withDeliveryReport"`
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || (r.URL.Path != "/message" && r.URL.Path != "/3rdparty/v1/messages") {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "not found"})
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != g.Username || p != g.Password {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "unauthorized"})
		return
	}
	var req gatewayRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || len(req.PhoneNumbers) == 0 ||
		req.TextMessage.Text == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "invalid request"})
		return
	}
	if f, ok := g.nextFailure(); ok {
		writeJSON(w, f.status, map[string]any{"message": fmt.Sprintf("fake failure %d", f.status)})
		return
	}
	if req.ID == "" {
		req.ID = randomHex(10)
	}
	g.mu.Lock()
	dup := g.seen[req.ID]
	g.seen[req.ID] = true
	g.mu.Unlock()
	if !dup { // the same ID again is the same message: sent once
		n, _ := strconv.Atoi(segments(req.TextMessage.Text))
		g.record(Message{ID: req.ID, To: req.PhoneNumbers[0], Body: req.TextMessage.Text, Segments: n, At: time.Now()})
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"id": req.ID, "state": "Pending", "isHashed": false,
		"isEncrypted": false, "recipients": []map[string]any{{"phoneNumber": req.PhoneNumbers[0], "state": "Pending"}}})
}

// SignGateway computes X-Signature: hex HMAC-SHA256 of the body followed by
// the timestamp.
func SignGateway(key string, body []byte, timestamp string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	m.Write([]byte(timestamp))
	return hex.EncodeToString(m.Sum(nil))
}

// Event posts one signed webhook event to url, as the gateway does, with its
// own event ID (returned); at is the timestamp it carries.
func Event(url, key, event string, payload map[string]any, at time.Time) (string, *http.Response, error) {
	id := randomHex(11)
	resp, err := EventWithID(url, key, id, event, payload, at)
	return id, resp, err
}

// EventWithID posts an event with a given ID: a retry of the same event.
func EventWithID(url, key, id, event string, payload map[string]any, at time.Time) (*http.Response, error) {
	body, _ := json.Marshal(map[string]any{"deviceId": "fake-phone", "event": event, "id": id, "payload": payload,
		"webhookId": "fake-hook"})
	ts := strconv.FormatInt(at.Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Signature", SignGateway(key, body, ts))
	return http.DefaultClient.Do(req)
}

// Received is the payload of an sms:received event.
func Received(phone, text string) map[string]any {
	return map[string]any{"messageId": randomHex(8), "message": text, "phoneNumber": phone, "simNumber": 1,
		"receivedAt": time.Now().Format("2006-01-02T15:04:05.000-07:00")}
}

// Report is the payload of an sms:sent, sms:delivered or sms:failed event
// for a message we sent.
func Report(m Message, event string) map[string]any {
	p := map[string]any{"messageId": m.ID, "phoneNumber": m.To}
	switch event {
	case "sms:sent":
		p["sentAt"] = time.Now().Format(time.RFC3339)
	case "sms:delivered":
		p["deliveredAt"] = time.Now().Format(time.RFC3339)
	case "sms:failed":
		p["failedAt"], p["reason"] = time.Now().Format(time.RFC3339), "RESULT_ERROR_GENERIC_FAILURE"
	}
	return p
}
