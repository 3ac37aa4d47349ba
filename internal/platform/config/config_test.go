package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
			got, err := parse(t, tt.args, tt.env)
			if (err != nil) != tt.wantError {
				t.Fatalf("Parse(%q) error = %v, want error %v", tt.args, err, tt.wantError)
			}
			if err == nil && (got.addr != tt.wantAddr || got.wait != tt.wantWait) {
				t.Errorf("Parse(%q) = %q, %v; want %q, %v", tt.args, got.addr, got.wait, tt.wantAddr, tt.wantWait)
			}
		})
	}
}

// parsed are the values of the flags that parse defines.
type parsed struct {
	addr, secret string
	wait         time.Duration
}

// parse runs Parse with prefix APP on args and the environment env, over
// the flags addr (default :8080), shutdown-wait (1s) and secret.
func parse(t *testing.T, args []string, env map[string]string) (parsed, error) {
	for k, v := range env {
		t.Setenv(k, v)
	}
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", ":8080", "")
	wait := fs.Duration("shutdown-wait", time.Second, "")
	secret := fs.String("secret", "", "")
	err := Parse(fs, "APP", args)
	return parsed{addr: *addr, secret: *secret, wait: *wait}, err
}

func TestParseReadsAFlagFromTheFileItsFileVariableNames(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	secret := write("secret", "s3cr3t\n")
	crlf := write("crlf", "s3cr3t\r\n")
	empty := write("empty", "")
	badWait := write("wait", "soon\n")
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantSecret string
		wantError  string // part of the error; empty for none
	}{
		{"file", nil, map[string]string{"APP_SECRET_FILE": secret}, "s3cr3t", ""},
		{"file with a CRLF line end", nil, map[string]string{"APP_SECRET_FILE": crlf}, "s3cr3t", ""},
		{"flag beats file", []string{"-secret", "given"}, map[string]string{"APP_SECRET_FILE": secret}, "given", ""},
		{"both variables", nil, map[string]string{"APP_SECRET": "x", "APP_SECRET_FILE": secret}, "", "both set"},
		{"missing file", nil, map[string]string{"APP_SECRET_FILE": filepath.Join(dir, "none")}, "", "APP_SECRET_FILE"},
		{"empty file", nil, map[string]string{"APP_SECRET_FILE": empty}, "", "is empty"},
		{"bad value in the file", nil, map[string]string{"APP_SHUTDOWN_WAIT_FILE": badWait}, "", "APP_SHUTDOWN_WAIT_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(t, tt.args, tt.env)
			switch {
			case tt.wantError == "" && err != nil:
				t.Fatalf("Parse(%q) with %v: %v", tt.args, tt.env, err)
			case tt.wantError != "" && (err == nil || !strings.Contains(err.Error(), tt.wantError)):
				t.Fatalf("Parse(%q) with %v: error %v, want one saying %q", tt.args, tt.env, err, tt.wantError)
			case tt.wantError != "" && strings.Contains(err.Error(), "s3cr3t"):
				t.Errorf("Parse error %q shows the file's content", err)
			case err == nil && got.secret != tt.wantSecret:
				t.Errorf("Parse(%q) with %v: secret %q, want %q", tt.args, tt.env, got.secret, tt.wantSecret)
			}
		})
	}
}

func TestMaskPasswords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"redis://:s3cret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"redis://default:s3cret@redis.internal:6379", "redis://default:xxxxx@redis.internal:6379"},
		{"postgres://app:s3cret@db/streamcart?sslmode=disable", "postgres://app:xxxxx@db/streamcart?sslmode=disable"},
		{"postgres://app@db/streamcart?password=s3cret", "postgres://app@db/streamcart?password=xxxxx"},
		{"postgres://app:s3%40cr%2Fet@db/streamcart", "postgres://app:xxxxx@db/streamcart"},
		{"postgres://app:s3 cr@et@db/streamcart", "postgres://xxxxx@db/streamcart"},
		{"host=db user=app password=s3cret dbname=streamcart", "host=db user=app password=xxxxx dbname=streamcart"},
		{"host=db password = 's3 cr\\'et' dbname=streamcart", "host=db password=xxxxx dbname=streamcart"},
		// Values without a password stay as they are.
		{"postgres://streamcart@db.internal/streamcart", "postgres://streamcart@db.internal/streamcart"},
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"http://localhost:3000,https://shop.example", "http://localhost:3000,https://shop.example"},
		{":8080", ":8080"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := MaskPasswords(tt.in); got != tt.want {
			t.Errorf("MaskPasswords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEffectiveConfigNeverShowsASecret(t *testing.T) {
	// Not parallel: it sets an environment variable.
	secrets := []string{"0123456789abcdef0123456789abcdef", "op-token-s3cret", "redis-s3cret", "pg-s3cret"}
	t.Setenv("APP_OPERATOR_TOKEN", secrets[1])
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("addr", ":8080", "")
	fs.String("identity-secret", "", "")
	fs.String("operator-token", "", "")
	fs.String("redis-url", "", "")
	fs.String("database-url", "", "")
	fs.String("unset-secret", "", "")
	args := []string{
		"--identity-secret", secrets[0],
		"--redis-url", "redis://:" + secrets[2] + "@127.0.0.1:6379/0",
		"--database-url", "postgres://app:" + secrets[3] + "@db/streamcart",
	}
	if err := Parse(fs, "APP", args); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	log.Info("starting", Effective(fs, "identity-secret", "operator-token", "unset-secret"))

	got := out.String()
	for _, s := range secrets {
		if strings.Contains(got, s) {
			t.Errorf("the logged configuration shows the secret %q:\n%s", s, got)
		}
	}
	for _, want := range []string{
		`"addr":":8080"`,
		`"identity-secret":"xxxxx"`,
		`"operator-token":"xxxxx"`,
		`"redis-url":"redis://:xxxxx@127.0.0.1:6379/0"`,
		`"database-url":"postgres://app:xxxxx@db/streamcart"`,
		`"unset-secret":""`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the logged configuration lacks %s:\n%s", want, got)
		}
	}
}

func TestProblemsJoinsWhatIsWrongAndIsNilWhenNothingIs(t *testing.T) {
	t.Parallel()
	var none Problems
	none.If(false, "never")
	none.Add(nil)
	if err := none.Err(); err != nil {
		t.Errorf("Problems with nothing wrong: Err() = %v, want nil", err)
	}

	part := errors.New("Consumer: Group is required")
	var p Problems
	p.If(true, "OrderKey is required")
	p.If(true, "Grace %v is negative", -1)
	p.Add(part)
	err := p.Err()
	if want := "OrderKey is required\nGrace -1 is negative\nConsumer: Group is required"; err == nil || err.Error() != want {
		t.Errorf("Err() = %v, want %q", err, want)
	}
	if !errors.Is(err, part) {
		t.Errorf("Err() = %v does not wrap the part's error", err)
	}
}
