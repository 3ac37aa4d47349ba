package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestClientIPIsThePeerUnlessAProxyIsTrustedThenTheRightmostForwardedEntry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		trustProxy bool
		remote     string
		xff        []string // one header line each
		want       string
	}{
		{"peer", false, "192.0.2.1:5555", nil, "192.0.2.1"},
		{"spoofed XFF ignored without trust", false, "192.0.2.1:5555", []string{"203.0.113.9"}, "192.0.2.1"},
		{"ipv6 peer", false, "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"ipv6 peer in long form", false, "[2001:0db8:0000::0001]:443", nil, "2001:db8::1"},
		{"ipv4-mapped peer", false, "[::ffff:192.0.2.1]:443", nil, "192.0.2.1"},
		{"peer with a zone", false, "[fe80::1%eth0]:443", nil, "fe80::1"},
		{"peer without a port", false, "192.0.2.1", nil, "192.0.2.1"},
		{"peer that is no address", false, "@", nil, "@"},
		{"trusted: rightmost entry", true, "10.0.0.1:5555", []string{"198.51.100.7, 203.0.113.9"}, "203.0.113.9"},
		{"trusted: rightmost of the last line", true, "10.0.0.1:5555", []string{"198.51.100.7", "203.0.113.10"}, "203.0.113.10"},
		{"trusted: the client's own entries are ignored", true, "10.0.0.1:5555", []string{"1.1.1.1, 2.2.2.2, 203.0.113.11"}, "203.0.113.11"},
		{"trusted: ipv6 entry", true, "10.0.0.1:5555", []string{"2001:db8::7"}, "2001:db8::7"},
		{"trusted: entry with a port", true, "10.0.0.1:5555", []string{"203.0.113.12:61000"}, "203.0.113.12"},
		{"trusted: bracketed ipv6 with a port", true, "10.0.0.1:5555", []string{"[2001:db8::8]:61000"}, "2001:db8::8"},
		{"trusted: ipv4-mapped entry", true, "10.0.0.1:5555", []string{"::ffff:203.0.113.13"}, "203.0.113.13"},
		{"trusted: spaces", true, "10.0.0.1:5555", []string{"  203.0.113.14  "}, "203.0.113.14"},
		{"trusted: garbage falls back to the peer", true, "10.0.0.1:5555", []string{"not-an-ip"}, "10.0.0.1"},
		{"trusted: garbage never promotes an earlier entry", true, "10.0.0.1:5555", []string{"203.0.113.15, unknown"}, "10.0.0.1"},
		{"trusted: empty rightmost entry", true, "10.0.0.1:5555", []string{"203.0.113.16,"}, "10.0.0.1"},
		{"trusted: empty header", true, "10.0.0.1:5555", []string{""}, "10.0.0.1"},
		{"trusted: none", true, "10.0.0.1:5555", nil, "10.0.0.1"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add(ForwardedForHeader, v)
		}
		if got := DecideClientIP(r, tt.trustProxy); got != tt.want {
			t.Errorf("%s: DecideClientIP(remote %s, XFF %q, trust %v) = %s, want %s", tt.name, tt.remote, tt.xff, tt.trustProxy, got, tt.want)
		}
	}
}

func TestClientIPReadsTheDecisionOfWithClientIP(t *testing.T) {
	t.Parallel()
	var got string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = ClientIP(r) })
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:5555"
	r.Header.Set(ForwardedForHeader, "203.0.113.9")

	WithClientIP(true, h).ServeHTTP(httptest.NewRecorder(), r)
	if got != "203.0.113.9" {
		t.Errorf("behind WithClientIP(trust): ClientIP = %s, want the forwarded 203.0.113.9", got)
	}
	WithClientIP(false, h).ServeHTTP(httptest.NewRecorder(), r)
	if got != "10.0.0.1" {
		t.Errorf("behind WithClientIP(no trust): ClientIP = %s, want the peer 10.0.0.1", got)
	}
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got != "10.0.0.1" {
		t.Errorf("without WithClientIP: ClientIP = %s, want the peer 10.0.0.1, never a header", got)
	}
}
