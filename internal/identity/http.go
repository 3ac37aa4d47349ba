package identity

import (
	"context"
	"net/http"
	"time"

	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/web"
)

// NewHandler returns the service's route table (auth.Routes), whose
// identities signer checks:
//
//	GET /identities          shopper: their login identities, most recently seen first
//	GET /scores/{orderId}    shopper: the identity score of one of their orders
//	GET /readyz              ready when PostgreSQL and Redis answer
//
// /identities answers {"identities": [{"fingerprint", "ip", "firstSeen",
// "lastSeen"}]}. /scores/{orderId} answers {"orderId", "score",
// "potentialFraud", "scoredAt"}, or 404 while the order has no score.
// An order of another user also gets 404, so its existence is not told.
func NewHandler(svc *Service, signer *auth.Signer) *auth.Routes {
	h := &handler{svc: svc}
	rt := auth.NewRoutes(signer, svc.log, svc.outbox.ReadyChecks())
	rt.HandleFunc("GET /identities", auth.Shopper, h.identities)
	rt.HandleFunc("GET /scores/{orderId}", auth.Shopper, auth.GetOwnByID("orderId", h.score))
	return rt
}

type handler struct{ svc *Service }

func (h *handler) identities(w http.ResponseWriter, r *http.Request) error {
	id := auth.MustFromContext(r.Context())
	ids, err := h.svc.Identities(r.Context(), id.UserID)
	if err != nil {
		return err
	}
	body := identitiesJSON{Identities: make([]identityJSON, len(ids))}
	for i, l := range ids {
		body.Identities[i] = identityJSON{Fingerprint: l.Fingerprint, IP: l.IP, FirstSeen: l.FirstSeen, LastSeen: l.LastSeen}
	}
	web.WriteJSON(w, http.StatusOK, body)
	return nil
}

// score is the score of user userID's order orderID. Another user's order
// is answered like one without a score.
func (h *handler) score(ctx context.Context, userID, orderID string) (scoreJSON, error) {
	sc, err := h.svc.Score(ctx, orderID)
	if err != nil {
		return scoreJSON{}, err
	}
	if sc.UserID != userID {
		return scoreJSON{}, ErrNotFound
	}
	return scoreJSON{OrderID: sc.OrderID, Score: sc.Value, PotentialFraud: sc.PotentialFraud, ScoredAt: sc.ScoredAt}, nil
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
