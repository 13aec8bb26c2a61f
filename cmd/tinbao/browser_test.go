package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"tinbao/flows"
	"tinbao/media/mediatest"
	"tinbao/storage"
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
		chromedp.SendKeys(chromedp.CSS(`#text`), "co nguoi bi lua sang Lao lam viec, so ho 0905 111 222"+kb.Enter),
		chromedp.Sleep(200 * time.Millisecond), press("Tiếp"),
	}
	for range 7 { // where, when, people, child, danger, photos, contact (no follow-up question on the web)
		steps = append(steps, chromedp.Sleep(200*time.Millisecond), press("Bỏ qua"))
	}
	steps = append(steps, chromedp.Sleep(200*time.Millisecond), press("Gửi"))
	if err := act(ctx, steps...); err != nil {
		t.Fatalf("report in the browser: %v\n%s", err, s.log)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`[...document.querySelectorAll('.msg.bot')].some(e => e.textContent.includes('TB-'))`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("no acknowledgement on the page: %v", err)
	}
	tips, _ := s.db.OpenTips(context.Background(), 10)
	if len(tips) != 1 || tips[0].Channel != "web" || tips[0].Details["what"] != "co nguoi bi lua sang Lao lam viec, so ho 0905 111 222" {
		t.Fatalf("tips = %+v", tips)
	}
	// A phone number read back in the summary stays text: its 111 is no
	// button that calls the hotline.
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`(() => {
		const m = [...document.querySelectorAll('.msg.bot')].filter(e => e.textContent.includes('0905 111 222'));
		return [m.length, m.reduce((n, e) => n + e.querySelectorAll('a.tel').length, 0)];
	})()`))
	if err != nil || len(shown) != 2 || shown[0] == 0 || shown[1] != 0 {
		t.Errorf("messages showing 0905 111 222, call buttons in them = %v, want the summary and none (%v)", shown, err)
	}

	// /xoa: the page empties and says nothing until the person writes.
	if err := act(ctx, chromedp.SendKeys(chromedp.CSS(`#text`), "/xoa"+kb.Enter)); err != nil {
		t.Fatalf("/xoa: %v", err)
	}
	waitJS(t, ctx, `location.search.includes('start=none')`)
	time.Sleep(500 * time.Millisecond)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.msg').length`)); err != nil || n != 0 {
		t.Errorf("after /xoa the page shows %d messages (%v)", n, err)
	}

	// The privacy notice and back: no entry added to the history (Back
	// after Thoát nhanh must not show what this site is), and the notice
	// has the red button too.
	before, err := chromedp.Run(ctx, chromedp.Evaluate[int](`history.length`))
	if err != nil {
		t.Fatal(err)
	}
	if err := act(ctx, chromedp.Click(chromedp.CSS(`.note a[href^="/privacy"]`))); err != nil {
		t.Fatalf("privacy link: %v", err)
	}
	waitJS(t, ctx, `location.pathname === '/privacy' && !!document.querySelector('#exit')`)
	if err := act(ctx, chromedp.Click(chromedp.CSS(`.notice a[href^="/chat"]`))); err != nil {
		t.Fatalf("back to the chat: %v", err)
	}
	waitJS(t, ctx, `location.pathname === '/chat' && !!document.querySelector('#text')`)
	if after, err := chromedp.Run(ctx, chromedp.Evaluate[int](`history.length`)); err != nil || after != before {
		t.Errorf("history.length %d → %d after the privacy notice and back, want unchanged (%v)", before, after, err)
	}

	// Thoát nhanh: the page is replaced (by a neutral site, unreachable
	// here) and the session cookie is gone.
	err = act(ctx, chromedp.SendKeys(chromedp.CSS(`#text`), "/start"+kb.Enter))
	if err == nil {
		err = act(ctx, chromedp.WaitVisible(chromedp.CSS(`.choices button`)), chromedp.Click(chromedp.CSS(`#exit`)))
	}
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

