package config

import (
	"flag"
	"io"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		wantAddr  string
		wantWait  time.Duration
		wantError bool
	}{
		{"defaults", nil, nil, ":8080", time.Second, false},
		{"env", nil, map[string]string{"APP_ADDR": ":9090", "APP_SHUTDOWN_WAIT": "3s"}, ":9090", 3 * time.Second, false},
		{"flag beats env", []string{"-addr", ":7070"}, map[string]string{"APP_ADDR": ":9090"}, ":7070", time.Second, false},
		{"bad env value", nil, map[string]string{"APP_SHUTDOWN_WAIT": "soon"}, "", 0, true},
		{"unknown flag", []string{"-nope"}, nil, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			fs := flag.NewFlagSet("app", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			addr := fs.String("addr", ":8080", "")
			wait := fs.Duration("shutdown-wait", time.Second, "")
			err := Parse(fs, "APP", tt.args)
			if (err != nil) != tt.wantError {
				t.Fatalf("Parse(%q) error = %v, want error %v", tt.args, err, tt.wantError)
			}
			if err == nil && (*addr != tt.wantAddr || *wait != tt.wantWait) {
				t.Errorf("Parse(%q) = %q, %v; want %q, %v", tt.args, *addr, *wait, tt.wantAddr, tt.wantWait)
			}
		})
	}
}
