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
		chromedp.WindowSize(390, 844), // a common phone
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
		chromedp.Sleep(200 * time.Millisecond), press("Tiếp"),
	}
	for range 6 { // where, when, people, child, danger, contact (no follow-up question on the web)
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

// slowNetwork makes the page's requests take most of a second, as on a
// phone network: the page's own code then queues what is typed meanwhile.
var slowNetwork = chromedp.Evaluate[chromedp.Void](`(() => { const f = window.fetch;
	window.fetch = (u, o) => new Promise(r => setTimeout(r, 800)).then(() => f(u, o)); })()`)

// waitJS evaluates expr until it is true, across page loads; failing, it
// shows what the page says.
func waitJS(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	t.Fatalf("not true within 10s: %s\npage:\n%s", expr, page)
}

// A person on a phone types three messages without waiting for answers:
// none is lost, all three reach the report in order, each showed "đang
// gửi…" until it was through; and every tap target is at least 44x44 CSS
// px, the code on one line with a copy button.
func TestWebChatBurstAndTapTargets(t *testing.T) {
	ctx := browser(t)
	s := startService(t, nil)
	// Keys are typed one message after another, without waiting for any
	// answer: as a person on a slow connection does.
	burst := func(msgs ...string) []chromedp.Action[chromedp.Void] {
		var out []chromedp.Action[chromedp.Void]
		for _, m := range msgs {
			out = append(out, chromedp.SendKeys(chromedp.CSS(`#text`), m+kb.Enter))
		}
		return out
	}
	steps := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(s.url + "/chat"),
		chromedp.WaitVisible(chromedp.CSS(`.choices button`)),
		press("Báo tin"),
		press("Bỏ qua"),
		chromedp.Sleep(300 * time.Millisecond),
		// A slow phone network: every request takes most of a second.
		slowNetwork,
	}
	steps = append(steps, burst("em toi di Campuchia", "ho giu ho chieu", "doi 50 trieu")...)
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("burst: %v\n%s", err, s.log)
	}
	// While they travel, each says it is being sent; then nothing waits.
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.msg.me .status').length`)); n < 2 {
		t.Errorf("%d messages showed they were on their way, want the queued ones at least", n)
	}
	waitJS(t, ctx, `[...document.querySelectorAll('.msg.me')].pop().textContent === 'doi 50 trieu' && !document.querySelector('.msg.me .status')`)
	// At "where?", two quick lines.
	err := chromedp.Do(ctx, append([]chromedp.Action[chromedp.Void]{press("Tiếp"), chromedp.Sleep(300 * time.Millisecond)},
		burst("Bavet", "gan cho")...)...)
	if err != nil {
		t.Fatalf("where: %v", err)
	}
	waitJS(t, ctx, `[...document.querySelectorAll('.msg.me')].pop().textContent === 'gan cho' && !document.querySelector('.msg.me .status')`)
	for range 4 { // when, people, child, contact (danger was said in words)
		if err := chromedp.Do(ctx, chromedp.Sleep(250*time.Millisecond), press("Bỏ qua")); err != nil {
			t.Fatalf("skip: %v\n%s", err, s.log)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Sleep(250*time.Millisecond), press("Gửi")); err != nil {
		t.Fatalf("send: %v\n%s", err, s.log)
	}
	waitJS(t, ctx, `!!document.querySelector('.msg.bot .code .copy')`)
	tips, _ := s.db.OpenTips(context.Background(), 10)
	if len(tips) != 1 {
		t.Fatalf("tips = %+v", tips)
	}
	if what := tips[0].Details["what"]; what != "em toi di Campuchia\nho giu ho chieu\ndoi 50 trieu" {
		t.Errorf("what = %q, want all three messages in order", what)
	}
	if where := tips[0].Details["where"]; where != "Bavet\ngan cho" {
		t.Errorf("where = %q, want both lines", where)
	}
	if len(tips[0].Distress) == 0 {
		t.Errorf("the passport held raised no alarm: %+v", tips[0])
	}
	// After the acknowledgement, the menu again: no dead end.
	waitJS(t, ctx, `[...document.querySelectorAll('.choices button:not([disabled])')].some(b => b.textContent === 'Báo tin')`)

	// Every tap target on the page, measured as laid out on a phone.
	small, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('button, a.tel, textarea')]
		.filter(e => e.offsetParent !== null && !e.disabled)
		.map(e => [e.textContent.trim() || e.tagName, e.getBoundingClientRect()])
		.filter(([, r]) => r.width < 44 || r.height < 44)
		.map(([n, r]) => n + ' ' + Math.round(r.width) + 'x' + Math.round(r.height))`))
	if err != nil || len(small) > 0 {
		t.Errorf("tap targets under 44x44 px: %v (%v)", small, err)
	}
	tels, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('a.tel').length`))
	if tels == 0 {
		t.Errorf("no phone number is a button to call")
	}
	// The code stays on one line.
	lines, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => { const c = document.querySelector('.code strong');
		return Math.round(c.getBoundingClientRect().height / parseFloat(getComputedStyle(c).lineHeight || 20)); })()`))
	if err != nil || lines > 1 {
		t.Errorf("the code wraps over %d lines (%v)", lines, err)
	}
	if os.Getenv("SCREENSHOTS") != "" {
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			os.WriteFile(os.Getenv("SCREENSHOTS")+"/webchat-phone.png", shot, 0o644)
		}
	}
}