// Numbers are buttons to call only in the emergency numbers: in an ordinary
// sentence (the greeting, the consent question "…cho công an hoặc tổng đài
// 111…", the summary read back) a mis-tap on a big red 111 would place a
// call from a phone someone may be watching.
func TestWebChatCallButtonsOnlyInNumbers(t *testing.T) {
	ctx := browser(t)
	s := startService(t, nil)
	tels := func(t *testing.T, where string) {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('a.tel')].map(a => a.textContent)`))
		if err != nil || len(got) != 0 {
			t.Errorf("%s: call buttons %q, want none (%v)", where, got, err)
		}
	}
	if err := act(ctx, chromedp.Navigate(s.url+"/chat"), chromedp.WaitVisible(chromedp.CSS(`.choices button`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `[...document.querySelectorAll('.msg.bot')].some(e => e.textContent.includes('111'))`)
	tels(t, "the greeting")
	steps := []chromedp.Action[chromedp.Void]{press("Cần giúp đỡ"), chromedp.Sleep(200 * time.Millisecond), press("Có"),
		chromedp.Sleep(200 * time.Millisecond), press("Không")}
	for range 4 { // who, where, needs, a way to reach them
		steps = append(steps, chromedp.Sleep(200*time.Millisecond), press("Bỏ qua"))
	}
	if err := act(ctx, steps...); err != nil {
		t.Fatalf("help flow: %v\n%s", err, s.log)
	}
	waitJS(t, ctx, `[...document.querySelectorAll('.msg.bot')].pop().textContent.includes('tổng đài 111')`)
	tels(t, "the consent question")
	if err := act(ctx, press("Đồng ý"), chromedp.Sleep(200*time.Millisecond), press("Bỏ qua"),
		chromedp.Sleep(200*time.Millisecond), press("Bỏ qua")); err != nil {
		t.Fatalf("consents: %v\n%s", err, s.log)
	}
	waitJS(t, ctx, `[...document.querySelectorAll('.choices button:not([disabled])')].some(b => b.textContent === 'Gửi')`)
	waitJS(t, ctx, `[...document.querySelectorAll('.msg.bot')].some(e => e.textContent.includes('Chuyển cho công an hoặc 111'))`)
	tels(t, "the summary")

	// The emergency numbers, asked for: each one a button to call.
	if err := act(ctx, chromedp.SendKeys(chromedp.CSS(`#text`), "/khancap"+kb.Enter)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `!!document.querySelector('a.tel')`)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('a.tel')].map(a =>
		a.getAttribute('href') + (a.closest('.msg').textContent.includes('Cấp cứu') ? '' : ' outside the numbers'))`))
	if err != nil || strings.Join(got, " ") != "tel:111 tel:113 tel:115 tel:+84981848484" {
		t.Errorf("call buttons after /khancap = %q, want 111, 113, 115 and the citizen-protection line, in the numbers (%v)", got, err)
	}
}

// Only the person's own code gets Chép mã: the example in the lookup
// prompt (TB-7K3M-Q9XJ) had a copy button of its own, and a frightened
// person copied the example and looked it up.
func TestWebChatCopyOnlyOwnCode(t *testing.T) {
	ctx := browser(t)
	s := startService(t, nil)
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(s.url + "/chat"),
		chromedp.WaitVisible(chromedp.CSS(`.choices button`)), press("Báo tin")}
	for range 9 { // kind, story, where, when, people, child, danger, photos, contact
		steps = append(steps, chromedp.Sleep(200*time.Millisecond), press("Bỏ qua"))
	}
	steps = append(steps, chromedp.Sleep(200*time.Millisecond), press("Gửi"))
	if err := act(ctx, steps...); err != nil {
		t.Fatalf("report: %v\n%s", err, s.log)
	}
	waitJS(t, ctx, `!!document.querySelector('.msg.bot .code .copy')`)
	tips, _ := s.db.OpenTips(context.Background(), 10)
	if len(tips) != 1 {
		t.Fatalf("tips = %+v", tips)
	}
	own := tips[0].Reference
	waitJS(t, ctx, `[...document.querySelectorAll('.choices button:not([disabled])')].some(b => b.textContent === 'Tra cứu')`)
	if err := act(ctx, press("Tra cứu")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `[...document.querySelectorAll('.msg.bot')].pop().textContent.includes('TB-7K3M-Q9XJ')`)
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.code')].map(c => c.querySelector('strong').textContent)`))
	if err != nil || len(codes) != 1 || codes[0] != own {
		t.Errorf("codes with a copy button = %q, want only the acknowledgement's %s (%v)", codes, own, err)
	}
}

