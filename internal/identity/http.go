package identity

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/postgres"
	"streamcart/internal/platform/web"
)

// NewHandler returns the service's HTTP API. The /identities and /scores
// routes require an identity signed by the gateway (signer) and answer 401
// without one; /healthz and /readyz do not.
//
//	GET /identities          the caller's login identities, most recently seen first
//	GET /scores/{orderId}    the identity score of one of the caller's orders
//	GET /healthz, /readyz    liveness; PostgreSQL and Redis readiness
//
// /identities answers {"identities": [{"fingerprint", "ip", "firstSeen",
// "lastSeen"}]}. /scores/{orderId} answers {"orderId", "score",
// "potentialFraud", "scoredAt"}, or 404 while the order has no score.
// An order of another user also gets 404, so its existence is not told.
// Errors are JSON {"error": {"code", "message"}}. A nil log means
// slog.Default().
func NewHandler(svc *Service, signer *auth.Signer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &handler{svc: svc}
	mux := http.NewServeMux()
	mux.Handle("GET /identities", signer.Require(web.Handle(log, h.identities)))
	mux.Handle("GET /scores/{orderId}", signer.Require(web.Handle(log, h.score)))
	web.CatchAll(mux)
	web.Health(mux, map[string]web.Check{
		"postgres": svc.pool.Ping,
		"redis":    func(ctx context.Context) error { return svc.rdb.Ping(ctx).Err() },
	})
	return web.WithRequestID(web.AccessLog(log, mux))
}

type handler struct{ svc *Service }

func (h *handler) identities(w http.ResponseWriter, r *http.Request) error {
	id, _ := auth.FromContext(r.Context())
	ids, err := h.svc.Identities(r.Context(), id.UserID)
	if err != nil {
		return httpError(err)
	}
	body := identitiesJSON{Identities: make([]identityJSON, len(ids))}
	for i, l := range ids {
		body.Identities[i] = identityJSON{Fingerprint: l.Fingerprint, IP: l.IP, FirstSeen: l.FirstSeen, LastSeen: l.LastSeen}
	}
	web.WriteJSON(w, http.StatusOK, body)
	return nil
}

func (h *handler) score(w http.ResponseWriter, r *http.Request) error {
	id, _ := auth.FromContext(r.Context())
	sc, err := h.svc.Score(r.Context(), r.PathValue("orderId"))
	if err == nil && sc.UserID != id.UserID {
		err = errOtherUser
	}
	if err != nil {
		return httpError(err)
	}
	web.WriteJSON(w, http.StatusOK, scoreJSON{
		OrderID: sc.OrderID, Score: sc.Value, PotentialFraud: sc.PotentialFraud, ScoredAt: sc.ScoredAt,
	})
	return nil
}

// errOtherUser means the order belongs to another user. It is answered
// like a missing score.
var errOtherUser = errors.New("order of another user")

// httpError maps the service's errors to web errors. It is the only place
// that does.
func httpError(err error) error {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, errOtherUser):
		e := errs.NotFound("", "no identity score for this order")
		e.Err = err
		return e
	case postgres.IsUnavailable(err):
		return errs.Unavailable(err, "identity is unavailable; try again later")
	default:
		return err
	}
}

// identitiesJSON is the body of GET /identities.
type identitiesJSON struct {
	Identities []identityJSON `json:"identities"`
}

// identityJSON is a LoginIdentity on the wire.
type identityJSON struct {
	Fingerprint string    `json:"fingerprint"`
	IP          string    `json:"ip"`
	FirstSeen   time.Time `json:"firstSeen"`
	LastSeen    time.Time `json:"lastSeen"`
}

// scoreJSON is a Score on the wire.
type scoreJSON struct {
	OrderID        string    `json:"orderId"`
	Score          float64   `json:"score"`
	PotentialFraud bool      `json:"potentialFraud"`
	ScoredAt       time.Time `json:"scoredAt"`
}
