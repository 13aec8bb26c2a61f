package console

import (
	"bytes"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP (RFC 6238) as authenticator apps expect it: six digits, 30-second
// steps, one step of clock drift allowed either way; a code is used once.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// validCode checks a code and that no code of its step (or a later one) was
// used before.
func (c *Console) validCode(r *http.Request, username, secret, code string) bool {
	code = strings.TrimSpace(code)
	now := time.Now()
	for _, d := range []time.Duration{0, -30 * time.Second, 30 * time.Second} {
		at := now.Add(d)
		want, err := totp.GenerateCodeCustom(secret, at, totpOpts)
		if err != nil || len(code) != 6 || want != code {
			continue
		}
		fresh, err := c.db.UseTOTPStep(r.Context(), username, at.Unix()/30)
		return err == nil && fresh
	}
	return false
}

// secondFactorPage asks a signed-in-by-password officer for their code.
func (c *Console) secondFactorPage(w http.ResponseWriter, r *http.Request) {
	if c.sm.GetString(r.Context(), "pending") == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "twofactor", nil)
}

// secondFactor finishes sign-in with a valid code.
func (c *Console) secondFactor(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name := c.sm.GetString(ctx, "pending")
	if name == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	ok, err := c.limiter.Allow(ctx, accountLimit(name), loginPerAccount, loginWindow)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	if !ok {
		c.audit(r, name, "login.throttled", 0, map[string]string{"from": clientIP(r)})
		c.render(w, r, http.StatusTooManyRequests, "twofactor", c.cat.T("vi", "console.login.throttled", nil))
		return
	}
	o, err := c.db.OfficerByName(ctx, name)
	if err != nil || o.Disabled || o.TOTPSecret == "" || !c.validCode(r, o.Username, o.TOTPSecret, r.PostFormValue("code")) {
		c.audit(r, name, "login.failed", 0, map[string]string{"from": clientIP(r), "factor": "totp"})
		c.render(w, r, http.StatusUnauthorized, "twofactor", c.cat.T("vi", "console.twofactor.wrong", nil))
		return
	}
	if err := c.limiter.Forgive(ctx, accountLimit(name)); err != nil { // only wrong codes count
		c.log.WarnContext(ctx, "login: forgive", "err", err)
	}
	c.complete(w, r, o)
}

type enrolData struct {
	Enabled bool
	Secret  string
	URL     string
	Error   string
}

// enrolPage turns two-factor sign-in on: a new secret to scan (or type)
// into an authenticator app, then one code to prove it works.
func (c *Console) enrolPage(w http.ResponseWriter, r *http.Request) {
	o := officer(r)
	if o.TOTPSecret != "" {
		c.render(w, r, http.StatusOK, "enrol", enrolData{Enabled: true})
		return
	}
	key, err := c.newKey(r)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.render(w, r, http.StatusOK, "enrol", enrolData{Secret: key.Secret(), URL: key.URL()})
}

// newKey is the secret being enrolled, kept in the session until proven.
func (c *Console) newKey(r *http.Request) (*otp.Key, error) {
	if u := c.sm.GetString(r.Context(), "totp_new"); u != "" {
		return otp.NewKeyFromURL(u)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "tinbao", AccountName: officer(r).Username})
	if err != nil {
		return nil, err
	}
	c.sm.Put(r.Context(), "totp_new", key.URL())
	return key, nil
}

// enrolQR draws the secret being enrolled as a QR code for the app.
func (c *Console) enrolQR(w http.ResponseWriter, r *http.Request) {
	key, err := c.newKey(r)
	if err != nil || officer(r).TOTPSecret != "" {
		http.NotFound(w, r)
		return
	}
	img, err := key.Image(240, 240)
	if err != nil {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	w.Header().Set("Content-Type", "image/png")
	w.Write(b.Bytes())
}

// enrol proves the app works with one code, then turns two-factor on.
func (c *Console) enrol(w http.ResponseWriter, r *http.Request) {
	o := officer(r)
	key, err := c.newKey(r)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	want, err := totp.GenerateCodeCustom(key.Secret(), time.Now(), totpOpts)
	prev, _ := totp.GenerateCodeCustom(key.Secret(), time.Now().Add(-30*time.Second), totpOpts)
	code := strings.TrimSpace(r.PostFormValue("code"))
	if err != nil || (code != want && code != prev) {
		c.render(w, r, http.StatusUnauthorized, "enrol", enrolData{Secret: key.Secret(), URL: key.URL(),
			Error: c.cat.T("vi", "console.twofactor.wrong", nil)})
		return
	}
	if err := c.db.SetTOTP(r.Context(), o.Username, key.Secret()); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.sm.Remove(r.Context(), "totp_new")
	c.flash(r, "console.twofactor.enabled", nil)
	http.Redirect(w, r, "/queue", http.StatusSeeOther)
}
