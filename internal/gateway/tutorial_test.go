package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"streamcart/internal/platform/testenv"

	"github.com/google/go-cmp/cmp"
)

// tutorialEnvelope decodes a tutorial response keeping data raw.
type tutorialEnvelope struct {
	Data  json.RawMessage `json:"data"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Auth string `json:"auth"`
}

func TestTutorialGetProductsByFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, _ := e.session()
	resp, body := e.do(req{method: "POST", path: "/products/getProductsByFilter", token: token,
		body: `{"productDisplayName": " puma ", "somethingElse": 1}`})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s", resp.Status, body)
	}
	if got := e.fakes.products.last(t, "/products").Query; got != "limit=100&q=puma" {
		t.Errorf("products query %q, want limit=100&q=puma", got)
	}
	var env tutorialEnvelope
	testenv.DecodeJSON(t, body, &env)
	if env.Error != nil || env.Auth != token {
		t.Errorf("envelope error %v auth %q, want null and the token", env.Error, env.Auth)
	}
	// The exact text: the price is the number 39.99, built from 3999 cents.
	want := `[{"productId":"p1","data":{"id":"p1","price":39.99,"productDisplayName":"Puma Men Running Shoes",` +
		`"variantName":"Blaze","brandName":"Puma","ageGroup":"Adults-Men","gender":"Men","displayCategories":"Footwear",` +
		`"masterCategory":{"typeName":"Footwear"},"subCategory":{"typeName":"Shoes"},"articleType":{"typeName":"Sports Shoes"},` +
		`"styleImages":{"default":{"imageURL":"` + e.srv.URL + `/api/v1/products/p1/image.svg"}},` +
		`"productDescriptors":{"description":{"value":"Light shoes."}}}}]`
	if diff := cmp.Diff(want, string(env.Data)); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}

	// An empty filter (or body) lists every product.
	for _, body := range []string{`{"productDisplayName": ""}`, ``} {
		resp, got := e.do(req{method: "POST", path: "/products/getProductsByFilter", token: token, body: body})
		var env struct{ Data []tutorialProduct }
		testenv.DecodeJSON(t, got, &env)
		if resp.StatusCode != http.StatusOK || len(env.Data) != 2 {
			t.Errorf("body %q: %s with %d products, want 200 with the 2 active ones", body, resp.Status, len(env.Data))
		}
		if q := e.fakes.products.last(t, "/products").Query; q != "limit=100" {
			t.Errorf("body %q: products query %q, want limit=100", body, q)
		}
	}
}

func TestTutorialCreateOrder(t *testing.T) {
	t.Parallel()
	e, token, userID := newShopper(t)
	tests := []struct {
		name        string
		body        string
		wantStatus  int
		wantCode    string
		wantMessage string // a part of it
		wantCents   int64
	}{
		{"units to cents", `{"products":[{"productId":"p1","qty":2,"productPrice":39.99}]}`, 200, "", "", 3999},
		{"whole units", `{"products":[{"productId":"p2","qty":1,"productPrice":15}]}`, 200, "", "", 1500},
		{"one decimal", `{"products":[{"productId":"p2","qty":1,"productPrice":15.0}]}`, 200, "", "", 1500},
		{"three decimals", `{"products":[{"productId":"p1","qty":1,"productPrice":39.999}]}`, 400, "invalid_price", "at most two decimals like 39.99, not 39.999", 0},
		{"string", `{"products":[{"productId":"p1","qty":1,"productPrice":"abc"}]}`, 400, "invalid_price", `not the string "abc"`, 0},
		{"exponent", `{"products":[{"productId":"p1","qty":1,"productPrice":3.999e1}]}`, 400, "invalid_price", "3.999e1", 0},
		{"negative", `{"products":[{"productId":"p1","qty":1,"productPrice":-39.99}]}`, 400, "invalid_price", "-39.99", 0},
		{"zero", `{"products":[{"productId":"p1","qty":1,"productPrice":0}]}`, 400, "invalid_price", "positive", 0},
		{"missing price", `{"products":[{"productId":"p1","qty":1}]}`, 400, "invalid_price", "null or missing", 0},
		{"fractional qty", `{"products":[{"productId":"p1","qty":1.5,"productPrice":39.99}]}`, 400, "invalid_qty", "products[0].qty", 0},
		{"no products", `{"products":[]}`, 400, "empty_order", "", 0},
		{"bad json", `{"products":`, 400, "invalid_json", "", 0},
		{"price changed", `{"products":[{"productId":"p1","qty":1,"productPrice":29.99}]}`, 409, "price_changed", "p1", 0},
		{"unknown product", `{"products":[{"productId":"zz","qty":1,"productPrice":1}]}`, 422, "unknown_product", "zz", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.fakes.madeOrders())
			resp, body := e.do(req{method: "POST", path: "/orders/createOrder", token: token, body: tt.body})
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%s: %s %s, want %d", tt.body, resp.Status, body, tt.wantStatus)
			}
			var env tutorialEnvelope
			testenv.DecodeJSON(t, body, &env)
			if env.Auth != token {
				t.Errorf("auth %q, want the token", env.Auth)
			}
			if tt.wantCode != "" {
				if env.Error == nil || env.Error.Code != tt.wantCode || !strings.Contains(env.Error.Message, tt.wantMessage) || string(env.Data) != "null" {
					t.Errorf("envelope %s: want null data and error %s mentioning %q", body, tt.wantCode, tt.wantMessage)
				}
				return
			}
			orders := e.fakes.madeOrders()
			if len(orders) != before+1 {
				t.Fatalf("fake has %d orders, want %d", len(orders), before+1)
			}
			o := orders[len(orders)-1]
			if got := o.Items[0].PriceCents; got != tt.wantCents || o.UserID != userID {
				t.Errorf("order at %d cents for %s, want %d for %s", got, o.UserID, tt.wantCents, userID)
			}
			if want := `"` + o.ID + `"`; string(env.Data) != want || env.Error != nil {
				t.Errorf("data %s error %v, want %s and null", env.Data, env.Error, want)
			}
		})
	}
}

func TestTutorialViewOrderHistory(t *testing.T) {
	t.Parallel()
	e, token, userID := newShopper(t)
	score := json.RawMessage(`0.75`)
	e.fakes.mu.Lock()
	e.fakes.history[userID] = []historyOrder{
		{OrderID: "o2", UserID: userID, Status: 4, AmountCents: 3999, PaymentID: "pay2", orderTrail: orderTrail{CreatedOn: "2025-01-02T00:00:00Z",
			CreatedBy: userID, LastUpdatedOn: "2025-01-02T00:00:01Z", LastUpdatedBy: "payments", IdentityScore: score}},
		{OrderID: "o1", UserID: userID, Status: 1, AmountCents: 1500, orderTrail: orderTrail{CreatedOn: "2025-01-01T00:00:00Z", CreatedBy: userID,
			LastUpdatedOn: "2025-01-01T00:00:00Z", LastUpdatedBy: userID, PotentialFraud: true}},
	}
	e.fakes.history[userID][0].Items = []orderItem{{ProductID: "p1", Qty: 1, PriceCents: 3999}}
	e.fakes.history[userID][1].Items = []orderItem{{ProductID: "gone", Qty: 3, PriceCents: 500}}
	e.fakes.mu.Unlock()

	resp, body := e.do(req{method: "GET", path: "/orderHistory/viewOrderHistory", token: token})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s", resp.Status, body)
	}
	var env struct {
		Data  []map[string]any
		Error any
		Auth  string
	}
	testenv.DecodeJSON(t, body, &env)
	p1, _ := e.fakes.product("p1")
	var p1Data map[string]any
	b, _ := json.Marshal(toTutorialData(p1, e.srv.URL))
	testenv.DecodeJSON(t, b, &p1Data)
	want := []map[string]any{
		{"orderId": "o2", "userId": userID, "orderStatusCode": json.Number("4"), "paymentId": "pay2",
			"products":  []any{map[string]any{"productId": "p1", "qty": json.Number("1"), "productPrice": json.Number("39.99"), "productData": p1Data}},
			"createdOn": "2025-01-02T00:00:00Z", "createdBy": userID, "lastUpdatedOn": "2025-01-02T00:00:01Z", "lastUpdatedBy": "payments",
			"identityScore": json.Number("0.75"), "potentialFraud": false},
		{"orderId": "o1", "userId": userID, "orderStatusCode": json.Number("1"), "paymentId": "",
			"products":  []any{map[string]any{"productId": "gone", "qty": json.Number("3"), "productPrice": json.Number("5.00"), "productData": nil}},
			"createdOn": "2025-01-01T00:00:00Z", "createdBy": userID, "lastUpdatedOn": "2025-01-01T00:00:00Z", "lastUpdatedBy": userID,
			"identityScore": nil, "potentialFraud": true},
	}
	if diff := cmp.Diff(want, env.Data); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	if env.Auth != token || env.Error != nil {
		t.Errorf("auth %q error %v, want the token and null", env.Auth, env.Error)
	}
	lookups := 0
	for _, r := range e.fakes.products.all() {
		if r.Path == "/products/lookup" {
			lookups++
		}
	}
	if lookups != 1 {
		t.Errorf("%d product lookups, want 1", lookups)
	}
}

func TestUnits(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cents int64
		want  string
	}{{3999, "39.99"}, {1, "0.01"}, {100, "1.00"}, {123456789, "1234567.89"}} {
		b, err := json.Marshal(units(tt.cents))
		if err != nil || string(b) != tt.want {
			t.Errorf("units(%d) encodes as %s (%v), want %s", tt.cents, b, err, tt.want)
		}
	}
}

func TestTutorialRoutesRefuseTrailingDataButTakeNoContentTypeAndAnEmptyBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	token, _ := e.session()
	order := `{"products":[{"productId":"p1","qty":1,"productPrice":39.99}]}`

	before := len(e.fakes.madeOrders())
	resp, body := e.doWithoutContentType("POST", "/orders/createOrder", token, order+"GARBAGE")
	wantCleanRefusal(t, "createOrder with trailing garbage", resp, body)
	if resp.StatusCode != 400 || len(e.fakes.madeOrders()) != before {
		t.Errorf("createOrder with trailing garbage: %s, %d orders made; want 400 and none", resp.Status, len(e.fakes.madeOrders())-before)
	}

	resp, body = e.doWithoutContentType("POST", "/orders/createOrder", token, order)
	if resp.StatusCode != 200 || len(e.fakes.madeOrders()) != before+1 {
		t.Errorf("createOrder without a Content-Type: %s %s, want 200 and an order", resp.Status, body)
	}
	for _, b := range []string{"", `{"productDisplayName":"puma"}`} {
		resp, body = e.doWithoutContentType("POST", "/products/getProductsByFilter", token, b)
		var env tutorialEnvelope
		testenv.DecodeJSON(t, body, &env)
		if resp.StatusCode != 200 || env.Auth != token {
			t.Errorf("getProductsByFilter %q without a Content-Type: %s %s, want 200 with auth", b, resp.Status, body)
		}
	}
}

func TestTutorialImageURLsAreAbsolute(t *testing.T) {
	t.Parallel()
	image := "/api/v1/products/p1/image.svg"
	tests := []struct {
		name      string
		cfg       func(*Config)
		forwarded http.Header
		want      func(srvURL string) string
	}{
		{"the request's host", nil, nil, func(u string) string { return u + image }},
		{"forwarded headers ignored without a trusted proxy", nil,
			http.Header{"X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"https"}}, func(u string) string { return u + image }},
		{"a trusted proxy's host and scheme", func(c *Config) { c.TrustProxy = true },
			http.Header{"X-Forwarded-Host": {"client-said.example, shop.example.com"}, "X-Forwarded-Proto": {"https"}},
			func(string) string { return "https://shop.example.com" + image }},
		{"a trusted proxy's insane host is not used", func(c *Config) { c.TrustProxy = true },
			http.Header{"X-Forwarded-Host": {"shop.example.com/evil?"}, "X-Forwarded-Proto": {"gopher"}},
			func(u string) string { return u + image }},
		{"the public URL wins", func(c *Config) { c.PublicURL = "https://shop.example.com/store/"; c.TrustProxy = true },
			http.Header{"X-Forwarded-Host": {"other.example"}}, func(string) string { return "https://shop.example.com/store" + image }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tt.cfg)
			token, userID := e.session()
			resp, body := e.do(req{method: "POST", path: "/products/getProductsByFilter", token: token, body: `{"productDisplayName":"puma"}`, header: tt.forwarded})
			var search struct {
				Data []tutorialProduct
			}
			testenv.DecodeJSON(t, body, &search)
			if resp.StatusCode != 200 || len(search.Data) == 0 {
				t.Fatalf("search: %s %s", resp.Status, body)
			}
			if got, want := search.Data[0].Data.StyleImages.Default.ImageURL, tt.want(e.srv.URL); got != want {
				t.Errorf("search: imageURL %q, want %q", got, want)
			}

			e.fakes.mu.Lock()
			e.fakes.history[userID] = []historyOrder{{OrderID: "o1", UserID: userID, Status: 1, Items: []orderItem{{ProductID: "p1", Qty: 1, PriceCents: 3999}}}}
			e.fakes.mu.Unlock()
			resp, body = e.do(req{method: "GET", path: "/orderHistory/viewOrderHistory", token: token, header: tt.forwarded})
			var history struct {
				Data []tutorialOrder
			}
			testenv.DecodeJSON(t, body, &history)
			if resp.StatusCode != 200 || len(history.Data) != 1 || history.Data[0].Products[0].ProductData == nil {
				t.Fatalf("history: %s %s", resp.Status, body)
			}
			if got, want := history.Data[0].Products[0].ProductData.StyleImages.Default.ImageURL, tt.want(e.srv.URL); got != want {
				t.Errorf("history: imageURL %q, want %q", got, want)
			}
		})
	}
}

func TestPublicURLMustBeABaseURL(t *testing.T) {
	t.Parallel()
	base := Config{ProductsURL: "http://127.0.0.1:1", OrdersURL: "http://127.0.0.1:2", HistoryURL: "http://127.0.0.1:3"}
	for u, ok := range map[string]bool{
		"": true, "https://shop.example.com": true, "http://127.0.0.1:8080/": true, "https://example.com/shop": true,
		"shop.example.com": false, "ftp://x": false, "https://x/?a=1": false, "https://u:p@x": false, "https://x/#f": false,
	} {
		cfg := base
		cfg.PublicURL = u
		if err := cfg.Validate(); (err == nil) != ok {
			t.Errorf("PublicURL %q: Validate = %v, want ok %v", u, err, ok)
		}
	}
}
