package web

import (
	"context"
	"net/http"
)

// RouteNote is where the route that served a request is noted, for
// middleware outside the handler that routes it, such as the metrics
// (package metrics), which label requests by route pattern, never by raw
// path. Middleware between them may replace the request (WithContext), so
// the pattern that http.ServeMux sets on its own request (Request.Pattern)
// is not visible outside; the note, reached through the context, is.
type RouteNote struct {
	// Pattern is the http.ServeMux pattern that matched, e.g.
	// "GET /orders/{id}"; "" when no mux routed the request (it was
	// refused before routing).
	Pattern string
}

type routeNoteKey struct{}

// WithRouteNote returns r with a new RouteNote in its context, which
// NoteRoute fills in while r is served.
func WithRouteNote(r *http.Request) (*http.Request, *RouteNote) {
	n := &RouteNote{}
	return r.WithContext(context.WithValue(r.Context(), routeNoteKey{}, n)), n
}

// NoteRoute serves mux and then notes the pattern that mux matched in the
// request's RouteNote, if it has one. Wrap the outermost http.ServeMux of
// a handler with it; a mux nested inside overwrites the pattern with its
// own, more precise one when it gets the same request.
func NoteRoute(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, ok := r.Context().Value(routeNoteKey{}).(*RouteNote); ok {
			defer func() { n.Pattern = r.Pattern }()
		}
		mux.ServeHTTP(w, r)
	})
}
