package ops

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/ratelimit"
	"streamcart/internal/platform/web"
)

// Operator sign-in.
const (
	// cookieName carries an operator login: a random token that Redis
	// knows (under its MAC) until the login expires or is signed out. It
	// is HttpOnly and SameSite=Strict: other sites cannot make the
	// browser send it.
	cookieName = "sc_ops"
	// loginTokenBytes is the entropy of a login token: 256 bits.
	loginTokenBytes = 32
)

// signingKey derives the key that names operator logins and signs form
// tokens, so that neither reveals the token and changing the token ends
// all logins.
func signingKey(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("streamcart ops v1"))
	return m.Sum(nil)
}

func (o *Ops) mac(parts ...string) string {
	m := hmac.New(sha256.New, o.key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// tokenMatches compares a presented token with the operator token in
// constant time (over their SHA-256, so that the length leaks nothing).
func (o *Ops) tokenMatches(presented string) bool {
	if o.key == nil || presented == "" {
		return false
	}
	a := sha256.Sum256([]byte(presented))
	b := sha256.Sum256([]byte(o.cfg.OperatorToken))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// loginKey is the Redis key of the login with cookie value token. It
// holds the MAC, not the token, so a dump of Redis opens nothing, and it
// changes with the operator token.
func (o *Ops) loginKey(token string) string {
	return o.cfg.KeyPrefix + "login:" + o.mac("login", token)
}

// newLogin stores a new login for Config.LoginTTL and returns its cookie
// value.
func (o *Ops) newLogin(ctx context.Context) (string, error) {
	b := make([]byte, loginTokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	token := base64.RawURLEncoding.EncodeToString(b)
	if err := o.rdb.Set(ctx, o.loginKey(token), time.Now().UTC().Format(time.RFC3339), o.cfg.LoginTTL).Err(); err != nil {
		return "", fmt.Errorf("store operator login: %w", err)
	}
	return token, nil
}

type credKey struct{}

// authenticate finds out whether the request is an operator's, once, for
// operator: with "Authorization: Bearer <token>", counted as an attempt
// (attempt), so that the token cannot be guessed at speed by this route
// either; else with the login cookie, which Redis must know. An address
// over its attempts gets 429, even with the right token.
func (o *Ops) authenticate(next http.Handler, fragment bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var cred string
		if scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " "); found && strings.EqualFold(scheme, "Bearer") {
			done, err := o.attempt(w, r)
			if err != nil {
				o.fail(w, r, err, fragment)
				return
			}
			ok := o.tokenMatches(strings.TrimSpace(tok))
			done(ok)
			if ok {
				cred = "bearer"
			}
		} else if c, err := r.Cookie(cookieName); err == nil && o.key != nil && o.rdb != nil && c.Value != "" {
			switch n, err := o.rdb.Exists(ctx, o.loginKey(c.Value)).Result(); {
			case err != nil:
				o.log.WarnContext(ctx, "ops could not check an operator login", "err", err)
			case n == 1:
				cred = c.Value
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, credKey{}, cred)))
	})
}

// operator returns the credential of an operator's request, as
// authenticate found it: "bearer" for the Authorization header, else the
// login cookie's value. ok is false when the request is not an
// operator's.
func (o *Ops) operator(r *http.Request) (cred string, ok bool) {
	cred, _ = r.Context().Value(credKey{}).(string)
	return cred, cred != ""
}

// attemptLimit is Config.LoginAttempts per client address and minute.
func (o *Ops) attemptLimit() ratelimit.Limit {
	return ratelimit.Limit{Prefix: o.cfg.KeyPrefix + "rl:login:", Max: o.cfg.LoginAttempts, Window: time.Minute}
}