// slowNetwork makes the page's requests take most of a second, as on a
// phone network: the page's own code then queues what is typed meanwhile.
var slowNetwork = chromedp.Evaluate[chromedp.Void](`(() => { const f = window.fetch;
	window.fetch = (u, o) => new Promise(r => setTimeout(r, 800)).then(() => f(u, o)); })()`)

// act runs the steps one by one like chromedp.Do, but runs a step again
// when the browser replaced the page's nodes between the step's query and its
// use ("Could not find node with given id": Chrome renumbers the nodes after
// a page load, sometimes a moment after the load itself). Such a step failed
// before it sent any key or click, so running it again is what a person
// would do.
func act(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) error {
	for _, step := range steps {
		var err error
		for try := 0; try < 3; try++ {
			if err = chromedp.Do(ctx, step); err == nil || !strings.Contains(err.Error(), "Could not find node") {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

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
	if err := act(ctx, steps...); err != nil {
		t.Fatalf("burst: %v\n%s", err, s.log)
	}
	// While they travel, each says it is being sent; then nothing waits.
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.msg.me .status').length`)); n < 2 {
		t.Errorf("%d messages showed they were on their way, want the queued ones at least", n)
	}
	waitJS(t, ctx, `[...document.querySelectorAll('.msg.me')].pop().textContent === 'doi 50 trieu' && !document.querySelector('.msg.me .status')`)
	// At "where?", two quick lines.
	err := act(ctx, append([]chromedp.Action[chromedp.Void]{press("Tiếp"), chromedp.Sleep(300 * time.Millisecond)},
		burst("Bavet", "gan cho")...)...)
	if err != nil {
		t.Fatalf("where: %v", err)
	}
	waitJS(t, ctx, `[...document.querySelectorAll('.msg.me')].pop().textContent === 'gan cho' && !document.querySelector('.msg.me .status')`)
	for range 5 { // when, people, child, photos, contact (danger was said in words)
		if err := act(ctx, chromedp.Sleep(250*time.Millisecond), press("Bỏ qua")); err != nil {
			t.Fatalf("skip: %v\n%s", err, s.log)
		}
	}
	if err := act(ctx, chromedp.Sleep(250*time.Millisecond), press("Gửi")); err != nil {
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

// A long story pasted at once, past what one message may hold, is not cut:
// the browser's maxlength once dropped everything after the limit
// without a word. The page keeps all of it in the box and says why it did
// not go; shortened, it goes.
func TestWebChatLongPasteKept(t *testing.T) {
	ctx := browser(t)
	s := startService(t, nil)
	story := strings.Repeat("Có người rủ em tôi sang Campuchia làm việc nhẹ lương cao. ", 80) // 4,640 characters
	paste := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: story})
		return err
	})
	err := act(ctx, chromedp.Navigate(s.url+"/chat"), chromedp.WaitVisible(chromedp.CSS(`.choices button`)),
		press("Báo tin"), press("Bỏ qua"), chromedp.Sleep(300*time.Millisecond),
		chromedp.Focus(chromedp.CSS(`#text`)), paste, chromedp.SendKeys(chromedp.CSS(`#text`), kb.Enter))
	if err != nil {
		t.Fatalf("paste: %v\n%s", err, s.log)
	}
	waitJS(t, ctx, `!document.getElementById('hint').hidden`)
	kept, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`Array.from(document.getElementById('text').value).length`))
	if want := len([]rune(story)); kept < want-1 { // less the trailing space
		t.Errorf("the box holds %d characters of the %d pasted", kept, want)
	}
	if dir := os.Getenv("SCREENSHOTS"); dir != "" {
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			os.WriteFile(dir+"/webchat-too-long-phone.png", shot, 0o644)
		}
	}
	hint, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('hint').textContent`))
	if !strings.Contains(hint, "4.096") || !strings.Contains(hint, "(4.639/4.096)") {
		t.Errorf("the note says %q, want the limit and how far over the text is", hint)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.msg.me').length`)); n != 2 {
		t.Errorf("%d messages shown, want the 2 presses: the text went although it was too long", n)
	}
	// Cut in two by the person, the first half goes and the note leaves.
	half := string([]rune(story)[:2300])
	err = act(ctx, chromedp.Evaluate[chromedp.Void](`(() => { const t = document.getElementById('text');
		t.value = t.value.slice(0, 2300); t.dispatchEvent(new Event('input')); })()`),
		chromedp.SendKeys(chromedp.CSS(`#text`), kb.Enter))
	if err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.getElementById('hint').hidden && document.querySelectorAll('.msg.me').length === 3 && !document.querySelector('.msg.me .status')`)
	sent, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.msg.me')].pop().textContent`))
	if sent != strings.TrimSpace(half) {
		t.Errorf("sent %d characters, want the %d left in the box", len([]rune(sent)), len([]rune(strings.TrimSpace(half))))
	}
	waitJS(t, ctx, `[...document.querySelectorAll('.msg.bot')].pop().textContent.includes('Tiếp')`)
	if last, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.msg.bot')].pop().textContent`)); strings.Contains(last, "4.096") {
		t.Errorf("the server refused the shortened story: %q", last)
	}
}

