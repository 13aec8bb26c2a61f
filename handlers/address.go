package handlers

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddress is where a request came from, for the per-address limits:
// the connection's peer, or, behind a proxy, the address the proxy wrote in
// the one header it is trusted for (Config.TrustedProxyHeader). Any other
// header is the client's own word and is never read: a script would name a
// new address on every request. In a list (X-Forwarded-For) only the
// right-most entry is the proxy's; those before it came from the client.
// An IPv6 address is cut to its /64, which one subscriber usually holds
// whole, so a client cannot step through its block.
func clientAddress(r *http.Request, trustedHeader string) string {
	if trustedHeader != "" {
		if vals := r.Header.Values(trustedHeader); len(vals) > 0 {
			last := vals[len(vals)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if a, ok := parseAddr(strings.TrimSpace(last)); ok {
				return group(a)
			}
		}
		// No usable header: the request did not come through the proxy
		// (or the proxy failed). Its peer is then the best we know.
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, ok := parseAddr(host); ok {
		return group(a)
	}
	return host
}

// parseAddr reads an address with or without a port or brackets.
func parseAddr(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return a, err == nil
}

// group is the unit a limit counts: an IPv4 address (or IPv4-mapped IPv6)
// alone, an IPv6 address by its /64.
func group(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
