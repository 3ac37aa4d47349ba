package ops

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strconv"
	"streamcart/internal/platform/errs"
	"strings"
	"time"
)

// Operator sign-in.
const (
	// cookieName carries a signed, expiring operator login. It is HttpOnly
	// and SameSite=Strict: other sites cannot make the browser send it.
	cookieName = "sc_ops"
	// loginTTL is how long an operator login lasts.
	loginTTL = 12 * time.Hour
)

// signingKey derives the key that signs operator cookies and form tokens,
// so that neither reveals the token and changing the token ends all
// logins.
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

// newLogin returns the value of a login cookie valid until expiry.
func (o *Ops) newLogin(expiry time.Time) string {
	exp := strconv.FormatInt(expiry.Unix(), 10)
	return exp + "." + o.mac("login", exp)
}

// operator returns the credential of an operator's request: "bearer" for
// an Authorization header with the token, else the login cookie's value.
// ok is false when the request is not an operator's.
func (o *Ops) operator(r *http.Request) (cred string, ok bool) {
	if o.key == nil {
		return "", false
	}
	if scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " "); found && strings.EqualFold(scheme, "Bearer") {
		return "bearer", o.tokenMatches(strings.TrimSpace(tok))
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return "", false
	}
	exp, sig, found := strings.Cut(c.Value, ".")
	n, err := strconv.ParseInt(exp, 10, 64)
	if !found || err != nil || time.Now().Unix() > n {
		return "", false
	}
	if !hmac.Equal([]byte(sig), []byte(o.mac("login", exp))) {
		return "", false
	}
	return c.Value, true
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

// login serves POST /ops/login: the token from the form, in exchange for
// a login cookie.
func (o *Ops) login(w http.ResponseWriter, r *http.Request) error {
	if !o.tokenMatches(r.PostFormValue("token")) {
		msg := "That token is not right."
		if o.key == nil {
			msg = ""
		}
		o.unauthorized(w, r, msg)
		return nil
	}
	o.setCookie(w, o.newLogin(time.Now().Add(loginTTL)), int(loginTTL/time.Second))
	http.Redirect(w, r, "/ops", http.StatusSeeOther)
	return nil
}

// logout serves POST /ops/logout.
func (o *Ops) logout(w http.ResponseWriter, r *http.Request) error {
	cred, ok := o.operator(r)
	if !ok || !o.validFormToken(cred, r.PostFormValue("csrf")) {
		return showf(errs.KindForbidden, nil, "This sign-out form is out of date; reload the page and try again.")
	}
	o.setCookie(w, "", -1)
	http.Redirect(w, r, "/ops", http.StatusSeeOther)
	return nil
}