// A question of several choices, answered by tapping two of them, stays
// one question on the page with its picks marked, as on Telegram where the
// message is edited: it was posted again below each tap.
func TestWebChatSeveralChoicesInPlace(t *testing.T) {
	ctx := browser(t)
	s := startService(t, nil)
	err := act(ctx, chromedp.Navigate(s.url+"/chat"), chromedp.WaitVisible(chromedp.CSS(`.choices button`)),
		press("Cần giúp đỡ"), chromedp.Sleep(200*time.Millisecond), press("Có"), chromedp.Sleep(200*time.Millisecond),
		press("Không"), chromedp.Sleep(200*time.Millisecond), press("Tôi"), chromedp.Sleep(200*time.Millisecond),
		chromedp.SendKeys(chromedp.CSS(`#text`), "Lao Cai"+kb.Enter))
	if err != nil {
		t.Fatalf("to the needs: %v\n%s", err, s.log)
	}
	needs := `[...document.querySelectorAll('.msg.bot')].filter(b => b.textContent.startsWith('Bạn hoặc người đó cần giúp gì')).length`
	waitJS(t, ctx, needs+` === 1`)
	for _, pick := range []string{"Chỗ ở an toàn", "Về nhà"} {
		if err := act(ctx, press(pick)); err != nil {
			t.Fatalf("%s: %v", pick, err)
		}
		waitJS(t, ctx, `[...document.querySelectorAll('.choices button:not([disabled])')].some(b => b.textContent === '✓ `+pick+`')`)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](needs)); n != 1 {
		t.Errorf("the question of several choices is on the page %d times after two taps, want once", n)
	}
	both, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll('.choices button:not([disabled])')].filter(b => b.textContent.startsWith('✓ ')).length === 2`))
	if !both {
		t.Errorf("both picks are not marked on the question")
	}
	if dir := os.Getenv("SCREENSHOTS"); dir != "" {
		if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			os.WriteFile(dir+"/webchat-several-choices-phone.png", shot, 0o644)
		}
	}
	if err := act(ctx, press("Xong")); err != nil {
		t.Fatal(err)
	}
	// The next question comes below; the picks were kept.
	waitJS(t, ctx, `[...document.querySelectorAll('.msg.bot')].pop().textContent.includes('liên lạc')`)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](needs)); n != 1 {
		t.Errorf("after Xong the question is on the page %d times", n)
	}
}

// An officer works the queue in a real browser: a report from the fake
// Telegram (which allowed messages) and one from the web chat come in; she
// signs in, sees both with the urgent one first, takes the next one, reads
// the cry for help first, moves it on, writes to the reporter and the
// message is delivered by the fake Bot API; the page never shows who the
// reporter is. Screenshots at desktop and phone sizes go to SCREENSHOTS.
func TestConsoleInBrowser(t *testing.T) {
	ctx := browser(t)
	s, tg, secret := startTelegram(t)
	if _, err := s.db.AddOfficer(context.Background(), "duty", "officer", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	const chat = 700501
	c := s.telegramChat(t, tg, secret, chat)
	ref := reportTo(t, c, "cứu em, họ giữ hộ chiếu ở Bavet", true) // danger words: urgent, kept word for word
	w := newWebClient(t, s.url)
	w.send("", "m:report")
	w.send("", "skip")
	w.send("co nguoi ru di lam o Lao", "")
	w.send("", "next")
	for range 7 { // where, when, people, child, danger, photos, contact
		w.send("", "skip")
	}
	w.send("", "send")

	shot := func(name string) {
		if dir := os.Getenv("SCREENSHOTS"); dir != "" {
			if b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
				os.WriteFile(dir+"/"+name+".png", b, 0o644)
			}
		}
	}
	err := act(ctx,
		chromedp.Navigate(s.console+"/queue"),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "duty"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "correct horse battery staple"+kb.Enter),
	)
	if err != nil {
		t.Fatalf("sign in: %v\n%s", err, s.log)
	}
	waitJS(t, ctx, `!!document.querySelector('table.queue')`)
	waitJS(t, ctx, `document.querySelectorAll('table.queue tbody tr').length === 2 &&
		document.querySelector('table.queue tbody tr').textContent.includes('`+ref+`')`)
	// On the phone: the filters folded, the first report (urgent) on the
	// first screen, and nothing off to the right, who holds it included.
	waitJS(t, ctx, `!document.querySelector('details.filterbox').open &&
		document.querySelector('table.queue tbody tr').getBoundingClientRect().bottom <= window.innerHeight &&
		document.documentElement.scrollWidth <= window.innerWidth &&
		[...document.querySelectorAll('table.queue tbody td:last-child')].every(td => td.getBoundingClientRect().right <= window.innerWidth)`)
	shot("console-queue-phone")
	// The urgent report on the phone: the header in two rows, the alarm
	// words and the answers on the first screen, before the forms.
	if err := act(ctx, chromedp.Navigate(s.console+"/tips/"+ref), chromedp.WaitVisible(chromedp.CSS(`section.distress`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.querySelector('header').getBoundingClientRect().height < 140 &&
		document.querySelector('section.distress').getBoundingClientRect().top < window.innerHeight / 2 &&
		document.querySelector('section.fields').getBoundingClientRect().top < document.querySelector('section.actions').getBoundingClientRect().top &&
		document.documentElement.scrollWidth <= window.innerWidth`)
	shot("console-report-phone")
	if err := act(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(s.console+"/queue"),
		chromedp.WaitVisible(chromedp.CSS(`table.queue`))); err != nil {
		t.Fatal(err)
	}
	// A new urgent report comes in while she looks: it appears, marked,
	// with a red banner, and the page is not reloaded.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.stayed = true`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the page's event stream is open
	commitReport(t, s, string(flows.NewReference([]byte{3, 1, 4, 1, 5, 9, 2})), true, false, "cứu tôi, họ nhốt tôi")
	waitJS(t, ctx, `window.stayed === true && document.querySelectorAll('table.queue tbody tr').length === 3 &&
		!!document.querySelector('tr.fresh') && !document.getElementById('live').hidden &&
		document.getElementById('live').classList.contains('urgent')`)
	shot("console-queue")
	// Someone calls for help by SMS and has not sent yet: the orange box
	// appears above the table, live, and the page is not reloaded.
	if err := s.db.WatchAlarm(context.Background(), "sms", "alarm-pseudonym", time.Now().Add(time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `window.stayed === true && !document.getElementById('alarms').hidden &&
		document.getElementById('alarms').textContent.includes('SMS') &&
		document.getElementById('alarms').getBoundingClientRect().top < document.querySelector('table.queue').getBoundingClientRect().top`)
	shot("console-queue-alarm")
	err = act(ctx,
		chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Nhận tin tiếp theo"]`)),
		chromedp.WaitVisible(chromedp.CSS(`section.distress`)),
	)
	if err != nil {
		t.Fatalf("take the next one: %v", err)
	}
	// The next one is the oldest urgent report: the first.
	waitJS(t, ctx, `location.pathname === '/tips/`+ref+`' && document.querySelector('section.distress').textContent.includes('cứu em, họ giữ hộ chiếu')`)
	// Each form reloads the page: mark the old document, and wait for a
	// new one with its flash (the old page may carry a flash of its own).
	submitted := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.before = true`)); err != nil {
			t.Fatal(err)
		}
		if err := act(ctx, actions...); err != nil {
			t.Fatalf("status and reply: %v\n%s", err, s.log)
		}
		waitJS(t, ctx, `window.before === undefined && document.readyState === 'complete' && !!document.querySelector('.flash')`)
	}
	// Refer it (chuyển tuyến) to the 111 line, sharing what is ticked, with
	// the box that marks it forwarded in the same step left ticked.
	err = act(ctx,
		chromedp.Navigate(s.console+"/tips/"+ref),
		chromedp.WaitVisible(chromedp.CSS(`form.refer`)),
		chromedp.SetValue(chromedp.CSS(`select[name="unit"]`), unitIDByName(t, s, "Tổng đài 111")),
		chromedp.SendKeys(chromedp.CSS(`#note`), "Khẩn: bị giữ hộ chiếu ở Bavet"),
		chromedp.Click(chromedp.Search(`//form[@class="refer"]/button`)),
		chromedp.WaitVisible(chromedp.CSS(`.referral`)),
	)
	if err != nil {
		t.Fatalf("refer: %v\n%s", err, s.log)
	}
	waitJS(t, ctx, `document.readyState === 'complete' && document.querySelector('.flash').textContent.includes('Đã chuyển cơ quan có thẩm quyền')`)
	submitted(chromedp.SendKeys(chromedp.CSS(`#body`), "Bạn có an toàn không? Trả lời ở đây nhé."),
		chromedp.Click(chromedp.Search(`//form[@class="reply"]/button`)))
	got := tg.WaitSent(chat, 1, 10*time.Second)
	waitFor(t, func() bool {
		for _, m := range tg.SentTo(chat) {
			if strings.Contains(m.Text, "Bạn có an toàn không?") {
				return true
			}
		}
		return false
	})
	_ = got
	page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	for _, secretish := range []string{fmt.Sprint(chat), firstName, username} {
		if strings.Contains(page, secretish) {
			t.Errorf("the report page shows %q", secretish)
		}
	}
	shot("console-report")

	// And read the KPI page.
	err = act(ctx, chromedp.Navigate(s.console+"/kpi"), chromedp.WaitVisible(chromedp.CSS(`svg`)))
	if err != nil {
		t.Fatalf("KPI page: %v", err)
	}
	waitJS(t, ctx, `document.querySelector('table.kpi').textContent.includes('3')`)
	shot("console-kpi")

	// A report that came by SMS: a canned reply fills the box, and the
	// counter says how it will travel.
	smsRef := string(flows.NewReference([]byte{5, 5, 5, 5, 5, 5, 6}))
	_, err = s.db.CommitTip(context.Background(), storage.NewTip{Report: flows.Report{Kind: flows.KindTip,
		Reference: flows.Reference(smsRef), Lang: "vi", FollowUp: true, Details: map[string]string{"what": "x"}, Ack: "ack"},
		Channel: "sms", SenderPseudonym: "p-sms", SourceMessageID: "sms1", Handle: "1"})
	if err != nil {
		t.Fatal(err)
	}
	err = act(ctx, chromedp.Navigate(s.console+"/tips/"+smsRef), chromedp.WaitVisible(chromedp.CSS(`#canned`)),
		chromedp.SetValue(chromedp.CSS(`#canned`), "Nếu đang gặp nguy hiểm, hãy gọi ngay 111 (miễn phí, 24/7) hoặc 113."))
	if err != nil {
		t.Fatalf("SMS report page: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('canned').dispatchEvent(new Event('change'))`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.getElementById('body').value.includes('111') &&
		/GSM-7 · 6\d · 1 /.test(document.getElementById('sms-count').textContent)`)
	if err := act(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(s.console+"/queue"),
		chromedp.WaitVisible(chromedp.CSS(`table.queue`))); err != nil {
		t.Fatal(err)
	}
	shot("console-queue-phone")
	// Every page a supervisor opens on a phone stays the phone's width
	// (the queue was 410 px wide, the KPIs 466, the audit log 569), and
	// the late list shows each report's deadline.
	for _, page := range []string{"/queue", "/late", "/kpi", "/audit"} {
		if err := act(ctx, chromedp.Navigate(s.console+page), chromedp.WaitReady(chromedp.CSS(`main`))); err != nil {
			t.Fatal(err)
		}
		wide, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil || wide > 390 {
			t.Errorf("%s on a phone is %d px wide, want at most 390 (%v)", page, wide, err)
		}
		if page == "/late" {
			hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll('table.late td:nth-child(4)')].some(td => td.offsetParent === null)`))
			if err != nil || hidden {
				t.Errorf("the late list hides a deadline on a phone (%v)", err)
			}
		}
	}
}

