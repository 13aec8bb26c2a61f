package smsgate

import (
	"strconv"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	now := time.Unix(1764230400, 0)
	body := []byte(`{"id":"Ey6ECgOkVVFjz3CL48B8C","event":"sms:received","payload":{"messageId":"abc","message":"GIUP","phoneNumber":"+84901234567"}}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	// A vector computed apart (Python's hmac): HMAC-SHA256(key, body + ts).
	const sig = "e128b0ab4263eee56bf9088978e3b71aaa0b6cdb5018e79038990550522b169b"
	if got := Sign("signing-key", body, ts); got != sig {
		t.Errorf("Sign = %s, want %s", got, sig)
	}
	if err := Verify("signing-key", body, sig, ts, now.Add(4*time.Minute)); err != nil {
		t.Errorf("a good signature: %v", err)
	}
	for name, c := range map[string]struct {
		key, sig, ts string
		at           time.Time
		want         error
	}{
		"wrong key":        {"other-key", sig, ts, now, ErrSignature},
		"no signature":     {"signing-key", "", ts, now, ErrSignature},
		"not hex":          {"signing-key", "zz", ts, now, ErrSignature},
		"other timestamp":  {"signing-key", sig, strconv.FormatInt(now.Unix()+1, 10), now, ErrSignature},
		"six minutes late": {"signing-key", sig, ts, now.Add(6 * time.Minute), ErrStale},
		"from the future":  {"signing-key", sig, ts, now.Add(-6 * time.Minute), ErrStale},
		"no key set":       {"", Sign("", body, ts), ts, now, ErrSignature},
	} {
		if err := Verify(c.key, body, c.sig, c.ts, c.at); err != c.want {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	e, err := Parse([]byte(`{"deviceId":"d1","event":"sms:received","id":"ev1","payload":{"messageId":"m1","message":"cuu toi","phoneNumber":"0901234567","simNumber":1,"receivedAt":"2024-06-22T15:46:11.000+07:00"},"webhookId":"w1"}`))
	if err != nil || e.ID != "ev1" || e.Inbound().ID != "ev1" || e.Inbound().Text != "cuu toi" || e.Inbound().From != "0901234567" {
		t.Errorf("received: %+v, %v", e, err)
	}
	if at := e.Inbound().At; !at.Equal(time.Date(2024, 6, 22, 8, 46, 11, 0, time.UTC)) {
		t.Errorf("received at %v, want the phone's receivedAt", at)
	}
	// Without a readable time, the SMS is still taken (its time unknown).
	e, err = Parse([]byte(`{"event":"sms:received","id":"ev3","payload":{"message":"cuu toi","phoneNumber":"0901234567","receivedAt":"hôm qua"}}`))
	if err != nil || !e.Inbound().At.IsZero() || e.Text != "cuu toi" {
		t.Errorf("received with an unreadable time: %+v, %v", e, err)
	}
	e, err = Parse([]byte(`{"event":"sms:failed","id":"ev2","payload":{"messageId":"tinbao-7","phoneNumber":"+84901234567","reason":"RESULT_ERROR_GENERIC_FAILURE"}}`))
	if err != nil || e.Receipt() != "failed" || e.MessageID != "tinbao-7" || e.Reason == "" {
		t.Errorf("failed: %+v, %v", e, err)
	}
	for _, bad := range []string{``, `{}`, `{"id":"x"}`, `{"id":"x","event":"sms:sent","payload":{}}`, `[1]`,
		`{"id":"x","event":"sms:received","payload":{"message":"hi"}}`} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