// giveBackScript returns an attempt to its window's counter, if the
// window still exists: a DECR alone would recreate an expired counter
// without a TTL.
var giveBackScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
`)

// attempt counts one try of the operator token from the request's client
// address (web.ClientIP), form sign-in and Bearer alike, in one limit of
// Config.LoginAttempts per minute. Over the limit it returns a 429 error,
// with Retry-After. Otherwise the caller reports the outcome to done: a
// right token gives its attempt back, so that an operator's script that
// sends the token with every request is never limited; only wrong
// guesses add up. Like every limit it fails open: when Redis cannot
// count, the attempt goes on.
func (o *Ops) attempt(w http.ResponseWriter, r *http.Request) (done func(ok bool), err error) {
	none := func(bool) {}
	l := o.attemptLimit()
	if o.rdb == nil || !l.Enabled() {
		return none, nil
	}
	ctx, now, ip := r.Context(), time.Now(), web.ClientIP(r)
	pipe := o.rdb.Pipeline()
	hits := l.Count(ctx, pipe, ip, now)
	if _, err := pipe.Exec(ctx); err != nil {
		o.log.WarnContext(ctx, "ops sign-in limit unavailable; allowing the attempt", "err", err)
		return none, nil
	}
	if l.Over(hits) {
		return nil, showf(errs.KindRateLimited, l.Exceeded(w, "IP address", now), "Too many sign-in attempts from this address. Wait a minute and try again.")
	}
	key := l.Key(ip, now)
	return func(ok bool) {
		if !ok {
			return
		}
		if err := giveBackScript.Run(ctx, o.rdb, []string{key}).Err(); err != nil {
			o.log.WarnContext(ctx, "ops could not give back a sign-in attempt", "err", err)
		}
	}, nil
}

// formToken is the token that the forms of /ops carry for cred: another
// site can neither read it nor make the browser send the login cookie.
func (o *Ops) formToken(cred string) string { return o.mac("form", cred) }

func (o *Ops) validFormToken(cred, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(o.formToken(cred)))
}

func (o *Ops) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/ops", MaxAge: maxAge,
		HttpOnly: true, Secure: o.cfg.SecureCookies, SameSite: http.SameSiteStrictMode,
	})
}

// loginPage is the 401 page of /ops.
type loginPage struct {
	Enabled bool
	Error   string
}

func (o *Ops) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="streamcart operations"`)
	o.pages.RenderPage(w, r, http.StatusUnauthorized, "login.html", "Operator sign-in", nav, loginPage{Enabled: o.key != nil, Error: msg})
}

// login serves POST /ops/login: the token from the form, counted as an
// attempt (attempt), in exchange for a login cookie that Redis knows for
// Config.LoginTTL. Without Redis, only the Bearer route opens /ops.
func (o *Ops) login(w http.ResponseWriter, r *http.Request) error {
	done, err := o.attempt(w, r)
	if err != nil {
		return err
	}
	ok := o.tokenMatches(r.PostFormValue("token"))
	done(ok)
	if !ok {
		msg := "That token is not right."
		if o.key == nil {
			msg = ""
		}
		o.unauthorized(w, r, msg)
		return nil
	}
	if o.rdb == nil {
		return showf(errs.KindUnavailable, nil, "Signing in needs Redis, which is not configured for this page; send the token as a Bearer header instead.")
	}
	token, err := o.newLogin(r.Context())
	if err != nil {
		return showf(errs.KindUnavailable, err, "Signing in failed because Redis is not answering. Try again.")
	}
	o.setCookie(w, token, int(o.cfg.LoginTTL/time.Second))
	http.Redirect(w, r, "/ops", http.StatusSeeOther)
	return nil
}

// logout serves POST /ops/logout: the login is deleted from Redis, so
// that its cookie opens nothing any more, even if a copy of it was kept.
func (o *Ops) logout(w http.ResponseWriter, r *http.Request) error {
	cred, ok := o.operator(r)
	if !ok || !o.validFormToken(cred, r.PostFormValue("csrf")) {
		return showf(errs.KindForbidden, nil, "This sign-out form is out of date; reload the page and try again.")
	}
	if cred != "bearer" {
		if err := o.rdb.Del(r.Context(), o.loginKey(cred)).Err(); err != nil {
			return showf(errs.KindUnavailable, err, "Signing out failed because Redis is not answering. Try again.")
		}
	}
	o.setCookie(w, "", -1)
	http.Redirect(w, r, "/ops", http.StatusSeeOther)
	return nil
}
