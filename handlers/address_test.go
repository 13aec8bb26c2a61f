package handlers

import (
	"net/http/httptest"
	"testing"
)

// The client's address comes from the connection, or from the one header
// the proxy is trusted for (its right-most entry); IPv6 counts by /64.
func TestClientAddress(t *testing.T) {
	for _, tc := range []struct {
		name, remote, header string
		set                  map[string]string
		want                 string
	}{
		{"peer", "192.0.2.7:5555", "", nil, "192.0.2.7"},
		{"a spoofed header is not read unless trusted", "192.0.2.7:5555", "",
			map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Real-Ip": "203.0.113.9"}, "192.0.2.7"},
		{"IPv6 by /64", "[2001:db8:1:2:aaaa::1]:443", "", nil, "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6", "[::ffff:192.0.2.7]:1", "", nil, "192.0.2.7"},
		{"X-Forwarded-For: the proxy's entry, not the client's", "10.0.0.1:80", "X-Forwarded-For",
			map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}, "203.0.113.9"},
		{"X-Forwarded-For IPv6", "10.0.0.1:80", "X-Forwarded-For",
			map[string]string{"X-Forwarded-For": "2001:db8:5:6::99"}, "2001:db8:5:6::/64"},
		{"X-Real-IP", "10.0.0.1:80", "X-Real-Ip", map[string]string{"X-Real-Ip": "203.0.113.9"}, "203.0.113.9"},
		{"trusted header missing: the peer", "10.0.0.1:80", "X-Real-Ip", nil, "10.0.0.1"},
		{"trusted header garbled: the peer", "10.0.0.1:80", "X-Forwarded-For",
			map[string]string{"X-Forwarded-For": "203.0.113.9, nonsense"}, "10.0.0.1"},
	} {
		r := httptest.NewRequest("GET", "/chat", nil)
		r.RemoteAddr = tc.remote
		for k, v := range tc.set {
			r.Header.Set(k, v)
		}
		if got := clientAddress(r, tc.header); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// Several X-Forwarded-For lines: the last line's last entry.
	r := httptest.NewRequest("GET", "/chat", nil)
	r.Header.Add("X-Forwarded-For", "203.0.113.1")
	r.Header.Add("X-Forwarded-For", "198.51.100.1, 203.0.113.2")
	if got := clientAddress(r, "X-Forwarded-For"); got != "203.0.113.2" {
		t.Errorf("several header lines: %q", got)
	}
}
