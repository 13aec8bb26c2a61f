package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"tinbao/storage"
)

// Login throttling: per account and per address, in Redis shared by every
// replica; refusals are audited.
const (
	loginPerAccount = 5
	loginPerAddress = 20
	loginWindow     = 15 * time.Minute
)

// accountLimit is the key an account's sign-in attempts (passwords and
// codes alike) are counted under.
func accountLimit(name string) string { return "console-login:user:" + name }

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "login", nil)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name, valid := loginName(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	ip := clientIP(r)
	// Every attempt is counted before the password is checked (guesses
	// sent at once cannot slip through), and a right password gives its
	// count back: only wrong ones lock an account or an office's address
	// (an officer who signed in five times in a shift was locked out).
	counted := []string{accountLimit(name), "console-login:ip:" + ip}
	for _, k := range []struct {
		key   string
		limit int
	}{{counted[0], loginPerAccount}, {counted[1], loginPerAddress}} {
		ok, err := c.limiter.Allow(ctx, k.key, k.limit, loginWindow)
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
		if !ok {
			c.audit(r, name, "login.throttled", 0, map[string]string{"from": ip})
			c.render(w, r, http.StatusTooManyRequests, "login", c.cat.T("vi", "console.login.throttled", nil))
			return
		}
	}
	var o storage.Officer
	var err error
	if valid {
		o, err = c.db.OfficerByName(ctx, name)
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	// Check a password even for an unknown name, so timing does not tell
	// which accounts exist.
	hash := o.PasswordHash
	if hash == "" {
		hash = dummyHash
	}
	if !storage.CheckPassword(hash, password) || o.Username == "" || o.Disabled {
		c.audit(r, name, "login.failed", 0, map[string]string{"from": ip})
		c.render(w, r, http.StatusUnauthorized, "login", c.cat.T("vi", "console.login.wrong", nil))
		return
	}
	for _, key := range counted {
		if err := c.limiter.Forgive(ctx, key); err != nil {
			c.log.WarnContext(ctx, "login: forgive", "err", err)
		}
	}
	if o.TOTPSecret != "" {
		// The password was right; the code from the app comes next.
		if err := c.sm.RenewToken(ctx); err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
			return
		}
		c.sm.Put(ctx, "pending", o.Username)
		http.Redirect(w, r, "/login/2fa", http.StatusSeeOther)
		return
	}
	c.complete(w, r, o)
}

// complete signs an officer in: a new session ID, a new CSRF token.
func (c *Console) complete(w http.ResponseWriter, r *http.Request, o storage.Officer) {
	ctx := r.Context()
	if err := c.sm.RenewToken(ctx); err != nil { // a new session ID at sign-in
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.sm.Remove(ctx, "pending")
	c.sm.Put(ctx, "officer", o.Username)
	c.sm.Put(ctx, "gen", o.Generation)
	c.sm.Remove(ctx, "csrf") // a fresh token for the signed-in session
	c.audit(r, o.Username, "login.ok", 0, map[string]string{"from": clientIP(r)})
	if o.Role == "admin" && o.TOTPSecret == "" {
		http.Redirect(w, r, "/account/2fa", http.StatusSeeOther) // required for admins
		return
	}
	http.Redirect(w, r, localPath(c.sm.PopString(ctx, "after_login"), "/queue"), http.StatusSeeOther)
}

// localPath is p when it is a path on this site ("/tips/TB-…"), else
// fallback: never "//host" or "/\host", which browsers read as another
// site.
func localPath(p, fallback string) string {
	if len(p) < 1 || p[0] != '/' || len(p) > 1 && (p[1] == '/' || p[1] == '\\') || strings.HasPrefix(p, "/login") {
		return fallback
	}
	return p
}

// dummyHash is checked when no account matches (a hash of nothing useful).
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3e0aEfB7tUwP9h0oUo0nQ8ZqW3o1wV6yKkq5b0cG6QY"

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	c.audit(r, officer(r).Username, "logout", 0, nil)
	c.sm.Destroy(r.Context())
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// logoutEverywhere ends every session of the officer, on every device.
func (c *Console) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	o := officer(r)
	if err := c.db.EndSessions(r.Context(), o.Username); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "console.err.unavailable")
		return
	}
	c.audit(r, o.Username, "logout.everywhere", 0, nil)
	c.sm.Destroy(r.Context())
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// audit records an event; a failure is logged, never shown.
func (c *Console) audit(r *http.Request, actor, action string, tipID int64, details map[string]string) {
	if err := c.db.Audit(r.Context(), actor, action, tipID, details); err != nil {
		c.log.ErrorContext(r.Context(), "audit", "action", action, "err", err)
	}
}
