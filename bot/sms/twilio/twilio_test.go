package twilio

import (
	"net/url"
	"testing"
)

// Twilio's documented vector, and one of our own: a signature over
// PUBLIC_URL + path and the form.
func TestSignatureVectors(t *testing.T) {
	form := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"}}
	const docs = "https://mycompany.com/myapp.php?foo=1&bar=2"
	if !Valid("12345", docs, form, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=") {
		t.Error("Twilio's documented vector does not validate")
	}
	if Valid("12345", docs, form, "0/KCTR6DLpKmkAf8muzZqo1nDgQ") || Valid("12345", docs, form, "") ||
		Valid("54321", docs, form, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=") {
		t.Error("a wrong signature, token or none validates")
	}
	// Ours: an inbound SMS to tinbao, its signature computed apart from
	// twilio-go (HMAC-SHA1 in Python). The scheme is part of what is signed.
	in := url.Values{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "From": {"+84901234567"},
		"To": {"+15005550006"}, "Body": {"GIUP"}, "AccountSid": {"ACtest"}}
	const ours = "https://hotline.example/webhooks/twilio/sms"
	if !Valid("test-auth-token", ours, in, "ar2PhWtvbb0vZIdJ9+7ERBVDs9s=") {
		t.Error("our vector does not validate")
	}
	if Valid("test-auth-token", "http://hotline.example/webhooks/twilio/sms", in, "ar2PhWtvbb0vZIdJ9+7ERBVDs9s=") {
		t.Error("http validates what was signed for https")
	}
}

func TestStatusOf(t *testing.T) {
	for state, want := range map[string]string{"queued": "", "sent": "sent", "delivered": "delivered",
		"undelivered": "undelivered", "failed": "failed", "read": "delivered"} {
		s, err := StatusOf(url.Values{"MessageSid": {"SM1"}, "MessageStatus": {state}})
		if err != nil || s.Status != want {
			t.Errorf("%s: %+v, %v; want %q", state, s, err, want)
		}
	}
	if _, err := StatusOf(url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"huh"}}); err == nil {
		t.Error("an unknown state is accepted")
	}
	if _, err := Inbound(url.Values{"Body": {"hi"}}); err == nil {
		t.Error("an inbound SMS without MessageSid and From is accepted")
	}
}
