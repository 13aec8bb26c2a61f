package twilio

import (
	"net/url"
	"testing"
)

// Any form body: parsing, validating and reading never panic, and what is
// read has what Twilio always sends.
func FuzzForms(f *testing.F) {
	f.Add("MessageSid=SM1&From=%2B84900000001&Body=GIUP", "sig")
	f.Add("MessageSid=SM1&MessageStatus=delivered&ErrorCode=30003", "")
	f.Add("%zz&&==", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
	f.Fuzz(func(t *testing.T, body, sig string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		_ = Valid("token", "https://hotline.example/webhooks/twilio/sms", form, sig)
		if in, err := Inbound(form); err == nil && (in.ID == "" || in.From == "") {
			t.Fatalf("inbound without ID or sender: %+v", in)
		}
		if st, err := StatusOf(form); err == nil && st.SID == "" {
			t.Fatalf("status without SID: %+v", st)
		}
	})
}
