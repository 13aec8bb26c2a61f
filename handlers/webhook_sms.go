package handlers

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"tinbao/bot/sms"
	"tinbao/bot/sms/smsgate"
	"tinbao/bot/sms/twilio"
)

// SMS is the SMS channel as its webhooks need it.
type SMS struct {
	Adapter  *sms.Adapter
	Receipts Receipts
	// TwilioToken checks X-Twilio-Signature; empty: Twilio is off (404).
	TwilioToken string
	// PublicURL is the base URL Twilio was given: signatures are computed
	// over it and the path, never over the request's Host header.
	PublicURL string
	// GatewayKey checks the SMS gateway's X-Signature; empty: off (404).
	GatewayKey string
	// Busy is said, by Twilio itself, to someone whose SMS could be neither
	// handled nor kept (Redis away): Twilio does not retry, so the person
	// must know to send again.
	Busy string
	// Later is said to someone whose SMS is kept to be handled later
	// (sms.ErrHeld): the answer is late, and need not be asked for again.
	Later string
	// Now is the clock for the gateway's timestamps; nil: time.Now.
	Now func() time.Time
}

// Receipts applies delivery receipts to the outbox (storage).
type Receipts interface {
	RecordReceipt(ctx context.Context, providerID, status, errorCode string) (bool, error)
}

// readWebhook caps and reads a webhook body: 413 when too big.
func readWebhook(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, r, http.StatusRequestEntityTooLarge, "body too large")
			return nil, false
		}
		fail(w, r, http.StatusBadRequest, "could not read body")
		return nil, false
	}
	return body, true
}

// twilioForm authenticates a Twilio webhook and returns its form: 404 when
// Twilio is off, 403 on a wrong or missing signature, 400 when malformed.
func (h *Handlers) twilioForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if h.cfg.SMS == nil || h.cfg.SMS.TwilioToken == "" {
		fail(w, r, http.StatusNotFound, "twilio is not enabled")
		return nil, false
	}
	body, ok := readWebhook(w, r)
	if !ok {
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		fail(w, r, http.StatusBadRequest, "not a form")
		return nil, false
	}
	if !twilio.Valid(h.cfg.SMS.TwilioToken, h.cfg.SMS.PublicURL+r.URL.RequestURI(), form, r.Header.Get("X-Twilio-Signature")) {
		fail(w, r, http.StatusForbidden, "wrong or missing X-Twilio-Signature")
		return nil, false
	}
	return form, true
}

// twiml answers Twilio: an empty response (replies go out through the API,
// each with its delivery state), or one message Twilio sends itself.
func twiml(w http.ResponseWriter, message string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if message == "" {
		io.WriteString(w, xml.Header+"<Response/>")
		return
	}
	io.WriteString(w, xml.Header+"<Response><Message>")
	xml.EscapeText(w, []byte(message))
	io.WriteString(w, "</Message></Response>")
}

// twilioSMS takes an SMS received by Twilio. A replayed MessageSid changes
// nothing. Twilio does not retry a failed webhook: every SMS is queued in
// Redis before it is handled (sms.Adapter.HoldFor), and what cannot be
// handled now is handled later; only when it cannot be queued either is the
// person told, through Twilio, to send again.
func (h *Handlers) twilioSMS(w http.ResponseWriter, r *http.Request) {
	form, ok := h.twilioForm(w, r)
	if !ok {
		return
	}
	in, err := twilio.Inbound(form)
	if err != nil {
		fail(w, r, http.StatusBadRequest, "not an inbound SMS")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), handleTimeout)
	defer cancel()
	err = h.cfg.SMS.Adapter.Receive(ctx, in)
	if errors.Is(err, sms.ErrHeld) {
		twiml(w, h.cfg.SMS.Later)
		return
	}
	if err != nil {
		h.log.ErrorContext(ctx, "sms failed", "request_id", requestID(r.Context()), "provider", twilio.Name, "err", err)
		twiml(w, h.cfg.SMS.Busy)
		return
	}
	twiml(w, "")
}

// twilioStatus takes a status callback: the outbox row moves forward only,
// whatever order callbacks come in; 21610 means the number unsubscribed.
func (h *Handlers) twilioStatus(w http.ResponseWriter, r *http.Request) {
	form, ok := h.twilioForm(w, r)
	if !ok {
		return
	}
	st, err := twilio.StatusOf(form)
	if err != nil {
		fail(w, r, http.StatusBadRequest, "not a status callback")
		return
	}
	ctx := r.Context()
	if st.ErrorCode == "21610" && st.To != "" {
		if err := h.cfg.SMS.Adapter.OptOutNumber(ctx, twilio.Name, st.To); err != nil {
			h.log.ErrorContext(ctx, "sms opt-out", "request_id", requestID(ctx), "err", err)
			fail(w, r, http.StatusServiceUnavailable, "temporarily unavailable, please retry")
			return
		}
	}
	if st.Status != "" {
		if _, err := h.cfg.SMS.Receipts.RecordReceipt(ctx, st.SID, st.Status, st.ErrorCode); err != nil {
			h.log.ErrorContext(ctx, "sms receipt", "request_id", requestID(ctx), "err", err)
			fail(w, r, http.StatusServiceUnavailable, "temporarily unavailable, please retry")
			return
		}
	}
	twiml(w, "")
}

// smsgateWebhook takes every event of the SMS gateway. The gateway retries
// for two days until it gets a 2xx, so a 2xx goes back only once the effect
// is durable: wrong signature or stale timestamp → 401, malformed → 400,
// not durable → 503, a replayed event ID → 200 with no new effect.
func (h *Handlers) smsgateWebhook(w http.ResponseWriter, r *http.Request) {
	if h.cfg.SMS == nil || h.cfg.SMS.GatewayKey == "" {
		fail(w, r, http.StatusNotFound, "the SMS gateway is not enabled")
		return
	}
	body, ok := readWebhook(w, r)
	if !ok {
		return
	}
	now := time.Now
	if h.cfg.SMS.Now != nil {
		now = h.cfg.SMS.Now
	}
	if err := smsgate.Verify(h.cfg.SMS.GatewayKey, body, r.Header.Get("X-Signature"), r.Header.Get("X-Timestamp"), now()); err != nil {
		fail(w, r, http.StatusUnauthorized, "wrong signature or stale timestamp")
		return
	}
	e, err := smsgate.Parse(body)
	if err != nil {
		fail(w, r, http.StatusBadRequest, "not an SMS gateway event")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), handleTimeout)
	defer cancel()
	switch {
	case e.Type == "sms:received":
		err = h.cfg.SMS.Adapter.Receive(ctx, e.Inbound())
	case e.Receipt() != "":
		reason := e.Reason
		if len(reason) > 64 {
			reason = reason[:64]
		}
		_, err = h.cfg.SMS.Receipts.RecordReceipt(ctx, e.MessageID, e.Receipt(), reason)
	}
	if err != nil {
		h.log.ErrorContext(ctx, "sms gateway event failed", "request_id", requestID(r.Context()), "event", e.Type, "err", err)
		fail(w, r, http.StatusServiceUnavailable, "temporarily unavailable, please retry")
		return
	}
	w.WriteHeader(http.StatusOK)
}
