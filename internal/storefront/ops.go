package storefront

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/stream"
)

// Operator sign-in.
const (
	// opsCookie carries a signed, expiring operator login. It is HttpOnly
	// and SameSite=Strict: other sites cannot make the browser send it.
	opsCookie = "sc_ops"
	// opsLoginTTL is how long an operator login lasts.
	opsLoginTTL = 12 * time.Hour
	// deadLetterLimit is how many dead letters /ops lists per stream.
	deadLetterLimit = 20
)

// opsKey derives the key that signs operator cookies and form tokens, so
// that neither reveals the token and changing the token ends all logins.
func opsKey(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("streamcart ops v1"))
	return m.Sum(nil)
}

func (s *Storefront) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.opsKey)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// tokenMatches compares a presented token with the operator token in
// constant time (over their SHA-256, so that the length leaks nothing).
func (s *Storefront) tokenMatches(presented string) bool {
	if s.opsKey == nil || presented == "" {
		return false
	}
	a := sha256.Sum256([]byte(presented))
	b := sha256.Sum256([]byte(s.cfg.OperatorToken))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// newLogin returns the value of a login cookie valid until expiry.
func (s *Storefront) newLogin(expiry time.Time) string {
	exp := strconv.FormatInt(expiry.Unix(), 10)
	return exp + "." + s.mac("login", exp)
}

// operator returns the credential of an operator's request: "bearer" for
// an Authorization header with the token, else the login cookie's value.
// ok is false when the request is not an operator's.
func (s *Storefront) operator(r *http.Request) (cred string, ok bool) {
	if s.opsKey == nil {
		return "", false
	}
	if scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " "); found && strings.EqualFold(scheme, "Bearer") {
		return "bearer", s.tokenMatches(strings.TrimSpace(tok))
	}
	c, err := r.Cookie(opsCookie)
	if err != nil {
		return "", false
	}
	exp, sig, found := strings.Cut(c.Value, ".")
	n, err := strconv.ParseInt(exp, 10, 64)
	if !found || err != nil || time.Now().Unix() > n {
		return "", false
	}
	if !hmac.Equal([]byte(sig), []byte(s.mac("login", exp))) {
		return "", false
	}
	return c.Value, true
}

// formToken is the token that the forms of /ops carry for cred: another
// site can neither read it nor make the browser send the login cookie.
func (s *Storefront) formToken(cred string) string { return s.mac("form", cred) }

func (s *Storefront) validFormToken(cred, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(s.formToken(cred)))
}

func (s *Storefront) setOpsCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: opsCookie, Value: value, Path: "/ops", MaxAge: maxAge,
		HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode,
	})
}

// loginPage is the 401 page of /ops.
type loginPage struct {
	Enabled bool
	Error   string
}

