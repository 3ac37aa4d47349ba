package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"streamcart/internal/app"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/testenv"
)

// TestEveryShopperSeesAllTheirOrdersAfterRedisRestartsEmpty places 500
// orders of ten shoppers and, once they are final, restarts Redis with
// none of its data (its users kept, as a deployment's ACL file is). With
// no command run, within 30 s every shopper's history lists all of their
// orders with their final status, rebuilt from the orders service's
// snapshots; before that, every read of the history answers 503, never a
// list that lacks an order.
func TestEveryShopperSeesAllTheirOrdersAfterRedisRestartsEmpty(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{redisUsers: true})
	catalog := s.catalog(5)
	const shoppers, each = 10, 50
	users := make([]string, shoppers)
	for i := range users {
		users[i] = fmt.Sprintf("shopper-%02d", i)
	}
	var g errgroup.Group
	g.SetLimit(4)
	for i := range shoppers * each {
		g.Go(func() error {
			// Some totals are above PaymentFailAbove: declined.
			return s.tryPlaceOrder(users[i%shoppers], item{ProductID: catalog[i%5].ID, Qty: 1 + i%3})
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 60*time.Second, "every order final", func() bool { return s.notFinal() == 0 })
	want := map[string][]statusOf{}
	for _, u := range users {
		want[u] = s.finalStatuses(u)
		if len(want[u]) != each {
			t.Fatalf("shopper %s has %d orders, want %d", u, len(want[u]), each)
		}
	}

	s.restartRedisEmpty()
	restarted := time.Now()

	unavailable := 0
	done := map[string]bool{}
	testenv.WaitFor(t, 30*time.Second, "every shopper's history whole again", func() bool {
		for _, u := range users {
			if done[u] {
				continue
			}
			var h struct{ Orders []historyRecord }
			switch code := s.call("GET", s.sys.URLs[app.History]+"/history?limit=100", u, nil, &h); code {
			case http.StatusServiceUnavailable:
				unavailable++
				return false
			case http.StatusOK:
				got := make([]statusOf, len(h.Orders))
				for i, r := range h.Orders {
					got[i] = statusOf{r.OrderID, r.Status}
				}
				slices.SortFunc(got, statusOf.compare)
				if diff := cmp.Diff(want[u], got, cmp.AllowUnexported(statusOf{})); diff != "" {
					t.Fatalf("%s after %v: the history answered 200 with other orders than theirs (-orders +history):\n%s",
						u, time.Since(restarted), diff)
				}
				done[u] = true
			default:
				t.Fatalf("%s: history answered %d", u, code)
			}
		}
		return true
	})
	t.Logf("every history whole %v after the restart; %d reads answered 503 before", time.Since(restarted).Round(time.Millisecond), unavailable)

	// Every service did it as its own Redis user, refused nothing.
	wantNothingRefused(t, adminClient(t, s.redis))
}

// statusOf is an order's id and status.
type statusOf struct {
	id     string
	status int
}

func (a statusOf) compare(b statusOf) int {
	if a.id < b.id {
		return -1
	}
	if a.id > b.id {
		return 1
	}
	return 0
}

// finalStatuses returns userID's orders and their status in the orders
// database, by order id.
func (s *shop) finalStatuses(userID string) []statusOf {
	s.t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT order_id, status FROM orders.orders WHERE user_id = $1 ORDER BY order_id`, userID)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []statusOf
	for rows.Next() {
		var o statusOf
		if err := rows.Scan(&o.id, &o.status); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// tryPlaceOrder creates an order as userID through the orders service and
// returns an error unless it is accepted. Unlike placeOrder, it may run on
// any goroutine.
func (s *shop) tryPlaceOrder(userID string, items ...item) error {
	body, _ := json.Marshal(map[string]any{"items": items})
	req, err := http.NewRequestWithContext(s.t.Context(), http.MethodPost, s.ordersURL()+"/orders", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(auth.Header, s.signer.Sign(auth.Identity{Role: auth.RoleShopper, UserID: userID, SessionID: "s-" + userID, IP: "127.0.0.1", UserAgent: "test"}))
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("create order of %s: %w", userID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create order of %s: status %d", userID, resp.StatusCode)
	}
	return nil
}
