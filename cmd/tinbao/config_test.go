package main

import (
	"strings"
	"testing"
)

// TRUSTED_PROXY_HEADER: empty trusts no header; a header name is kept in
// its canonical form; anything else, and RFC 7239's Forwarded (not read),
// is refused at start.
func TestConfigTrustedProxyHeader(t *testing.T) {
	env := map[string]string{"TINBAO_SECRET": testSecret}
	load := func(v string) (config, error) {
		env["TRUSTED_PROXY_HEADER"] = v
		return loadConfig(func(k string) string { return env[k] })
	}
	for v, want := range map[string]string{"": "", "x-forwarded-for": "X-Forwarded-For", "X-Real-IP": "X-Real-Ip"} {
		c, err := load(v)
		if err != nil || c.TrustedProxyHeader != want {
			t.Errorf("%q: %q, %v; want %q", v, c.TrustedProxyHeader, err, want)
		}
	}
	for _, v := range []string{"Forwarded", "X-Forwarded-For: 1.2.3.4", "X Real IP"} {
		if _, err := load(v); err == nil || !strings.Contains(err.Error(), "TRUSTED_PROXY_HEADER") {
			t.Errorf("%q accepted (%v)", v, err)
		}
	}
}
