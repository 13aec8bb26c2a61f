package smsgate

import (
	"testing"
	"time"
)

// Whatever the gateway (or anyone) posts, parsing and verifying never panic,
// and an event that parses has what its kind needs.
func FuzzEvent(f *testing.F) {
	f.Add([]byte(`{"id":"ev1","event":"sms:received","payload":{"messageId":"m","message":"cuu toi","phoneNumber":"+84900000001"}}`), "x", "1")
	f.Add([]byte(`{"id":"ev2","event":"sms:failed","payload":{"messageId":"tinbao-1","reason":"r"}}`), "", "")
	f.Add([]byte(`{"id":1}`), "zz", "-1")
	f.Add([]byte("\xff\x00{"), "00", "99999999999999999999")
	f.Fuzz(func(t *testing.T, body []byte, sig, ts string) {
		_ = Verify("key", body, sig, ts, time.Unix(1764230400, 0))
		e, err := Parse(body)
		if err != nil {
			return
		}
		if e.ID == "" || e.Type == "" {
			t.Fatalf("parsed without id or type: %+v", e)
		}
		if e.Type == "sms:received" && e.Phone == "" {
			t.Fatalf("a received SMS without a number: %+v", e)
		}
		if e.Receipt() != "" && e.MessageID == "" {
			t.Fatalf("a receipt without the message it is for: %+v", e)
		}
	})
}
