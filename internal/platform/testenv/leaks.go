package testenv

import (
	"encoding/json"
	"regexp"
)

// leaks are what a message to a client must never hold: the text of Go
// errors (type names, decoder and network errors), file paths and internal
// addresses. Each says what it caught.
var leaks = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a loopback address", regexp.MustCompile(`127\.0\.0\.1:|\[::1\]|localhost:\d`)},
	{"a network error", regexp.MustCompile(`(?i)(dial|read|write) (tcp|udp|unix)|i/o timeout|connection (refused|reset)|broken pipe`)},
	{"a Go source position", regexp.MustCompile(`\.go:\d`)},
	{"a Go type", regexp.MustCompile(`Go (struct|value)|\*errs\.|\bmain\.|\*http\.|\*json\.|interface \{\}|map\[string\]|\[\]interface|\bstruct \{`)},
	{"a Go error text", regexp.MustCompile(`json: |unexpected EOF|context deadline exceeded|context canceled|runtime error|goroutine \d|panic:`)},
	{"a module path", regexp.MustCompile(`streamcart/internal/|/home/|/tmp/|/usr/`)},
	{"a database or Redis error", regexp.MustCompile(`SQLSTATE|\bpgx?\b|\bpq: |ERR wrong|WRONGTYPE|NOAUTH|NOPERM`)},
}

// Leak returns what msg, a message meant for a client, leaks (a Go type
// name, a file path, an internal address, a Go error's text), or "" when
// it leaks nothing. Tests of hostile input call it on every error message
// they get back.
func Leak(msg string) string {
	for _, l := range leaks {
		if m := l.re.FindString(msg); m != "" {
			return l.what + " (" + m + ")"
		}
	}
	return ""
}

// LeakInBody returns what an error response's body leaks, by Leak on
// its error message: the "error" object of the services' and /api/v1's
// bodies ({"error": {"code", "message"}}) or of the tutorial API's
// envelope. A body that is not JSON is checked whole.
func LeakInBody(body []byte) string {
	var b struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Error == nil {
		return Leak(string(body))
	}
	if l := Leak(b.Error.Code); l != "" {
		return l
	}
	return Leak(b.Error.Message)
}
