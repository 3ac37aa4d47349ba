package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/platform/auth"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/ratelimit"
	"streamcart/internal/platform/redisclient"
	"streamcart/internal/platform/web"
	"streamcart/internal/stream"
)

// SessionCookie is the name of the cookie that carries the session token.
const SessionCookie = "sc_session"

// tokenBytes is the entropy of a session token: 256 bits.
const tokenBytes = 32

// maxUserAgent bounds the browser agent kept with a session and signed
// into identities.
const maxUserAgent = 512

// session is the shopper a request is for. IP and UserAgent are the
// current request's, which the identity score compares with the login's.
type session struct {
	// Token is the session token the answer gives the client: the one
	// the request presented, or a new one when Created or Renewed.
	Token     string
	UserID    string
	SessionID string
	IP        string
	UserAgent string
	// Expires is when Token stops being accepted.
	Expires time.Time
	// Created is set when this request started the session.
	Created bool
	// Renewed is set when this request got a fresh token for its
	// session (renewAfter).
	Renewed bool
}

// identity is the shopper's identity, which the gateway signs onto the
// requests it forwards and the cart reads from the context.
func (s session) identity() auth.Identity {
	return auth.Identity{Role: auth.RoleShopper, UserID: s.UserID, SessionID: s.SessionID, IP: s.IP, UserAgent: s.UserAgent}
}

type sessionCtxKey struct{}

func withSessionCtx(ctx context.Context, s session) context.Context {
	return context.WithValue(ctx, sessionCtxKey{}, s)
}

func sessionFrom(ctx context.Context) (session, bool) {
	s, ok := ctx.Value(sessionCtxKey{}).(session)
	return s, ok
}

// mustSession returns the session of a route behind withSession.
func mustSession(ctx context.Context) session {
	if s, ok := sessionFrom(ctx); ok {
		return s
	}
	panic("gateway: route without withSession needs a session")
}

// legacyTokenBytes is the size of the tokens of gateways before signed
// tokens: 32 random bytes, base64url, kept in Redis under their hash.
const legacyTokenBytes = 32

// legacyToken reports whether s has the form of a token of a gateway
// before signed tokens. Such a token still opens its session while Redis
// keeps it (at most SessionTTL after the upgrade, as nothing extends it
// any more), and is exchanged for a signed token at its first use.
func legacyToken(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(legacyTokenBytes) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == legacyTokenBytes
}

// tokenHash is what Redis knows of a legacy token.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// credential is where a request's session token came from.
type credential int

const (
	noCredential credential = iota
	bearerCredential
	cookieCredential
)

// tokenFrom returns the token the request presents and where it came
// from: the Authorization header when it says Bearer, else the session
// cookie. The token may be anything; verify says whether it is one.
func tokenFrom(r *http.Request) (token string, from credential) {
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok), bearerCredential
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		return c.Value, cookieCredential
	}
	return "", noCredential
}

func userAgent(r *http.Request) string {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = strings.ToValidUTF8(ua[:maxUserAgent], "")
	}
	return ua
}

// legacySessionKey is where a legacy token's session is.
func (g *Gateway) legacySessionKey(hash string) string { return g.cfg.KeyPrefix + "session:" + hash }

// revokedKey marks session sessionID as logged out until its last token
// has expired.
func (g *Gateway) revokedKey(sessionID string) string { return revokedKey(g.cfg.KeyPrefix, sessionID) }

// renewAfter is the age at which a token that a request presents is
// replaced by a fresh one: a minute, or a tenth of SessionTTL when that
// is shorter. A session thus lives SessionTTL after its last use, give or
// take renewAfter, while a busy client does not get a new token with
// every answer.
func (g *Gateway) renewAfter() time.Duration {
	return min(time.Minute, g.cfg.SessionTTL/10)
}

// sessionScript counts a request in a rate window and checks its
// session, when the gateway cannot check it in memory (readSession):
// withSession runs it twice in one pipeline, for the client
// address's window and for the session's window and state, the work of
// every request behind withSession. Each run's keys share a Redis
// Cluster slot (see readSession); the address's and the session's cannot.
//
// KEYS: a window's counter, and the session's revocation key (a signed
// token) or its Redis session (a legacy token), or the counter again.
// ARGV: the counter's TTL (ms), then "1" or "0" for counting, then
// "signed", "legacy" or "none". It returns the count (0 when not
// counted), 1 when a signed token's session is revoked, and a legacy
// session's fields as HGETALL does.
var sessionScript = redis.NewScript(`
local hits, revoked, fields = 0, 0, {}
if ARGV[2] == '1' then
	hits = redis.call('INCR', KEYS[1])
	if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
end
if ARGV[3] == 'signed' then
	revoked = redis.call('EXISTS', KEYS[2])
elseif ARGV[3] == 'legacy' then
	fields = redis.call('HGETALL', KEYS[2])
end
return {hits, revoked, fields}
`)

