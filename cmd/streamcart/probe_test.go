package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbeSucceedsOnlyOnA2xx(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"postgres":"down"}`))
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()

	tests := []struct {
		args      []string
		wantErr   string // part of the error; empty for success
		wantUsage bool
	}{
		{[]string{srv.URL + "/healthz"}, "", false},
		{[]string{srv.URL + "/readyz"}, "503", false},
		{[]string{closed, "--timeout", "2s"}, "refused", false},
		{[]string{"127.0.0.1:8080/healthz"}, "not an http", true},
		{[]string{srv.URL, "--timeout", "0s"}, "positive", true},
		{[]string{}, "no URL", true},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), append([]string{"probe"}, tt.args...), &stdout, &stderr)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("probe %q: %v", tt.args, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("probe %q: %v, want an error saying %q", tt.args, err, tt.wantErr)
		case err != nil && errors.As(err, new(usageError)) != tt.wantUsage:
			t.Errorf("probe %q: %v is a usage error: %v, want %v", tt.args, err, !tt.wantUsage, tt.wantUsage)
		}
	}
}
