package app_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"streamcart/internal/gateway"
	"streamcart/internal/platform/testenv"
)

// customer is a shopper whose token travels as a Bearer header or, as a
// browser sends it, in the session cookie.
type customer struct {
	sh     *shopper
	cookie bool
	userID string
	orders []string
}

// do sends a request through the gateway with the customer's token.
func (c *customer) do(method, path string, body, out any) int {
	c.sh.s.t.Helper()
	if !c.cookie {
		return c.sh.do(method, path, body, out)
	}
	sh := *c.sh
	sh.token = ""
	return sh.do(method, path, body, out, "Cookie", gateway.SessionCookie+"="+c.sh.token)
}

// session asks the gateway whose session the customer's token is,
// waiting out the 503s of a Redis that is still coming back.
func (c *customer) session() (sessionInfo, int) {
	c.sh.s.t.Helper()
	var info sessionInfo
	var code int
	testenv.WaitFor(c.sh.s.t, 30*time.Second, "the gateway reaching Redis", func() bool {
		info = sessionInfo{}
		code = c.do("GET", "/api/v1/session", nil, &info)
		return code != http.StatusServiceUnavailable
	})
	return info, code
}

// sessionInfo is the answer of GET /api/v1/session.
type sessionInfo struct {
	UserID string `json:"userId"`
	Auth   string `json:"auth"`
}

// Redis holds no session: a token is signed by the gateway and carries its
// shopper, so when Redis restarts with none of its data, every shopper
// keeps their token, their user id and every order they placed, and their
// next orders land under the same user. Run with a Redis user per service,
// as streamcart dev does: the users are configuration (users.acl) and come
// back with the empty Redis.
func TestShoppersKeepTheirSessionsAndOrdersWhenRedisRestartsEmpty(t *testing.T) {
	t.Parallel()
	s := startShop(t, shopOptions{trustProxy: true, redisUsers: true})
	ctx := t.Context()
	p := s.catalog(1)[0]
	order1 := map[string]any{"items": []item{{ProductID: p.ID, Qty: 1}}}

	var customers []*customer
	for i := range 4 {
		c := &customer{sh: s.shopper(fmt.Sprintf("browser-%d", i), fmt.Sprintf("192.0.2.%d", 40+i)), cookie: i%2 == 1}
		info, code := c.session()
		if code != 200 {
			t.Fatalf("shopper %d: session %d", i, code)
		}
		c.userID = info.UserID
		for range 2 {
			var o order
			if code := c.do("POST", "/api/v1/orders", order1, &o); code != 201 || o.UserID != c.userID {
				t.Fatalf("shopper %d: create order: %d, user %q, want 201 for %s", i, code, o.UserID, c.userID)
			}
			c.orders = append(c.orders, o.OrderID)
		}
		customers = append(customers, c)
	}
	testenv.WaitFor(t, 60*time.Second, "every order final", func() bool { return s.notFinal() == 0 })

	admin := adminClient(t, s.redis)
	if err := admin.Set(ctx, "test:before-the-restart", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.restartRedisEmpty()
	if n := admin.Exists(ctx, "test:before-the-restart").Val(); n != 0 {
		t.Fatal("Redis kept its data across the restart")
	}

	for i, c := range customers {
		info, code := c.session()
		if code != 200 || info.UserID != c.userID {
			t.Fatalf("shopper %d after the restart: session %d, user %q, want 200 and %s", i, code, info.UserID, c.userID)
		}
		c.sh.token = info.Auth
		for _, id := range c.orders {
			var o order
			if code := c.do("GET", "/api/v1/orders/"+id, nil, &o); code != 200 || o.UserID != c.userID || o.Status != 4 {
				t.Errorf("shopper %d after the restart: order %s: %d, user %q, status %d; want 200, %s, 4", i, id, code, o.UserID, o.Status, c.userID)
			}
		}
		var o order
		if code := c.do("POST", "/api/v1/orders", order1, &o); code != 201 || o.UserID != c.userID {
			t.Errorf("shopper %d after the restart: create order: %d, user %q, want 201 for %s", i, code, o.UserID, c.userID)
		}
	}

	// Logging out still revokes the token, in the empty Redis.
	c := customers[0]
	if code := c.do("DELETE", "/api/v1/session", nil, nil); code != 204 {
		t.Fatalf("logout: %d", code)
	}
	var e apiError
	if code := c.do("GET", "/api/v1/orders/"+c.orders[0], nil, &e); code != 401 || e.Error.Code != "session_expired" {
		t.Errorf("after logout: %d %+v, want 401 session_expired", code, e)
	}
	wantNothingRefused(t, admin)
}
