package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

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
