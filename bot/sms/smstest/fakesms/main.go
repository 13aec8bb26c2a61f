// Command fakesms runs both fake SMS providers on loopback and plays a phone
// writing to tinbao, so a person can try the SMS channel with no SIM and no
// Twilio account:
//
//	go run ./bot/sms/smstest/fakesms serve            # prints the settings for tinbao, then every SMS it sends
//	go run ./bot/sms/smstest/fakesms gateway "GIUP"   # an SMS to the gateway's number, signed as the phone signs it
//	go run ./bot/sms/smstest/fakesms twilio "BAO TIN" # an SMS to the Twilio number, signed as Twilio signs it
//
// serve also reports every SMS as sent then delivered, as the real providers
// do, so the outbox shows delivery states. Flags come after the command
// (-tinbao for a tinbao elsewhere than :8080, given to all three); -h lists
// them.
package main

import (
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
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

const usage = `fakesms: the fake SMS gateway and fake Twilio on loopback, and a phone writing to tinbao
through them (no SIM, no Twilio account).

usage:
  fakesms serve [flags]           run both fakes: prints the settings to start tinbao with, then every SMS it sends
  fakesms gateway [flags] TEXT    send TEXT to tinbao as an SMS to the gateway's number, signed as the phone signs it
  fakesms twilio [flags] TEXT     send TEXT to tinbao as an SMS to the Twilio number, signed as Twilio signs it
  fakesms -h                      this help

flags (after the command; give gateway and twilio the same -tinbao as serve):
`

func main() {
	log.SetFlags(0)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// flags are every command's flags, in a set that reports, not exits.
type flags struct {
	set                  *flag.FlagSet
	tinbao, gw, tw, from *string
	id, received         *string
}

func newFlags(name string, out io.Writer) flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	f := flags{set: fs,
		tinbao: fs.String("tinbao", defaultTinbao, "tinbao's address (its PUBLIC_URL)"),
		gw:     fs.String("gateway", "127.0.0.1:8092", "serve: loopback address of the fake SMS gateway"),
		tw:     fs.String("twilio", "127.0.0.1:8093", "serve: loopback address of the fake Twilio"),
		from:   fs.String("from", phone, "gateway, twilio: the phone number the SMS comes from"),
		id:     fs.String("id", "", "gateway: the event's ID, to deliver one again as the gateway retries (default: a new one)"),
		received: fs.String("received", "", "gateway: when the phone received the SMS, RFC 3339, for a retry "+
			"(default: now)"),
	}
	fs.Usage = func() {} // run prints the usage: on stdout when asked for
	return f
}

const defaultTinbao = "http://127.0.0.1:8080"

func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	newFlags("fakesms", w).set.PrintDefaults()
}