// presented is the token a request presents, as far as the gateway can
// tell without Redis.
type presented struct {
	token  string
	claims claims // of a valid signed token
	signed bool   // a valid signed token
	legacy bool   // a token of the legacy form
}

// sessionRead is what sessionScript found.
type sessionRead struct {
	ipHits, sessHits int64
	revoked          bool
	// userID and sessID are a legacy token's session.
	userID, sessID string
}

// readSession checks the session and counts the request in the rate
// windows, for a request from ip presenting tok at now: from this
// gateway's copy of the revocations and its credits of the session's
// windows (readKnown) when it can, else with sessionScript.
func (g *Gateway) readSession(ctx context.Context, ip string, tok presented, now time.Time) (sessionRead, error) {
	if tok.signed {
		if revoked, known := g.revocations.check(tok.claims.SessionID, now); known {
			return g.readKnown(ctx, ip, tok.claims.SessionID, revoked, now)
		}
	}
	var key, mode string
	switch {
	case tok.signed:
		key, mode = g.revokedKey(tok.claims.SessionID), "signed"
	case tok.legacy:
		key, mode = g.legacySessionKey(tokenHash(tok.token)), "legacy"
	default:
		mode = "none"
	}
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	ipLimit, sessLimit := g.ipLimit(), g.sessionLimit()
	countIP := ipLimit.Enabled()
	countSess := mode != "none" && sessLimit.Enabled()
	ttl := (2 * rateWindow).Milliseconds()
	var calls []redisclient.ScriptCall
	if countIP {
		ipKey := ipLimit.Key(ip, now)
		calls = append(calls, redisclient.ScriptCall{Keys: []string{ipKey, ipKey}, Args: []any{ttl, "1", "none"}})
	}
	if mode != "none" {
		// The session's counter carries the session's key as its hash
		// tag, which puts it in that key's Redis Cluster slot.
		calls = append(calls, redisclient.ScriptCall{
			Keys: []string{sessLimit.Key("{"+key+"}", now), key},
			Args: []any{ttl, flag(countSess), mode},
		})
	}
	if len(calls) == 0 {
		return sessionRead{}, nil
	}
	cmds, err := redisclient.RunScripts(ctx, g.rdb, sessionScript, calls)
	if err != nil {
		return sessionRead{}, err
	}
	var r sessionRead
	if countIP {
		res, _ := cmds[0].Slice()
		r.ipHits, _ = res[0].(int64)
		cmds = cmds[1:]
	}
	if mode == "none" {
		return r, nil
	}
	res, _ := cmds[0].Slice()
	r.sessHits, _ = res[0].(int64)
	revoked, _ := res[1].(int64)
	r.revoked = revoked == 1
	fields, _ := res[2].([]any)
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		switch k {
		case "userId":
			r.userID = v
		case "sessionId":
			r.sessID = v
		}
	}
	return r, nil
}

