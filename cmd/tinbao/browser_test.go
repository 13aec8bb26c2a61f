package main

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// needChromium finds a headless browser: CHROMIUM, or chromium on PATH. It
// skips the test without one, and fails it when CI is set (`make test`
// installs Debian's chromium).
func needChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium, and CI is set: `make test` installs it (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH; install it (apt-get install chromium) or set CHROMIUM")
	return ""
}

// browser starts a headless Chromium of the test's own.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := needChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(400, 800),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// press clicks the enabled button labelled label.
func press(label string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.Search(`//div[@class="choices"]/button[not(@disabled) and normalize-space(.)="` + label + `"]`))
}

// A person uses the web chat in a real browser: a report typed without
// diacritics, the acknowledgement arriving through the outbox, tap-to-call
// numbers, /xoa leaving an empty page, and Thoát nhanh leaving the site.
func TestWebChatInBrowser(t *testing.T) {
	ctx := browser(t)
	s := startService(t, nil)

	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(s.url + "/chat"),
		chromedp.WaitVisible(chromedp.CSS(`.choices button`)),
		press("Báo tin"),
		press("Bỏ qua"),
		chromedp.SendKeys(chromedp.CSS(`#text`), "co nguoi bi lua sang Lao lam viec"+kb.Enter),
	}
	for range 7 { // where, when, people, child, danger, contact, follow-up
		steps = append(steps, chromedp.Sleep(200*time.Millisecond), press("Bỏ qua"))
	}
	steps = append(steps, chromedp.Sleep(200*time.Millisecond), press("Gửi"))
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("report in the browser: %v\n%s", err, s.log)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`[...document.querySelectorAll('.msg.bot')].some(e => e.textContent.includes('TB-'))`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("no acknowledgement on the page: %v", err)
	}
	tips, _ := s.db.OpenTips(context.Background(), 10)
	if len(tips) != 1 || tips[0].Channel != "web" || tips[0].Details["what"] != "co nguoi bi lua sang Lao lam viec" {
		t.Fatalf("tips = %+v", tips)
	}
	if tel, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector('.msg.bot a[href="tel:113"]')`)); err != nil || !tel {
		t.Errorf("113 is not a tap-to-call link (%v)", err)
	}

	// /xoa: the page empties and says nothing until the person writes.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#text`), "/xoa"+kb.Enter)); err != nil {
		t.Fatalf("/xoa: %v", err)
	}
	waitJS(t, ctx, `location.search.includes('start=none')`)
	time.Sleep(500 * time.Millisecond)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.msg').length`)); err != nil || n != 0 {
		t.Errorf("after /xoa the page shows %d messages (%v)", n, err)
	}

	// Thoát nhanh: the page is replaced (by a neutral site, unreachable
	// here) and the session cookie is gone.
	err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#text`), "/start"+kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`.choices button`)),
		chromedp.Click(chromedp.CSS(`#exit`)),
	)
	if err != nil {
		t.Fatalf("quick exit: %v", err)
	}
	waitJS(t, ctx, `!location.href.startsWith('`+s.url+`')`)
	waitFor(t, func() bool {
		res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{s.url + "/chat"}})
		if err != nil {
			return false
		}
		for _, c := range res.Cookies {
			if c.Name == "tinbao_chat" && c.Value != "" {
				return false
			}
		}
		return true
	})
}

// waitJS evaluates expr until it is true, across page loads.
func waitJS(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	waitFor(t, func() bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		return err == nil && ok
	})
}
