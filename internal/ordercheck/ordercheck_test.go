package ordercheck_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/platform/auth"
	"streamcart/internal/stream"
)

var orderKey = func() *events.OrderKey {
	k, err := events.NewOrderKey([]byte("a test secret of at least 32 bytes"))
	if err != nil {
		panic(err)
	}
	return k
}()

// order returns an OrderPlaced of id by user, of cents.
func order(id, user string, cents int64) events.OrderPlaced {
	return events.OrderPlaced{Order: events.Order{
		OrderID: id, UserID: user, AmountCents: cents, CreatedOn: time.Now(),
		Items: []events.LineItem{{ProductID: "p-1", Qty: 1, PriceCents: cents}},
	}}
}

func TestRefusedSaysWhyForEachOrder(t *testing.T) {
	t.Parallel()
	var known ordercheck.Known
	known.Add(order("o-1", "u-1", 1000), order("o-2", "u-2", 2000))
	os := []events.OrderPlaced{
		order("o-1", "u-1", 1000),
		order("o-unknown", "u-1", 1000),
		order("o-2", "u-2", 1999),       // another amount
		order("o-2", "u-mallory", 2000), // another user
		order("o-2", "u-2", 2000),       // the real event of o-2, among forged ones
	}
	why, err := ordercheck.Refused(t.Context(), &known, os)
	if err != nil {
		t.Fatal(err)
	}
	want := []error{nil, ordercheck.ErrUnknown, ordercheck.ErrMismatch, ordercheck.ErrMismatch, nil}
	if len(why) != len(want) {
		t.Fatalf("Refused returned %d reasons for %d orders", len(why), len(os))
	}
	for i := range want {
		if (want[i] == nil) != (why[i] == nil) || !errors.Is(why[i], want[i]) {
			t.Errorf("order %d (%+v): refused with %v, want %v", i, os[i], why[i], want[i])
		}
	}
}

func TestCheckIsPermanentForARefusedOrderAndUnavailableWhenOrdersCannotTell(t *testing.T) {
	t.Parallel()
	var known ordercheck.Known
	known.Add(order("o-1", "u-1", 1000))
	good := events.Placed{EventID: "e-1", Order: order("o-1", "u-1", 1000)}
	bad := events.Placed{EventID: "e-2", Order: order("o-2", "u-1", 1000)}
	if err := ordercheck.Check(t.Context(), &known, []events.Placed{good, good}); err != nil {
		t.Errorf("Check of a good batch = %v, want nil", err)
	}
	err := ordercheck.Check(t.Context(), &known, []events.Placed{good, bad})
	if !stream.IsPermanent(err) || !errors.Is(err, ordercheck.ErrUnknown) {
		t.Errorf("Check of a batch with an unknown order = %v, want a permanent ErrUnknown", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"code":"unavailable","message":"the database is unavailable"}}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() // nothing listens once closed
	ln.Close()
	signer, err := auth.NewSigner([]byte("a test secret of at least 32 bytes"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for name, url := range map[string]string{"answering 503": srv.URL, "unreachable": closed} {
		c, err := ordercheck.NewClient(url, signer, "payments")
		if err != nil {
			t.Fatal(err)
		}
		if err := ordercheck.Check(t.Context(), c, []events.Placed{good}); !stream.IsUnavailable(err) || stream.IsPermanent(err) {
			t.Errorf("Check with orders %s = %v, want an Unavailable error", name, err)
		}
	}
	if err := ordercheck.Check(t.Context(), failing{}, nil); err != nil {
		t.Errorf("Check of no events = %v, want nil without asking", err)
	}
}

// failing is a Lookup that must not be called.
type failing struct{}

func (failing) Lookup(context.Context, []string) (map[string]ordercheck.Order, error) {
	return nil, errors.New("called")
}

func TestKnownAddPublishedKnowsOnlyGoodSignedOrders(t *testing.T) {
	t.Parallel()
	otherKey, err := events.NewOrderKey([]byte("another secret of at least 32 bytes"))
	if err != nil {
		t.Fatal(err)
	}
	future := order("o-future", "u-1", 1000).Event(orderKey)
	future.Version = 2
	var known ordercheck.Known
	known.AddPublished(orderKey,
		order("o-1", "u-1", 1000).Event(orderKey),
		order("o-forged", "u-1", 1000).Event(otherKey),
		future,
		events.PaymentProcessed{OrderID: "o-paid", PaymentID: "p-1", UserID: "u-1", Status: events.StatusPaymentSuccess, AmountCents: 1000}.Event(),
	)
	got, err := known.Lookup(t.Context(), []string{"o-1", "o-forged", "o-future", "o-paid"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["o-1"] != (ordercheck.Order{OrderID: "o-1", UserID: "u-1", AmountCents: 1000}) {
		t.Errorf("Known after AddPublished knows %+v, want o-1 only", got)
	}
}

func TestNewClientRefusesABadURL(t *testing.T) {
	t.Parallel()
	signer, err := auth.NewSigner([]byte("a test secret of at least 32 bytes"), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"", "orders:8082", "ftp://orders", "http://"} {
		if _, err := ordercheck.NewClient(u, signer, "payments"); err == nil {
			t.Errorf("NewClient(%q) = nil error, want one", u)
		}
	}
	if _, err := ordercheck.NewClient("http://orders", nil, "payments"); err == nil {
		t.Errorf("NewClient without a signer = nil error, want one")
	}
}
