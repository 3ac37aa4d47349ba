package app_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"streamcart/internal/app"
	"streamcart/internal/platform/testenv"
)

// opsToken opens the operations page of the shops that need it.
const opsToken = "journey-test-operator-token"

// journeyStep is a row of the journey page.
type journeyStep struct {
	key, state, took string
	at               time.Time // zero without a time
}

var (
	stepRow      = regexp.MustCompile(`(?s)<tr data-step="([^"]+)" data-state="([^"]+)">(.*?)</tr>`)
	stepTime     = regexp.MustCompile(`datetime="([^"]+)"`)
	stepTook     = regexp.MustCompile(`data-field="took">([^<]*)<`)
	journeyOrder = []string{"created", "published", "paid", "status-applied", "history-updated"}
)

// journey asks the operations page, as an operator, for the journey of
// orderID and returns the status, the page and its steps.
func (s *shop) journey(orderID string) (int, string, []journeyStep) {
	s.t.Helper()
	client := &http.Client{Timeout: 10 * time.Second} // not the API checker: /ops is no API
	resp, body := testenv.Do(s.t, client, testenv.Request{
		Method: "GET", URL: s.sys.URLs[app.Gateway] + "/ops/journey?" + url.Values{"order": {orderID}}.Encode(),
		Header: http.Header{"Authorization": {"Bearer " + opsToken}},
	})
	page := string(body)
	var steps []journeyStep
	for _, m := range stepRow.FindAllStringSubmatch(page, -1) {
		st := journeyStep{key: m[1], state: m[2]}
		if t := stepTime.FindStringSubmatch(m[3]); t != nil {
			at, err := time.Parse(time.RFC3339, t[1])
			if err != nil {
				s.t.Fatalf("step %s: time %q: %v", st.key, t[1], err)
			}
			st.at = at
		}
		if t := stepTook.FindStringSubmatch(m[3]); t != nil {
			st.took = strings.TrimSpace(t[1])
		}
		steps = append(steps, st)
	}
	return resp.StatusCode, page, steps
}

// TestOpsShowsAnOrdersJourney places an order through the shop and
// follows it on the operations page until every step is done: the five
// steps in order, each with a time no earlier than the step it follows
// and a non-negative time taken. An unknown order is a clear 404, and ids
// that are no ids a clear 400.
func TestOpsShowsAnOrdersJourney(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{trustProxy: true, operatorToken: opsToken})
	sh := s.shopper("journey-test", "192.0.2.61")
	p := s.catalog(1)[0]
	var o order
	if code := sh.do("POST", "/api/v1/orders", map[string]any{"items": []item{{ProductID: p.ID, Qty: 1}}}, &o); code != http.StatusCreated {
		t.Fatalf("place an order: status %d", code)
	}

	var steps []journeyStep
	testenv.WaitFor(t, 30*time.Second, "the journey of "+o.OrderID+" complete", func() bool {
		code, page, got := s.journey(o.OrderID)
		if code != http.StatusOK {
			t.Fatalf("journey: status %d:\n%s", code, page)
		}
		steps = got
		return len(steps) > 0 && !slices.ContainsFunc(steps, func(st journeyStep) bool { return st.state != "done" })
	})
	var keys []string
	at := map[string]time.Time{}
	for _, st := range steps {
		keys = append(keys, st.key)
		at[st.key] = st.at
		if st.at.IsZero() {
			t.Errorf("step %s is done without a time", st.key)
		}
		if st.key != "created" && (st.took == "" || st.took == "—" || strings.HasPrefix(st.took, "-")) {
			t.Errorf("step %s took %q, want a duration of zero or more", st.key, st.took)
		}
	}
	if !slices.Equal(keys, journeyOrder) {
		t.Fatalf("steps %v, want %v", keys, journeyOrder)
	}
	// Each step follows its cause; orders and the history both follow the
	// payment.
	for step, after := range map[string]string{"published": "created", "paid": "published", "status-applied": "paid", "history-updated": "paid"} {
		if at[step].Before(at[after]) {
			t.Errorf("%s at %v, before %s at %v", step, at[step], after, at[after])
		}
	}

	if code, page, _ := s.journey("o-no-such-order"); code != http.StatusNotFound || !strings.Contains(page, "No such order") {
		t.Errorf("journey of an unknown order: status %d, want 404 saying No such order:\n%s", code, page)
	}
	for _, id := range []string{"a b", "../../etc/passwd", "<script>alert(1)</script>", strings.Repeat("x", 65), "é", "o-1;DROP TABLE orders"} {
		code, page, _ := s.journey(id)
		if code != http.StatusBadRequest || !strings.Contains(page, "That is not an order id") {
			t.Errorf("journey of %q: status %d, want 400 saying it is not an order id", id, code)
		}
		if strings.Contains(page, "<script>alert") {
			t.Errorf("journey of %q: the page shows the id unescaped", id)
		}
	}
}