// run is the command line: 0 when done (or asked for help), 2 when used
// wrongly, 1 when a send failed.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printUsage(stdout)
		return 0
	case "serve", "gateway", "twilio":
	default:
		fmt.Fprintf(stderr, "fakesms: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return 2
	}
	f := newFlags(args[0], stderr)
	if err := f.set.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return 0
		}
		fmt.Fprintln(stderr)
		printUsage(stderr)
		return 2
	}
	text := strings.Join(f.set.Args(), " ")
	tinbao := strings.TrimRight(*f.tinbao, "/")
	var resp *http.Response
	var err error
	switch args[0] {
	case "serve":
		serve(stdout, tinbao, *f.gw, *f.tw)
		return 0
	case "gateway":
		payload := smstest.Received(*f.from, text)
		if *f.received != "" {
			at, perr := time.Parse(time.RFC3339, *f.received)
			if perr != nil {
				fmt.Fprintln(stderr, "fakesms: -received: want a time like 2026-12-03T10:04:05+07:00")
				return 2
			}
			payload["receivedAt"] = at.Format("2006-01-02T15:04:05.000-07:00")
		}
		id := *f.id
		if id == "" {
			id = fmt.Sprintf("ev%x", time.Now().UnixNano())
		}
		resp, err = smstest.EventWithID(tinbao+"/webhooks/smsgate", gwKey, id, "sms:received", payload, time.Now())
		if err == nil {
			// What it takes to send this one again, as the gateway retries.
			fmt.Fprintf(stdout, "event %s, received %s (again: -id %s -received %s)\n", id, payload["receivedAt"], id,
				payload["receivedAt"])
		}
	case "twilio":
		tw := &smstest.Twilio{AccountSID: twSID, AuthToken: twToken}
		sid := fmt.Sprintf("SM%032x", time.Now().UnixNano())
		resp, err = tw.PostSigned(tinbao+"/webhooks/twilio/sms", tinbao+"/webhooks/twilio/sms", tw.InboundForm(sid, *f.from, twFrom, text))
	}
	if err != nil {
		fmt.Fprintln(stderr, "fakesms:", err)
		return 1
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Fprintln(stdout, resp.Status)
	// TwiML with a message is one Twilio itself sends to the phone ("busy,
	// send again", or "kept, the answer comes late").
	var twiml struct {
		Message []string `xml:"Message"`
	}
	if args[0] == "twilio" && xml.Unmarshal(body, &twiml) == nil {
		for _, m := range twiml.Message {
			fmt.Fprintf(stdout, "Twilio says to the phone:\n  %s\n", m)
		}
	}
	return 0
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

func serve(stdout io.Writer, tinbao, gwAddr, twAddr string) {
	// The fakes' own test servers are closed: they are served here on the
	// addresses tinbao is told.
	gw := smstest.NewGateway(gwUser, gwPass)
	gw.Close()
	tw := smstest.NewTwilio(twSID, twToken)
	tw.Close()
	gln, tln := listen(gwAddr), listen(twAddr)
	go func() { log.Fatal(http.Serve(gln, gw.Handler())) }()
	go func() { log.Fatal(http.Serve(tln, tw.Handler())) }()
	fmt.Fprint(stdout, settings(tinbao, gwAddr, twAddr))
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
			show(stdout, "gateway", m)
			for _, ev := range []string{"sms:sent", "sms:delivered"} {
				if _, resp, err := smstest.Event(tinbao+"/webhooks/smsgate", gwKey, ev, smstest.Report(m, ev), time.Now()); err == nil {
					resp.Body.Close()
				}
			}
			gShown++
		}
		for _, m := range tw.Messages()[tShown:] {
			show(stdout, "twilio", m)
			for _, st := range []string{"sent", "delivered"} {
				if resp, err := tw.Callback(m, st, ""); err == nil {
					resp.Body.Close()
				}
			}
			tShown++
		}
	}
}

func show(stdout io.Writer, provider string, m smstest.Message) {
	fmt.Fprintf(stdout, "→ %s SMS to %s (%d segment(s), id %s):\n  %s\n", provider, m.To, m.Segments, m.ID,
		strings.ReplaceAll(m.Body, "\n", "\n  "))
}

// settings is what serve prints: the settings to start tinbao with, and the
// flags the phone's commands then need. tinbao checks Twilio's signatures
// against its PUBLIC_URL, so that is set to the -tinbao address; on another
// loopback address than the default, so is HTTP_ADDR, which tinbao listens on.
func settings(tinbao, gwAddr, twAddr string) string {
	listenOn, phoneFlags := "", ""
	if tinbao != defaultTinbao {
		phoneFlags = " -tinbao " + tinbao
		if u, err := url.Parse(tinbao); err == nil && u.Scheme == "http" {
			if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() && u.Port() != "" {
				listenOn = "HTTP_ADDR=" + u.Host + " "
			}
		}
	}
	return fmt.Sprintf(`fake SMS gateway on http://%s and fake Twilio on http://%s; start tinbao with:

SMSGATE_URL=http://%s/message SMSGATE_USERNAME=%s SMSGATE_PASSWORD=%s SMSGATE_SIGNING_KEY=%s \
TWILIO_ACCOUNT_SID=%s TWILIO_AUTH_TOKEN=%s TWILIO_FROM=%s TWILIO_API_URL=http://%s \
%sPUBLIC_URL=%s make run

then write as the phone:

go run ./bot/sms/smstest/fakesms gateway%s "GIUP"
go run ./bot/sms/smstest/fakesms twilio%s "BAO TIN"

`, gwAddr, twAddr, gwAddr, gwUser, gwPass, gwKey, twSID, twToken, twFrom, twAddr, listenOn, tinbao, phoneFlags, phoneFlags)
}