func (s *Storefront) opsUnauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="streamcart operations"`)
	s.render(w, r, http.StatusUnauthorized, "login.html", s.layout("Operator sign-in", "ops", -1, loginPage{Enabled: s.opsKey != nil, Error: msg}))
}

// opsLogin serves POST /ops/login: the token from the form, in exchange
// for a login cookie.
func (s *Storefront) opsLogin(w http.ResponseWriter, r *http.Request) error {
	if !s.tokenMatches(r.PostFormValue("token")) {
		msg := "That token is not right."
		if s.opsKey == nil {
			msg = ""
		}
		s.opsUnauthorized(w, r, msg)
		return nil
	}
	s.setOpsCookie(w, s.newLogin(time.Now().Add(opsLoginTTL)), int(opsLoginTTL/time.Second))
	http.Redirect(w, r, "/ops", http.StatusSeeOther)
	return nil
}

// opsLogout serves POST /ops/logout.
func (s *Storefront) opsLogout(w http.ResponseWriter, r *http.Request) error {
	cred, ok := s.operator(r)
	if !ok || !s.validFormToken(cred, r.PostFormValue("csrf")) {
		return &pageError{Status: http.StatusForbidden, Message: "This sign-out form is out of date; reload the page and try again."}
	}
	s.setOpsCookie(w, "", -1)
	http.Redirect(w, r, "/ops", http.StatusSeeOther)
	return nil
}

// opsView is what /ops shows.
type opsView struct {
	Streams   []streamView
	FormToken string
	Error     string
	Updated   time.Time
}

type streamView struct {
	stream.StreamInfo
	// Rate is entries added per second since the previous look; -1 on the
	// first look.
	Rate float64
	DLQ  string
	// Letters are the newest dead letters, up to deadLetterLimit.
	Letters []stream.DeadLetter
}

type opsPage struct {
	View   opsView
	Notice string
	Error  string
	Bearer bool
}

// ops serves GET /ops.
func (s *Storefront) ops(w http.ResponseWriter, r *http.Request) error {
	cred, ok := s.operator(r)
	if !ok {
		s.opsUnauthorized(w, r, "")
		return nil
	}
	p := opsPage{View: s.opsView(r.Context(), cred), Bearer: cred == "bearer"}
	q := r.URL.Query()
	switch {
	case q.Get("replayed") != "":
		p.Notice = fmt.Sprintf("Replayed %s to %s as entry %s.", q.Get("id"), q.Get("stream"), q.Get("replayed"))
	case q.Get("error") == "gone":
		p.Error = "That dead letter is not there any more; it may have been replayed already."
	}
	s.render(w, r, http.StatusOK, "ops.html", s.layout("Operations", "ops", -1, p))
	return nil
}

// opsFragment serves GET /ops/fragment: the live part of /ops.
func (s *Storefront) opsFragment(w http.ResponseWriter, r *http.Request) error {
	cred, ok := s.operator(r)
	if !ok {
		return &pageError{Status: http.StatusUnauthorized, Message: "Your operator sign-in has ended. Reload the page to sign in again."}
	}
	s.render(w, r, http.StatusOK, "ops-fragment", s.opsView(r.Context(), cred))
	return nil
}

// opsView reads every stream's state; a failure is shown in the view.
func (s *Storefront) opsView(ctx context.Context, cred string) opsView {
	v := opsView{FormToken: s.formToken(cred), Updated: time.Now().UTC()}
	if s.rdb == nil {
		v.Error = "Redis is not configured for this page."
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for _, name := range s.cfg.Streams {
		info, err := stream.Inspect(ctx, s.rdb, name)
		if err != nil {
			s.log.WarnContext(ctx, "ops could not inspect a stream", "stream", name, "err", err)
			v.Error = "Redis is not answering, so the streams cannot be shown. This page keeps trying."
			return v
		}
		sv := streamView{StreamInfo: info, DLQ: stream.DeadLetterStream(name)}
		if info.Length == 0 && info.LastID == "0-0" {
			// Inspect counts dead letters of existing streams only.
			if sv.StreamInfo.DeadLetters, err = s.rdb.XLen(ctx, sv.DLQ).Result(); err != nil {
				s.log.WarnContext(ctx, "ops could not count dead letters", "stream", sv.DLQ, "err", err)
			}
		}
		sv.Rate = s.rates.observe(name, s.entriesAdded(ctx, name, info.Length), time.Now())
		if sv.StreamInfo.DeadLetters > 0 {
			if sv.Letters, err = stream.DeadLetters(ctx, s.rdb, sv.DLQ, deadLetterLimit); err != nil {
				s.log.WarnContext(ctx, "ops could not read dead letters", "stream", sv.DLQ, "err", err)
			}
		}
		v.Streams = append(v.Streams, sv)
	}
	return v
}

// entriesAdded returns how many entries stream has ever had (Redis 7's
// entries-added, which trimming does not lower), or its length on older
// servers.
func (s *Storefront) entriesAdded(ctx context.Context, name string, length int64) int64 {
	xi, err := s.rdb.XInfoStream(ctx, name).Result()
	if err != nil || xi.EntriesAdded == 0 {
		return length
	}
	return xi.EntriesAdded
}

// opsReplay serves POST /ops/replay: dlq and id of a dead letter, with the
// form token. It sends the entry back to its origin stream.
func (s *Storefront) opsReplay(w http.ResponseWriter, r *http.Request) error {
	cred, ok := s.operator(r)
	if !ok {
		s.opsUnauthorized(w, r, "")
		return nil
	}
	if !s.validFormToken(cred, r.PostFormValue("csrf")) {
		return &pageError{Status: http.StatusForbidden, Message: "This replay form is out of date or was not sent from this page; reload the page and try again."}
	}
	dlq, id := r.PostFormValue("dlq"), r.PostFormValue("id")
	if !slices.ContainsFunc(s.cfg.Streams, func(name string) bool { return stream.DeadLetterStream(name) == dlq }) {
		return &pageError{Status: http.StatusBadRequest, Message: "That is not a dead-letter stream of this system."}
	}
	if s.rdb == nil {
		return &pageError{Status: http.StatusServiceUnavailable, Message: "Redis is not configured for this page."}
	}
	newID, err := stream.Replay(r.Context(), s.rdb, dlq, id)
	switch {
	case errors.Is(err, stream.ErrNotFound):
		http.Redirect(w, r, "/ops?error=gone", http.StatusSeeOther)
		return nil
	case errors.Is(err, redis.Nil), err != nil && strings.Contains(err.Error(), "Invalid stream ID"):
		return &pageError{Status: http.StatusBadRequest, Message: "That is not a dead-letter entry id.", Err: err}
	case err != nil:
		return &pageError{Status: http.StatusServiceUnavailable, Message: "The replay failed because Redis is not answering; nothing was changed. Try again.", Err: err}
	}
	s.log.InfoContext(r.Context(), "dead letter replayed", "dlq", dlq, "id", id, "new_id", newID)
	origin := strings.TrimSuffix(dlq, ":dlq")
	http.Redirect(w, r, "/ops?"+url.Values{"replayed": {newID}, "id": {id}, "stream": {origin}}.Encode(), http.StatusSeeOther)
	return nil
}

// rateMeter turns samples of streams' entry counts into entries per
// second. It keeps one sample per stream in memory; a rate is measured
// over at least a second, so that several open pages do not shorten it.
type rateMeter struct {
	mu      sync.Mutex
	samples map[string]rateSample
}

type rateSample struct {
	at    time.Time
	count int64
	rate  float64
}

func newRateMeter() *rateMeter { return &rateMeter{samples: map[string]rateSample{}} }

// observe records count for name at now and returns the latest rate, or
// -1 when there is none yet.
func (m *rateMeter) observe(name string, count int64, now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, ok := m.samples[name]
	if !ok {
		m.samples[name] = rateSample{at: now, count: count, rate: -1}
		return -1
	}
	dt := now.Sub(prev.at)
	if dt < time.Second {
		return prev.rate
	}
	rate := float64(max(count-prev.count, 0)) / dt.Seconds()
	m.samples[name] = rateSample{at: now, count: count, rate: rate}
	return rate
}
