// Command fakesms runs both fake SMS providers on loopback and plays a phone
// writing to tinbao, so a person can try the SMS channel with no SIM and no
// Twilio account:
//
//	go run ./bot/sms/smstest/fakesms serve            # prints the settings for tinbao, then every SMS it sends
//	go run ./bot/sms/smstest/fakesms gateway "GIUP"   # an SMS to the gateway's number, signed as the phone signs it
//	go run ./bot/sms/smstest/fakesms twilio "BAO TIN" # an SMS to the Twilio number, signed as Twilio signs it
//
// serve also reports every SMS as sent then delivered, as the real providers
// do, so the outbox shows delivery states.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"tinbao/bot/sms/smstest"
)

// The fakes' made-up credentials and the phone they play: never real ones.
const (
	gwUser, gwPass, gwKey  = "fake-user", "fake-pass", "fake-signing-key"
	twSID, twToken, twFrom = "ACfake00000000000000000000000000", "faketoken0123456789", "+15005550006"
	phone                  = "+84900000001"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: fakesms serve | gateway TEXT | twilio TEXT  (flags: -tinbao URL, -gateway ADDR, -twilio ADDR, -from NUMBER)")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	tinbao := fs.String("tinbao", "http://127.0.0.1:8080", "tinbao's PUBLIC_URL")
	gwAddr := fs.String("gateway", "127.0.0.1:8092", "loopback address of the fake SMS gateway")
	twAddr := fs.String("twilio", "127.0.0.1:8093", "loopback address of the fake Twilio")
	from := fs.String("from", phone, "the phone number the SMS comes from")
	fs.Parse(os.Args[2:])
	text := strings.Join(fs.Args(), " ")
	switch os.Args[1] {
	case "serve":
		serve(*tinbao, *gwAddr, *twAddr)
	case "gateway":
		_, resp, err := smstest.Event(*tinbao+"/webhooks/smsgate", gwKey, "sms:received", smstest.Received(*from, text), time.Now())
		report(resp, err)
	case "twilio":
		tw := &smstest.Twilio{AccountSID: twSID, AuthToken: twToken}
		sid := fmt.Sprintf("SM%032x", time.Now().UnixNano())
		resp, err := tw.PostSigned(*tinbao+"/webhooks/twilio/sms", *tinbao+"/webhooks/twilio/sms", tw.InboundForm(sid, *from, twFrom, text))
		report(resp, err)
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

func report(resp *http.Response, err error) {
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
}

func listen(addr string) net.Listener {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("fakesms listens on loopback only, not %q", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	return ln
}

func serve(tinbao, gwAddr, twAddr string) {
	// The fakes' own test servers are closed: they are served here on the
	// addresses tinbao is told.
	gw := smstest.NewGateway(gwUser, gwPass)
	gw.Close()
	tw := smstest.NewTwilio(twSID, twToken)
	tw.Close()
	gln, tln := listen(gwAddr), listen(twAddr)
	go func() { log.Fatal(http.Serve(gln, gw.Handler())) }()
	go func() { log.Fatal(http.Serve(tln, tw.Handler())) }()
	fmt.Printf(`fake SMS gateway on http://%s and fake Twilio on http://%s; start tinbao with:

SMSGATE_URL=http://%s/message SMSGATE_USERNAME=%s SMSGATE_PASSWORD=%s SMSGATE_SIGNING_KEY=%s \
TWILIO_ACCOUNT_SID=%s TWILIO_AUTH_TOKEN=%s TWILIO_FROM=%s TWILIO_API_URL=http://%s \
PUBLIC_URL=%s make run

`, gwAddr, twAddr, gwAddr, gwUser, gwPass, gwKey, twSID, twToken, twFrom, twAddr, tinbao)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	gShown, tShown := 0, 0
	for {
		select {
		case <-stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
		for _, m := range gw.Messages()[gShown:] {
			show("gateway", m)
			for _, ev := range []string{"sms:sent", "sms:delivered"} {
				if _, resp, err := smstest.Event(tinbao+"/webhooks/smsgate", gwKey, ev, smstest.Report(m, ev), time.Now()); err == nil {
					resp.Body.Close()
				}
			}
			gShown++
		}
		for _, m := range tw.Messages()[tShown:] {
			show("twilio", m)
			for _, st := range []string{"sent", "delivered"} {
				if resp, err := tw.Callback(m, st, ""); err == nil {
					resp.Body.Close()
				}
			}
			tShown++
		}
	}
}

func show(provider string, m smstest.Message) {
	fmt.Printf("→ %s SMS to %s (%d segment(s), id %s):\n  %s\n", provider, m.To, m.Segments, m.ID,
		strings.ReplaceAll(m.Body, "\n", "\n  "))
}
