package auth

import (
	"context"
	"net/http"

	"streamcart/internal/platform/web"
)

// GetByID is web.GetByID for a route behind an identity (MustFromContext):
// get has the caller too, so that it answers only what the caller may
// see, and another's thing as not found, so that its existence is not
// told.
func GetByID[T any](name string, get func(ctx context.Context, caller Identity, id string) (T, error)) web.HandlerFunc {
	return web.GetByID(name, func(ctx context.Context, id string) (T, error) {
		return get(ctx, MustFromContext(ctx), id)
	})
}

// GetOwnByID is GetByID for a route of the caller's own things: get has
// the caller's user id.
func GetOwnByID[T any](name string, get func(ctx context.Context, userID, id string) (T, error)) web.HandlerFunc {
	return GetByID(name, func(ctx context.Context, caller Identity, id string) (T, error) {
		return get(ctx, caller.UserID, id)
	})
}

// ListOwn returns the handler of a route that answers, with 200 and JSON
// {key: [...]}, what list returns for the caller's user id and the query
// parameter limit: def when it is absent, else a whole number from 1 to
// max (web.IntQuery, whose error is invalid_limit). The route must be
// behind an identity (MustFromContext).
func ListOwn[T any](key string, def, max int, list func(ctx context.Context, userID string, limit int) ([]T, error)) web.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		userID := MustFromContext(r.Context()).UserID
		limit, err := web.IntQuery(r, "limit", def, 1, max)
		if err != nil {
			return err
		}
		items, err := list(r.Context(), userID, limit)
		if err != nil {
			return err
		}
		web.WriteJSON(w, http.StatusOK, map[string][]T{key: items})
		return nil
	}
}