// unitIDByName finds a unit's ID, as its form option carries it.
func unitIDByName(t *testing.T, s *service, name string) string {
	t.Helper()
	units, err := s.db.Units(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		if u.Name == name {
			return fmt.Sprint(u.ID)
		}
	}
	t.Fatalf("no unit %q", name)
	return ""
}

// A supervisor's shift in a real browser: a report with a photo (sent with
// its GPS position) and a request to erase it come in; she opens the data
// requests, sees the one waiting with its 2-working-day clock, opens the
// report and sees the cleaned photo, and the flag form. Screenshots at
// desktop and phone sizes go to SCREENSHOTS.
func TestSupervisorInBrowser(t *testing.T) {
	ctx := browser(t)
	s, tg, secret := startTelegram(t)
	if _, err := s.db.AddOfficer(context.Background(), "chief", "supervisor", "", "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	orig := mediatest.JPEG(40, 20, 6)
	const fileID = "BQACAgUAAxkBAAIBbrowserfileid"
	tg.AddFile(fileID, orig)
	c := s.telegramChat(t, tg, secret, 700601)
	ref := reportWithFile(t, c, fileID, len(orig))
	tip, err := s.db.TipByReference(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	waitMedia(t, s, tip.ID)
	c.dataRequest(ref, "d:erase")

	shot := func(name string) {
		if dir := os.Getenv("SCREENSHOTS"); dir != "" {
			if b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
				os.WriteFile(dir+"/"+name+".png", b, 0o644)
			}
		}
	}
	err = act(ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(s.console+"/requests"),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), "chief"),
		chromedp.SendKeys(chromedp.CSS(`#password`), "correct horse battery staple"+kb.Enter),
	)
	if err != nil {
		t.Fatalf("sign in: %v\n%s", err, s.log)
	}
	// Signed in, she is on the page she asked for; the nav leads there too
	// (clicked from the page's own script: the page may still be
	// settling, and a node handle could go stale).
	waitJS(t, ctx, `location.pathname === '/requests' && document.readyState === 'complete' &&
		!!document.querySelector('nav a[href="/requests"]')`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('nav a[href="/requests"]').click(), true`)); err != nil {
		t.Fatalf("the nav's link to the data requests: %v", err)
	}
	waitJS(t, ctx, `location.pathname === '/requests' && document.body.textContent.includes('`+ref+`') &&
		document.body.textContent.includes('Xoá tin')`)
	shot("console-requests")
	if err := act(ctx, chromedp.Navigate(s.console+"/tips/"+ref)); err != nil {
		t.Fatal(err)
	}
	// The cleaned photo shows, upright (taller than wide), and the page
	// offers the supervisor the original.
	waitJS(t, ctx, `(() => { const i = document.querySelector('img[src*="/media/"]');
		return !!i && i.complete && i.naturalWidth === 20 && i.naturalHeight === 40; })() &&
		!!document.querySelector('a[href$="/original"]') && !!document.querySelector('form[action$="/flag"]')`)
	shot("console-report-supervisor")
	if err := act(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(s.console+"/requests")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, `document.body.textContent.includes('`+ref+`')`)
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil || wide {
		t.Errorf("the requests page scrolls sideways on a phone (%v)", err)
	}
	shot("console-requests-phone")
}
