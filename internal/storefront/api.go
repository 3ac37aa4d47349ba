package storefront

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// SessionCookie is the gateway's session cookie, which the storefront
// forwards to the API and passes back to the browser.
const SessionCookie = "sc_session"

// maxAPIBody bounds an API answer the storefront reads.
const maxAPIBody = 4 << 20

// product is what a product card shows of a catalog product, as GET
// /api/v1/products lists it.
type product struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Brand       string `json:"brand"`
	PriceCents  int64  `json:"priceCents"`
	ImageURL    string `json:"imageUrl"`
}

// productPage is the answer of GET /api/v1/products.
type productPage struct {
	Products []product `json:"products"`
	Total    int       `json:"total"`
	Limit    int       `json:"limit"`
	Offset   int       `json:"offset"`
}

// category is a master category with its sub categories.
type category struct {
	Name          string `json:"name"`
	Count         int    `json:"count"`
	SubCategories []struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	} `json:"subCategories"`
}

// cartView is the answer of the cart routes.
type cartView struct {
	Items []struct {
		ProductID   string `json:"productId"`
		DisplayName string `json:"displayName"`
		ImageURL    string `json:"imageUrl"`
		PriceCents  int64  `json:"priceCents"`
		Qty         int    `json:"qty"`
		LineCents   int64  `json:"lineCents"`
		Available   bool   `json:"available"`
	} `json:"items"`
	TotalCents int64 `json:"totalCents"`
}

// count is the number of pieces in the cart.
func (c cartView) count() int {
	n := 0
	for _, it := range c.Items {
		n += it.Qty
	}
	return n
}

// orderHead is what the orders service and the order history both say of
// an order, besides its items and time.
type orderHead struct {
	OrderID     string `json:"orderId"`
	Status      int    `json:"status"`
	StatusName  string `json:"statusName"`
	AmountCents int64  `json:"amountCents"`
	PaymentID   string `json:"paymentId"`
}

// card is the order card of h, without its time and lines.
func (h orderHead) card() orderCard {
	return orderCard{ID: h.OrderID, Status: h.Status, StatusName: h.StatusName, AmountCents: h.AmountCents, PaymentID: h.PaymentID}
}

// order is the answer of GET /api/v1/orders/{id} and of checkout.
type order struct {
	orderHead
	Items []struct {
		ProductID   string `json:"productId"`
		DisplayName string `json:"displayName"`
		Qty         int    `json:"qty"`
		PriceCents  int64  `json:"priceCents"`
		LineCents   int64  `json:"lineCents"`
	} `json:"items"`
	CreatedAt time.Time `json:"createdAt"`
}

// historyOrder is an order as GET /api/v1/orders lists it.
type historyOrder struct {
	orderHead
	Items []struct {
		ProductID  string `json:"productId"`
		Qty        int    `json:"qty"`
		PriceCents int64  `json:"priceCents"`
	} `json:"items"`
	CreatedOn      *time.Time `json:"createdOn"`
	IdentityScore  *float64   `json:"identityScore"`
	PotentialFraud bool       `json:"potentialFraud"`
}

// apiError is the storefront's view of an error answer of the API: its
// kind (from the status, see answerKind), the code and message of its
// body and its Retry-After.
type apiError struct {
	Kind       errs.Kind
	Code       string
	Message    string
	RetryAfter string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("api: %s %s: %s", e.Kind, e.Code, e.Message)
}

// msgNotFound is what an API's not found says to the shopper: the API's
// message names its resource, which means nothing on a page.
const msgNotFound = "We could not find that."

// As lets errs.As, and so web.Describe and explain, see the answer as an
// *errs.Error of its kind and code. Its message is the API's, except for
// not found (msgNotFound).
func (e *apiError) As(target any) bool {
	t, ok := target.(**errs.Error)
	if !ok {
		return false
	}
	msg := e.Message
	if e.Kind == errs.KindNotFound {
		msg = msgNotFound
	}
	*t = &errs.Error{Kind: e.Kind, Code: e.Code, Message: msg, Err: e}
	return true
}

// answerKind is the kind of an API answer with status. Any 5xx is
// Unavailable: whatever failed behind the API, the shopper can only try
// again later. A 4xx the web layer's table lacks is Invalid: the API
// refused the request.
func answerKind(status int) errs.Kind {
	k := web.KindOf(status)
	switch {
	case status >= 500:
		return errs.KindUnavailable
	case k == errs.KindInternal && status >= 400:
		return errs.KindInvalid
	}
	return k
}

// msgUnreachable is the message of the error for an API that cannot be
// reached at all.
const msgUnreachable = "the shop's API cannot be reached"

// errNoSession is what a read of the shopper's own data (cart, orders)
// gets when the browser's session has expired: there is nothing to read.
var errNoSession = errs.E(errs.KindUnauthorized, "session_expired", "Your session has ended; your cart and orders of it are gone.")

// apiSession calls the API for one browser request: it sends the
// browser's session token and, when the gateway answers with a new,
// refreshed or cleared session cookie, uses that token from then on and
// passes the cookie back to the browser. When the gateway refuses an
// expired token (session_expired), a read gets errNoSession and a write
// is sent once more without it, starting a new session. Its calls are sequential, so that a
// browser without a session gets exactly one. It is not safe for
// concurrent use.
type apiSession struct {
	client *http.Client
	base   *url.URL
	in     *http.Request
	w      http.ResponseWriter
	token  string
}

