package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"time"

	"streamcart/internal/events"
	"streamcart/internal/platform/errs"
)

// ErrNotFound means the requested order has no identity score, or is not
// the caller's to see: both look the same, so order ids cannot be probed.
// Callers test for it with errors.Is.
var ErrNotFound = errs.NotFound("", "no identity score for this order")

// LoginIdentity is a browser and address that a user logged in from.
type LoginIdentity struct {
	UserID string
	// SessionID is the session of the latest login with this identity.
	SessionID string
	// Fingerprint is the browser's fingerprint (see Fingerprint); it is
	// empty when the browser agent was unknown.
	Fingerprint string
	// IP is the normalized address; it is empty when it was unknown.
	IP string
	// FirstSeen and LastSeen are the times of the first and latest login
	// events with this identity.
	FirstSeen, LastSeen time.Time
}

// Score is the identity score of an order. There is at most one per order,
// and it never changes once stored.
type Score struct {
	OrderID string
	UserID  string
	// Value is the share of the checkout's characteristics found among the
	// user's login identities: 0, 0.5 or 1.
	Value float64
	// PotentialFraud is whether Value is below the fraud threshold.
	PotentialFraud bool
	// Fingerprint and IP are the checkout's characteristics, as scored.
	Fingerprint string
	IP          string
	// ScoredAt is when the score was computed.
	ScoredAt time.Time
}

// scored returns the event that announces s.
func (s Score) scored() events.IdentityScored {
	return events.IdentityScored{OrderID: s.OrderID, UserID: s.UserID, Score: s.Value, PotentialFraud: s.PotentialFraud}
}

// Fingerprint returns the fingerprint of a browser user agent: the hex
// SHA-256 of it. An empty agent has the empty fingerprint, which matches
// nothing.
func Fingerprint(userAgent string) string {
	if userAgent == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(userAgent))
	return hex.EncodeToString(sum[:])
}

// normalizeIP returns ip in a canonical form, so that one address has one
// spelling. IPv4-mapped IPv6 addresses are unmapped, and a port or zone is
// dropped. A string that is no address is kept as it is, trimmed.
func normalizeIP(ip string) string {
	ip = strings.TrimSpace(ip)
	if a, err := netip.ParseAddr(ip); err == nil {
		return a.Unmap().WithZone("").String()
	}
	if ap, err := netip.ParseAddrPort(ip); err == nil {
		return ap.Addr().Unmap().WithZone("").String()
	}
	return ip
}

// rate is the scoring rule of the package documentation. It returns the
// share of the two characteristics, fingerprint and ip, that occur in
// known. An empty characteristic never matches.
func rate(fingerprint, ip string, known []LoginIdentity) float64 {
	var fpMatch, ipMatch bool
	for _, k := range known {
		fpMatch = fpMatch || fingerprint != "" && k.Fingerprint == fingerprint
		ipMatch = ipMatch || ip != "" && k.IP == ip
	}
	var n float64
	if fpMatch {
		n++
	}
	if ipMatch {
		n++
	}
	return n / 2
}

// mustWait reports whether an order created at createdOn must wait for its
// user's first login identity at now. That holds while the user has none
// and the order is younger than grace.
func mustWait(hasIdentity bool, createdOn, now time.Time, grace time.Duration) bool {
	return !hasIdentity && now.Sub(createdOn) < grace
}

// newScore scores order o of a user with the login identities known, at
// now, against threshold.
func newScore(o events.OrderPlaced, known []LoginIdentity, now time.Time, threshold float64) Score {
	fp, ip := Fingerprint(o.UserAgent), normalizeIP(o.IP)
	v := rate(fp, ip, known)
	return Score{
		OrderID:        o.OrderID,
		UserID:         o.UserID,
		Value:          v,
		PotentialFraud: v < threshold,
		Fingerprint:    fp,
		IP:             ip,
		ScoredAt:       now,
	}
}
