package cart

import (
	"net/http"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/web"
)

// Routes calls add with each of the cart's routes, for the gateway to
// serve behind its sessions and error adapter:
//
//	GET    /api/v1/cart                      the cart, priced by the catalog
//	PUT    /api/v1/cart/items/{productId}    {"qty": 0..99}; 0 removes
//	DELETE /api/v1/cart/items/{productId}    remove a line
//	DELETE /api/v1/cart                      empty the cart
//	POST   /api/v1/cart/checkout             order the cart (idempotent per cart content)
//
// Each route needs the shopper's identity in the request context
// (auth.WithIdentity); without one it answers 401.
func (s *Service) Routes(add func(pattern string, h web.HandlerFunc)) {
	add("GET /api/v1/cart", cartRoute(s.getCart))
	add("PUT /api/v1/cart/items/{productId}", cartRoute(s.putItem))
	add("DELETE /api/v1/cart/items/{productId}", cartRoute(s.deleteItem))
	add("DELETE /api/v1/cart", cartRoute(s.deleteCart))
	add("POST /api/v1/cart/checkout", s.checkout)
}

// errNoShopper means a cart route was served without an identity: a
// wiring fault, as the gateway gives every request a session first.
var errNoShopper = errs.Unauthorized("unauthorized", "the cart needs a session")

// userID returns the shopper of r.
func userID(r *http.Request) (string, error) {
	id, ok := auth.FromContext(r.Context())
	if !ok || id.UserID == "" {
		return "", errNoShopper
	}
	return id.UserID, nil
}

// cartRoute makes a route of op, an operation on the shopper's cart that
// answers the cart: it finds the shopper of the request, runs op and
// writes the cart it returns, 200.
func cartRoute(op func(r *http.Request, user string) (View, error)) web.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		user, err := userID(r)
		if err != nil {
			return err
		}
		v, err := op(r, user)
		if err != nil {
			return err
		}
		web.WriteJSON(w, http.StatusOK, v)
		return nil
	}
}

// getCart serves GET /api/v1/cart.
func (s *Service) getCart(r *http.Request, user string) (View, error) {
	return s.Get(r.Context(), user)
}

// putItem serves PUT /api/v1/cart/items/{productId} {"qty": 0..99}.
func (s *Service) putItem(r *http.Request, user string) (View, error) {
	id, qty, err := parsePut(r)
	if err != nil {
		return View{}, err
	}
	return s.Set(r.Context(), user, id, qty)
}

// maxPutBody bounds the body of PUT /api/v1/cart/items/{productId}.
const maxPutBody = 1 << 10

// parsePut reads PUT /api/v1/cart/items/{productId}: the product id and
// the quantity, 0 to MaxQty. Its errors are Invalid, TooLarge or
// UnsupportedMedia (web.DecodeJSON).
func parsePut(r *http.Request) (string, int, error) {
	id := r.PathValue("productId")
	if !web.ValidID(id) {
		return "", 0, errProductID(id)
	}
	var req struct {
		Qty *int `json:"qty"`
	}
	if err := web.DecodeJSON(r, maxPutBody, &req); err != nil {
		return "", 0, err
	}
	if req.Qty == nil || *req.Qty < 0 || *req.Qty > MaxQty {
		return "", 0, errQty()
	}
	return id, *req.Qty, nil
}

// deleteItem serves DELETE /api/v1/cart/items/{productId}.
func (s *Service) deleteItem(r *http.Request, user string) (View, error) {
	return s.Remove(r.Context(), user, r.PathValue("productId"))
}

// deleteCart serves DELETE /api/v1/cart.
func (s *Service) deleteCart(r *http.Request, user string) (View, error) {
	if err := s.Clear(r.Context(), user); err != nil {
		return View{}, err
	}
	return View{Items: []Item{}}, nil
}

// checkout serves POST /api/v1/cart/checkout: the order, 201 (or 200 for
// a replay) with its Location on the gateway's API. The orders service's
// errors, such as 409 price_changed, pass through.
func (s *Service) checkout(w http.ResponseWriter, r *http.Request) error {
	user, err := userID(r)
	if err != nil {
		return err
	}
	order, err := s.Checkout(r.Context(), user)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/orders/"+order.ID)
	web.WriteJSON(w, order.Status, order.Body)
	return nil
}
