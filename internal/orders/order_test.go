package orders

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/events"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
	"streamcart/internal/servicetest"
	"streamcart/internal/stream"
)

func TestValidate(t *testing.T) {
	price := func(c int64) *int64 { return &c }
	many := make([]ItemRequest, MaxItems+1)
	for i := range many {
		many[i] = ItemRequest{ProductID: "p-" + strings.Repeat("x", i+1), Qty: 1}
	}
	tests := []struct {
		name string
		req  CreateRequest
		code string // "" = valid
	}{
		{"one item", CreateRequest{Items: []ItemRequest{{ProductID: "p-00001", Qty: 1}}}, ""},
		{"max qty and a price", CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: MaxQty, PriceCents: price(1)}}}, ""},
		{"max items", CreateRequest{Items: many[:MaxItems]}, ""},
		{"no items", CreateRequest{}, "empty_order"},
		{"too many items", CreateRequest{Items: many}, "too_many_items"},
		{"zero qty", CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: 0}}}, "invalid_qty"},
		{"qty above max", CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: MaxQty + 1}}}, "invalid_qty"},
		{"duplicate", CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: 1}, {ProductID: "p-1", Qty: 1}}}, "duplicate_product"},
		{"empty id", CreateRequest{Items: []ItemRequest{{Qty: 1}}}, "invalid_product_id"},
		{"id with space", CreateRequest{Items: []ItemRequest{{ProductID: "p 1", Qty: 1}}}, "invalid_product_id"},
		{"unicode id", CreateRequest{Items: []ItemRequest{{ProductID: "p-é", Qty: 1}}}, "invalid_product_id"},
		{"long id", CreateRequest{Items: []ItemRequest{{ProductID: strings.Repeat("p", 65), Qty: 1}}}, "invalid_product_id"},
		{"zero price", CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: 1, PriceCents: price(0)}}}, "invalid_price"},
	}
	for _, tt := range tests {
		err := tt.req.Validate()
		var we *errs.Error
		switch {
		case tt.code == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		case tt.code != "" && (!errors.As(err, &we) || we.Code != tt.code || we.Kind != errs.KindInvalid || we.Message == ""):
			t.Errorf("%s: Validate() = %v, want a 400 %s with a message", tt.name, err, tt.code)
		}
	}
}

func TestRequestHashTellsRequestsApart(t *testing.T) {
	a := CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: 1}}}
	b := CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: 2}}}
	if a.hash() == b.hash() || a.hash() != (CreateRequest{Items: []ItemRequest{{ProductID: "p-1", Qty: 1}}}).hash() {
		t.Error("hash does not identify a request's content")
	}
}