func (s *Storefront) api(w http.ResponseWriter, r *http.Request) *apiSession {
	a := &apiSession{client: s.client, base: s.apiBase, in: r, w: w}
	if c, err := r.Cookie(SessionCookie); err == nil {
		a.token = c.Value
	}
	return a
}

// do sends method path (relative to the API base, with its query) with
// body encoded as JSON and decodes a 2xx answer into out. Other answers
// are *apiError; a failure to reach the API is an Unavailable error.
func (a *apiSession) do(ctx context.Context, method, path string, body, out any) error {
	ref, err := url.Parse(path)
	if err != nil {
		return err
	}
	req, err := web.NewJSONRequest(withClientAddr(ctx, a.in.RemoteAddr), method, a.base.ResolveReference(ref).String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	sent := a.token
	if sent != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: sent})
	}
	// The gateway scores identities by browser agent and address: pass on
	// the browser's, as a proxy would.
	req.Header.Set("User-Agent", a.in.UserAgent())
	if ip, _, err := net.SplitHostPort(a.in.RemoteAddr); err == nil {
		xff := a.in.Header.Get(web.ForwardedForHeader)
		if xff != "" {
			xff += ", "
		}
		req.Header.Set(web.ForwardedForHeader, xff+ip)
	}
	if id := web.RequestID(ctx); id != "" {
		req.Header.Set(web.RequestIDHeader, id)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return errs.Unavailable(fmt.Errorf("%s %s: %w", method, path, err), msgUnreachable)
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			a.token = c.Value
			a.setCookie(c)
		}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIBody))
	if err != nil {
		return errs.Unavailable(fmt.Errorf("%s %s: read answer: %w", method, path, err), msgUnreachable)
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Kind: answerKind(resp.StatusCode), Code: "http_" + strconv.Itoa(resp.StatusCode), RetryAfter: resp.Header.Get("Retry-After")}
		var eb web.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			e.Code, e.Message = eb.Error.Code, eb.Error.Message
		}
		if e.Code == "session_expired" && sent != "" {
			// The gateway cleared the browser's cookie (passed on above).
			// A read has no session to read from; a write starts a new one.
			a.token = ""
			if method == http.MethodGet {
				return errNoSession
			}
			return a.do(ctx, method, path, body, out)
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// anonymous reports whether the browser has no session: reading its cart
// or orders would only start one, so the storefront shows them empty
// without asking. The gateway starts a session at the first write.
func (a *apiSession) anonymous() bool { return a.token == "" }

// setCookie puts c on the browser's response in place of any session
// cookie set before: API calls happen before the page is written.
func (a *apiSession) setCookie(c *http.Cookie) {
	h := a.w.Header()
	kept := h.Values("Set-Cookie")[:0:0]
	for _, v := range h.Values("Set-Cookie") {
		if !strings.HasPrefix(v, SessionCookie+"=") {
			kept = append(kept, v)
		}
	}
	h["Set-Cookie"] = append(kept, c.String())
}

type clientAddrKey struct{}

// withClientAddr records the browser's address for InProcess.
func withClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// InProcess returns a RoundTripper that serves each request with h in this
// process instead of over the network, as if it came from the address of
// the browser whose request the storefront is serving. The gateway mounts
// the storefront and the storefront calls the gateway's API: in one
// process this needs no listener address and keeps the gateway's rate
// limits and identity scoring per browser rather than per loopback
// address. Answers are buffered whole, so it does not suit streams.
func InProcess(h http.Handler) http.RoundTripper {
	return inProcess{h}
}

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	in := req.Clone(ctx)
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	if addr, ok := ctx.Value(clientAddrKey{}).(string); ok && addr != "" {
		in.RemoteAddr = addr
	}
	// The browser's address is the peer address here; an X-Forwarded-For
	// the storefront added for a networked gateway would be the browser's
	// word only.
	if xff := strings.TrimSpace(in.Header.Get(web.ForwardedForHeader)); xff != "" {
		if i := strings.LastIndexByte(xff, ','); i >= 0 {
			in.Header.Set(web.ForwardedForHeader, strings.TrimSpace(xff[:i]))
		} else {
			in.Header.Del(web.ForwardedForHeader)
		}
	}
	rec := &recorder{header: http.Header{}}
	t.h.ServeHTTP(rec, in)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if rec.status == 0 {
		rec.WriteHeader(http.StatusOK)
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status)),
		StatusCode:    rec.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rec.sent,
		Body:          io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		ContentLength: int64(rec.body.Len()),
		Request:       req,
	}, nil
}

// recorder is the ResponseWriter of an in-process request.
type recorder struct {
	mu     sync.Mutex
	header http.Header
	sent   http.Header // header as of WriteHeader: later changes are not sent, as on the wire
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status == 0 {
		r.status = code
		r.sent = r.header.Clone()
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.Write(b)
}

// Flush is a no-op: answers are buffered whole.
func (r *recorder) Flush() {}
