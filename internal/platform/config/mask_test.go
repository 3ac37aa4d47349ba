package config

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
)

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