// configKey and productKey are a valid Config.OrderKey and ProductKey.
var (
	configKey  = servicetest.OrderKey()
	productKey = servicetest.ProductKey()
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	const products = "http://127.0.0.1:8081"
	tests := []testenv.ConfigCase[Config]{
		{Name: "only the products URL", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products}},
		{Name: "custom", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner,
			ProductsURL: "https://products.internal", MaxTotalCents: 1, StuckAfter: time.Second, ReconcileInterval: time.Second,
			OrdersStream: "o", PaymentsStream: "p", ProductsStream: "c", PriceResync: time.Minute,
			ServiceConfig: outbox.ServiceConfig{Consumer: stream.Config{Group: "g"}, StreamMaxAge: time.Hour},
		}},
		{Name: "no products URL", Config: Config{OrderKey: configKey}, WantField: "ProductsURL"},
		{Name: "products URL without a scheme", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: "products:8081"}, WantField: "ProductsURL"},
		{Name: "products URL of another scheme", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: "ftp://products"}, WantField: "ProductsURL"},
		{Name: "negative total limit", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products, MaxTotalCents: -1}, WantField: "MaxTotalCents"},
		{Name: "negative stuck after", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products, StuckAfter: -time.Second}, WantField: "StuckAfter"},
		{Name: "negative reconcile interval", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products, ReconcileInterval: -time.Second}, WantField: "ReconcileInterval"},
		{Name: "same stream for both", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products, OrdersStream: "s", PaymentsStream: "s"}, WantField: "OrdersStream and PaymentsStream"},
		{Name: "same default stream for both", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products, OrdersStream: events.PaymentsStream}, WantField: "OrdersStream and PaymentsStream"},
		{Name: "consumer of another stream", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products, ServiceConfig: outbox.ServiceConfig{Consumer: stream.Config{Stream: events.OrdersStream}}}, WantField: "Consumer.Stream"},
		{Name: "bad consumer config", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products, ServiceConfig: outbox.ServiceConfig{Consumer: stream.Config{Count: -1}}}, WantField: "Consumer"},
		{Name: "negative stream max age", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products, ServiceConfig: outbox.ServiceConfig{StreamMaxAge: -time.Second}}, WantField: "StreamMaxAge"},
		{Name: "negative snapshot retention", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products, SnapshotRetention: -time.Second}, WantField: "SnapshotRetention"},
		{Name: "snapshots on the orders stream", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products, SnapshotsStream: events.OrdersStream}, WantField: "SnapshotsStream"},
		{Name: "no signer", Config: Config{OrderKey: configKey, ProductKey: productKey, ProductsURL: products}, WantField: "Signer"},
		{Name: "no order key", Config: Config{ProductKey: productKey, ProductsURL: products, Signer: testSigner}, WantField: "OrderKey"},
		{Name: "no product key", Config: Config{OrderKey: configKey, ProductsURL: products, Signer: testSigner}, WantField: "ProductKey"},
		{Name: "negative price resync", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products, PriceResync: -time.Second}, WantField: "PriceResync"},
		{Name: "products on the payments stream", Config: Config{OrderKey: configKey, ProductKey: productKey, Signer: testSigner, ProductsURL: products, ProductsStream: events.PaymentsStream}, WantField: "ProductsStream"},
	}
	testenv.CheckConfigs(t, tests, Config.Validate, nil)
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var cfg Config
	cfg.setDefaults()
	got := []any{cfg.MaxTotalCents, cfg.StuckAfter, cfg.ReconcileInterval, cfg.OrdersStream, cfg.PaymentsStream,
		cfg.ProductsStream, cfg.PriceResync, cfg.Consumer.Stream, cfg.Consumer.Group}
	want := []any{int64(5_000_000), time.Minute, 15 * time.Second, events.OrdersStream, events.PaymentsStream,
		events.ProductsStream, time.Hour, "", "orders"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults: total limit, stuck after, reconcile interval, orders stream, payments stream, products stream, price resync, consumer stream, group (-want +got):\n%s", diff)
	}
}

func TestNewServiceRefusesANilLogger(t *testing.T) {
	t.Parallel()
	svc, err := NewService(nil, nil, Config{ProductsURL: "http://127.0.0.1:8081"}, nil)
	if err == nil || err.Error() != "orders: a logger is required" {
		t.Errorf("NewService with a nil logger = %v, %v; want the error %q", svc, err, "orders: a logger is required")
	}
}

func TestNewServiceRefusesABadConfig(t *testing.T) {
	t.Parallel()
	_, err := NewService(nil, nil, Config{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "ProductsURL") {
		t.Errorf("NewService without a products URL = %v, want an error naming ProductsURL", err)
	}
}

func TestDomainErrorsHaveTheirKindAndCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err        error
		wantStatus int
		wantCode   string
	}{
		{fmt.Errorf("order o-1: %w", ErrNotFound), http.StatusNotFound, "not_found"},
		{errUnknownProduct("p-1"), http.StatusUnprocessableEntity, "unknown_product"},
		{errPriceChanged("p-1", 100, 200), http.StatusConflict, "price_changed"},
		{errTotalTooLarge(600, 500), http.StatusUnprocessableEntity, "total_too_large"},
		{errKeyReused("k", "o-1"), http.StatusUnprocessableEntity, "idempotency_key_reused"},
		{errCatalogUnavailable(errors.New("refused")), http.StatusServiceUnavailable, "unavailable"},
		{errCatalogFailed(errors.New("garbage")), http.StatusBadGateway, "catalog_failed"},
	}
	for _, tt := range tests {
		status, detail := web.Describe(tt.err)
		if status != tt.wantStatus || detail.Code != tt.wantCode || detail.Message == "" {
			t.Errorf("%v: seen by clients as %d %+v, want %d %s with a message", tt.err, status, detail, tt.wantStatus, tt.wantCode)
		}
	}
	if !errors.Is(fmt.Errorf("get: %w", ErrNotFound), ErrNotFound) {
		t.Error("a wrapped ErrNotFound is not ErrNotFound")
	}
}
