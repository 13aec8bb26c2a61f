// Command faketelegram runs the fake Bot API on a loopback address and prints
// every message tinbao sends, so a person can try tinbao's Telegram side with
// curl and no real bot:
//
//	go run ./bot/telegram/telegramtest/faketelegram -addr 127.0.0.1:8090
//
// then start tinbao with TELEGRAM_BOT_TOKEN=<the token it prints>,
// TELEGRAM_API_URL=http://127.0.0.1:8090 and a TELEGRAM_WEBHOOK_SECRET.
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

	"tinbao/bot/telegram/telegramtest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "loopback address to listen on")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("faketelegram listens on loopback only, not %q", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fake := telegramtest.New()
	fake.URL = "http://" + ln.Addr().String()
	go func() { log.Fatal(http.Serve(ln, fake)) }()
	fmt.Printf("fake Bot API on %s\nTELEGRAM_BOT_TOKEN=%s\nTELEGRAM_API_URL=%s\n\n", fake.URL, telegramtest.Token, fake.URL)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	shown, deleted := 0, 0
	for {
		select {
		case <-stop:
			fake.Close()
			return
		case <-time.After(200 * time.Millisecond):
		}
		sent := fake.Sent()
		for _, m := range sent[shown:] {
			fmt.Printf("→ chat %d (message %d):\n  %s\n", m.ChatID, m.MessageID, strings.ReplaceAll(m.Text, "\n", "\n  "))
			if m.ReplyMarkup != "" {
				fmt.Printf("  buttons: %s\n", m.ReplyMarkup)
			}
		}
		shown = len(sent)
		deletes := fake.Calls("deleteMessages")
		for _, c := range deletes[deleted:] {
			fmt.Printf("× chat %s: deleteMessages %s\n", c.Params["chat_id"], c.Params["message_ids"])
		}
		deleted = len(deletes)
	}
}