// readKnown is readSession for a signed token of session id whose
// revocation this gateway knows: the client address's window is counted
// as with PerIP, and the request is spent from this gateway's credits of
// the session's window, claiming more when they are spent (claimRest). As
// a rule, a session's requests within a window cost one SET, together.
func (g *Gateway) readKnown(ctx context.Context, ip, id string, revoked bool, now time.Time) (sessionRead, error) {
	r := sessionRead{revoked: revoked}
	ipLimit, sessLimit := g.ipLimit(), g.sessionLimit()
	window := now.UnixNano() / int64(rateWindow)
	claim := !revoked && sessLimit.Enabled() && !g.credits.take(id, window)
	if !claim && !ipLimit.Enabled() {
		return r, nil
	}
	// The session's counter carries the revocation key as its hash tag,
	// as with sessionScript: both count the same requests.
	key, chunk, ttl := sessLimit.Key("{"+g.revokedKey(id)+"}", now), creditChunk(sessLimit.Max), 2*rateWindow
	pipe := g.rdb.Pipeline()
	hits := ipLimit.Count(ctx, pipe, ip, now)
	var set *redis.BoolCmd
	if claim {
		set = pipe.SetNX(ctx, key, chunk, ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return r, err
	}
	if hits != nil {
		r.ipHits = hits.Val()
	}
	if !claim {
		return r, nil
	}
	got, err := claimRest(ctx, g.rdb, set, key, chunk, sessLimit.Max, ttl)
	if err != nil {
		return r, err
	}
	if got == 0 {
		r.sessHits = int64(sessLimit.Max) + 1
		return r, nil
	}
	g.credits.put(id, window, got-1)
	return r, nil
}

// need says what a route does for a request without a session.
type need int

const (
	// optional: a valid token's session is used; none is made, and an
	// unknown token is ignored. Reading the catalog leaves no trace.
	optional need = iota
	// required: a request without a token gets a new session; an
	// unknown or expired token is refused with 401 session_expired, so
	// that a client learns that its session (and cart) is gone.
	required
	// always: as required, but an unknown token also gets a new
	// session. The tutorial's client expects an auth token in every
	// answer and knows nothing of session_expired.
	always
)

// errSessionExpired is the answer to an unknown or expired token on a
// route that needs a session.
func errSessionExpired() error {
	return errs.Unauthorized("session_expired", "the session has expired or is unknown; start a new one without the token (GET /api/v1/session)")
}

// SessionTokenHeader is the response header that gives a client that
// sent its token as a Bearer header the token's replacement (renewAfter):
// a client that keeps the latest token keeps its session as long as it
// uses it.
const SessionTokenHeader = "Session-Token"

// withSession puts the request's session in its context, and the
// shopper's identity (auth.WithIdentity, which the cart reads), making a
// new one as the route's need n says. First it refuses a write that the
// cookie authenticates from another origin (checkOrigin), then it checks
// the token's signature and expiry (in the process), and then the rate
// limits of the client address (web.ClientIP) and of the session and the
// session's revocation, in one Redis round trip at most (readSession: as
// a rule none, the revocation being known in memory and the session's
// window spent from credits); a new session costs two more (its own rate
// limit, then its login event).
// Without Redis a route that needs a session answers 503, and a read is
// served without one.
//
// A token older than renewAfter is replaced: the answer carries a fresh
// token of the same session in the cookie (Set-Cookie) when the token
// came from the cookie, else in the header SessionTokenHeader, and in
// the token fields of the session and tutorial answers.
func (g *Gateway) withSession(n need, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		now := time.Now()
		ip, ua := web.ClientIP(r), userAgent(r)
		token, from := tokenFrom(r)
		if err := g.checkOrigin(r, from); err != nil {
			g.fail(w, r, err)
			return
		}
		tok := presented{token: token}
		if c, err := g.tokens.verify(token, now); err == nil {
			tok.claims, tok.signed = c, true
		} else {
			tok.legacy = legacyToken(token)
		}

		read, err := g.readSession(ctx, ip, tok, now)
		if err != nil {
			if n == optional {
				// Reads do without a session; the limits fail open.
				g.log.WarnContext(ctx, "sessions unavailable; serving the read without one", "path", r.URL.Path, "err", err)
				next.ServeHTTP(w, r)
				return
			}
			g.fail(w, r, errs.Unavailable(fmt.Errorf("read session: %w", err), "sessions are unavailable; try again shortly"))
			return
		}
		if l := g.ipLimit(); l.Enabled() && read.ipHits > int64(l.Max) {
			g.fail(w, r, l.Exceeded(w, "IP address", now))
			return
		}
		if l := g.sessionLimit(); l.Enabled() && read.sessHits > int64(l.Max) {
			g.fail(w, r, l.Exceeded(w, "session", now))
			return
		}

		var s session
		switch {
		case tok.signed && !read.revoked:
			s = session{Token: token, UserID: tok.claims.UserID, SessionID: tok.claims.SessionID, Expires: time.Unix(tok.claims.Expires, 0)}
			if now.Sub(time.Unix(tok.claims.IssuedAt, 0)) >= g.renewAfter() {
				s.renew(g.tokens, now, g.cfg.SessionTTL)
			}
		case tok.legacy && read.userID != "" && read.sessID != "":
			s = session{UserID: read.userID, SessionID: read.sessID}
			s.renew(g.tokens, now, g.cfg.SessionTTL)
		case n == optional:
			next.ServeHTTP(w, r)
			return
		case n == required && from != noCredential:
			if from == cookieCredential {
				http.SetCookie(w, g.clearedCookie()) // the browser's next request starts afresh
			}
			g.fail(w, r, errSessionExpired())
			return
		default:
			if s, err = g.createSession(ctx, w, ip, ua, now); err != nil {
				g.fail(w, r, err)
				return
			}
		}
		s.IP, s.UserAgent = ip, ua
		if s.Created || s.Renewed {
			if s.Created || from == cookieCredential {
				http.SetCookie(w, g.sessionCookie(s.Token, time.Duration(s.Expires.Unix()-now.Unix())*time.Second))
			} else {
				w.Header().Set(SessionTokenHeader, s.Token)
			}
			w.Header().Set("Cache-Control", "no-store") // the answer holds the token
		}
		ctx = withSessionCtx(ctx, s)
		ctx = auth.WithIdentity(ctx, s.identity())
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// renew gives s a fresh token, issued at now.
func (s *session) renew(ts tokenSigner, now time.Time, ttl time.Duration) {
	token, c := ts.issue(s.UserID, s.SessionID, now, ttl)
	s.Token, s.Expires, s.Renewed = token, time.Unix(c.Expires, 0), true
}

// newSessionLimit is Config.NewSessionsPerMinute per client address; its
// counters are KeyPrefix + "rl:new:<address>:<window>".
func (g *Gateway) newSessionLimit() ratelimit.Limit {
	return ratelimit.Limit{Prefix: g.cfg.KeyPrefix + "rl:new:", Max: g.cfg.NewSessionsPerMinute, Window: time.Minute}
}

// createSession counts a new session against the client address's limit
// (Config.NewSessionsPerMinute), then announces it on the transaction
// stream (LoginIdentityRecorded) and issues its token. Unlike the request
// limits this one does not fail open: without Redis the login event
// cannot be written, and a session without it would have no identity to
// score its orders against.
func (g *Gateway) createSession(ctx context.Context, w http.ResponseWriter, ip, ua string, now time.Time) (session, error) {
	if l := g.newSessionLimit(); l.Enabled() {
		pipe := g.rdb.Pipeline()
		hits := l.Count(ctx, pipe, ip, now)
		if _, err := pipe.Exec(ctx); err != nil {
			return session{}, errs.Unavailable(fmt.Errorf("count new session: %w", err), "sessions are unavailable; try again shortly")
		}
		if l.Over(hits) {
			return session{}, l.Exceeded(w, "IP address (new sessions)", now)
		}
	}
	s := session{UserID: stream.NewID(), SessionID: stream.NewID(), Created: true}
	login := events.LoginIdentityRecorded{UserID: s.UserID, SessionID: s.SessionID, UserAgent: ua, IP: ip}.Event()
	if _, err := g.pub.Publish(ctx, g.cfg.TransactionStream, login); err != nil {
		return session{}, errs.Unavailable(fmt.Errorf("create session: %w", err), "sessions are unavailable; try again shortly")
	}
	token, c := g.tokens.issue(s.UserID, s.SessionID, now, g.cfg.SessionTTL)
	s.Token, s.Expires = token, time.Unix(c.Expires, 0)
	return s, nil
}

// sessionCookie is the cookie that holds token for ttl.
func (g *Gateway) sessionCookie(token string, ttl time.Duration) *http.Cookie {
	return &http.Cookie{
		Name:     SessionCookie,
		Value:    token,
		Path:     "/",
		MaxAge:   max(int(ttl/time.Second), 1),
		HttpOnly: true,
		Secure:   g.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	}
}

// clearedCookie tells the browser to drop its session cookie.
func (g *Gateway) clearedCookie() *http.Cookie {
	c := g.sessionCookie("", 0)
	c.MaxAge = -1
	return c
}

// revokeSession serves DELETE /api/v1/session: the shopper logs out.
// Redis marks the session revoked until its last token expires (every
// token of it expires within SessionTTL of now), so that none of its
// tokens opens anything any more, and the browser's cookie is cleared.
// The mark is in Redis only: if Redis loses its data before the tokens
// expire, they work again (docs/security.md). A legacy token's session is
// deleted too. The cart, kept by user id, expires with its TTL.
func (g *Gateway) revokeSession(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s := mustSession(ctx)
	// A minute more for the clocks of other gateways, which may have
	// issued tokens a little later.
	lapse := time.Now().Add(max(s.Expires.Sub(time.Now()), g.cfg.SessionTTL) + time.Minute)
	var more func(redis.Pipeliner)
	if token, _ := tokenFrom(r); legacyToken(token) {
		more = func(pipe redis.Pipeliner) { pipe.Del(ctx, g.legacySessionKey(tokenHash(token))) }
	}
	// Should the announcement fail, the revocation key and the set's
	// entry hold (a gateway that does not trust its copy asks Redis, one
	// that subscribes again loads the set), but a gateway that trusts its
	// copy lets the session in: the client retries the logout.
	if err := g.revocations.revoke(ctx, g.revokedKey(s.SessionID), s.SessionID, lapse, more); err != nil {
		return errs.Unavailable(fmt.Errorf("revoke session: %w", err), "sessions are unavailable; try again shortly")
	}
	w.Header().Del("Set-Cookie") // withSession's renewal of the cookie
	w.Header().Del(SessionTokenHeader)
	http.SetCookie(w, g.clearedCookie())
	w.WriteHeader(http.StatusNoContent)
	return nil
}
