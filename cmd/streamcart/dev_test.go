package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"streamcart/internal/app"
	"streamcart/internal/platform/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var openLine = regexp.MustCompile(`Open (http://\S+)`)

// startDev runs "streamcart dev" in this process on data and returns the
// gateway's URL and a function that stops it (Ctrl-C) and checks that it
// stopped cleanly.
func startDev(t *testing.T, data string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--data", data, "--addr", "127.0.0.1:0", "--log-level", "warn"}, &out, &errOut)
	}()
	var url string
	testenv.WaitFor(t, 90*time.Second, "dev to print its URL", func() bool {
		select {
		case err := <-done:
			t.Fatalf("dev exited early: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
		default:
		}
		if m := openLine.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			return true
		}
		return false
	})
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev stopped with: %v\nstderr:\n%s", err, errOut.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatal("dev did not stop within 60s of Ctrl-C")
		}
	}
	return url, stop
}

func call(t *testing.T, method, url, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func TestDevServesAnOrderAndKeepsItsData(t *testing.T) {
	t.Parallel()
	data := testenv.TempDir(t) + "/data"
	url, stop := startDev(t, data)

	var sess struct{ Auth string }
	if code := call(t, "GET", url+"/api/v1/session", "", nil, &sess); code != 200 || sess.Auth == "" {
		t.Fatalf("session: %d", code)
	}
	var page struct {
		Products []struct{ ID string }
	}
	if code := call(t, "GET", url+"/api/v1/products?limit=1", sess.Auth, nil, &page); code != 200 || len(page.Products) != 1 {
		t.Fatalf("products: %d", code)
	}
	var o struct {
		OrderID string `json:"orderId"`
		Status  int    `json:"status"`
	}
	if code := call(t, "POST", url+"/api/v1/orders", sess.Auth, map[string]any{"items": []map[string]any{{"productId": page.Products[0].ID, "qty": 1}}}, &o); code != 201 {
		t.Fatalf("order: %d", code)
	}
	testenv.WaitFor(t, 30*time.Second, "the order paid", func() bool {
		call(t, "GET", url+"/api/v1/orders/"+o.OrderID, sess.Auth, nil, &o)
		return o.Status == 4
	})
	stop()

	// The second start reuses the data: the session and the order are there.
	url, stop = startDev(t, data)
	defer stop()
	var again struct {
		OrderID string `json:"orderId"`
		Status  int    `json:"status"`
	}
	if code := call(t, "GET", url+"/api/v1/orders/"+o.OrderID, sess.Auth, nil, &again); code != 200 || again.Status != 4 {
		t.Errorf("after a restart: %d %+v, want the paid order", code, again)
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("gateway URL %s, want loopback", url)
	}
}

func TestDevLogsItsConfigurationWithoutSecretsAndEveryLineOneService(t *testing.T) {
	t.Parallel()
	const (
		operatorToken = "operator-token-s3cret"
		dbPassword    = "database-s3cret" // trust authentication ignores it
	)
	db, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	db.User = url.UserPassword(db.User.Username(), dbPassword)

	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--addr", "127.0.0.1:0", "--log-format", "json",
			"--redis-url", testenv.RedisURL(t), "--database-url", db.String(), "--operator-token", operatorToken,
		}, &out, &errOut)
	}()
	// Payments, orders, the order history and identity each consume.
	testenv.WaitFor(t, 90*time.Second, "dev to start four consumers", func() bool {
		select {
		case err := <-done:
			t.Fatalf("dev exited early: %v\nstderr:\n%s", err, errOut.String())
		default:
		}
		return openLine.MatchString(out.String()) && strings.Count(errOut.String(), `"msg":"consumer started"`) >= 4
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("dev stopped with: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("dev did not stop within 60s of Ctrl-C")
	}

	logged := errOut.String()
	for _, secret := range []string{operatorToken, dbPassword} {
		if strings.Contains(logged, secret) {
			t.Errorf("the log shows the secret %q:\n%s", secret, logged)
		}
	}
	if strings.Contains(out.String(), dbPassword) {
		t.Errorf("dev's output shows the database password:\n%s", out.String())
	}
	var first struct {
		Msg, Version string
		Config       map[string]string
	}
	if err := json.Unmarshal([]byte(firstLine(logged)), &first); err != nil {
		t.Fatalf("first log line: %v\n%s", err, logged)
	}
	if first.Msg != "starting" || first.Version == "" || first.Config["operator-token"] != "xxxxx" || first.Config["addr"] != "127.0.0.1:0" {
		t.Errorf("first log line = %+v, want starting with the version and the masked configuration", first)
	}
	for line := range strings.Lines(logged) {
		var rec struct{ Msg, Service, Stream string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %v: %s", err, line)
			continue
		}
		if n := strings.Count(line, `"service":`); n != 1 {
			t.Errorf("log line has %d service attributes, want 1: %s", n, line)
		}
		if rec.Msg == "consumer started" && !slices.Contains(app.Services, rec.Service) {
			t.Errorf("consumer of %s logs with service %q, want the service that owns it", rec.Stream, rec.Service)
		}
	}
}
