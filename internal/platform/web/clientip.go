package web

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ForwardedForHeader is the header in which proxies pass on the address of
// the client they serve.
const ForwardedForHeader = "X-Forwarded-For"

// DecideClientIP returns the address of the client that sent r. It is the
// one place where streamcart decides which address a request comes from;
// everything else reads the decision with ClientIP.
//
// Without trustProxy it is the TCP peer's address, whatever headers say:
// a client can send any X-Forwarded-For.
//
// With trustProxy exactly one reverse proxy is trusted, the one in front of
// this server, and the address is the rightmost X-Forwarded-For entry (of
// the last such header line): the one that proxy appended for its own
// peer. Entries to its left are the client's word and are never used.
// When the rightmost entry is missing or is not an IP address (with or
// without a port), the peer's address is used, never an earlier entry.
//
// Addresses are returned in netip's canonical form: IPv4-mapped IPv6
// addresses as IPv4, IPv6 compressed, without a zone.
func DecideClientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if lines := r.Header.Values(ForwardedForHeader); len(lines) > 0 {
			last := lines[len(lines)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip, ok := parseIP(strings.TrimSpace(last)); ok {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip, ok := parseIP(host); ok {
		return ip
	}
	return host
}

// parseIP reads an address as proxies write it: "192.0.2.1",
// "2001:db8::1", "192.0.2.1:443" or "[2001:db8::1]:443".
func parseIP(s string) (string, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return "", false
		}
		ip = ap.Addr()
	}
	return ip.Unmap().WithZone("").String(), true
}

type clientIPKey struct{}

// WithClientIP decides the client address of each request once, with
// DecideClientIP, and puts it in the request's context for ClientIP.
// Put it in front of everything that limits or records by address.
func WithClientIP(trustProxy bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := DecideClientIP(r, trustProxy)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey{}, ip)))
	})
}

// ClientIP returns the client address that WithClientIP decided for r.
// Without WithClientIP in front it is the TCP peer's address: no header
// is believed by default.
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	return DecideClientIP(r, false)
}
