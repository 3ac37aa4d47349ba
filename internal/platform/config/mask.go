package config

import (
	"flag"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
)

// Mask is what a secret is replaced with in logged configuration.
const Mask = "xxxxx"

// Effective returns the effective value of every flag of fs, once parsed,
// as the group "config" for logging at start. A flag named in secrets
// shows Mask when it is set; every other value is shown through
// MaskPasswords, so that the password of a Redis or PostgreSQL URL never
// reaches the log.
func Effective(fs *flag.FlagSet, secrets ...string) slog.Attr {
	var attrs []any
	fs.VisitAll(func(f *flag.Flag) {
		v := f.Value.String()
		switch {
		case isSecret(f.Name, secrets):
			if v != "" {
				v = Mask
			}
		default:
			v = MaskPasswords(v)
		}
		attrs = append(attrs, slog.String(f.Name, v))
	})
	return slog.Group("config", attrs...)
}

func isSecret(name string, secrets []string) bool {
	for _, s := range secrets {
		if s == name {
			return true
		}
	}
	return false
}

// dsnPassword matches the password of a key=value connection string
// ("host=db password=s3cret"), quoted or not.
var dsnPassword = regexp.MustCompile(`(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S*)`)

// MaskPasswords returns s with the passwords it holds replaced by Mask:
// the password of a URL (scheme://user:password@host), a "password" query
// parameter, and the password of a key=value connection string. A URL
// that does not parse keeps nothing between "://" and its last "@". A
// value without a password is returned unchanged.
func MaskPasswords(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return dsnPassword.ReplaceAllString(s, "password="+Mask)
	}
	u, err := url.Parse(s)
	if err != nil {
		// Unescaped characters in the password make it unparseable, and
		// then there is no telling where it ends: hide all the user info.
		if at := strings.LastIndex(s, "@"); at > i {
			return s[:i+3] + Mask + s[at:]
		}
		return s
	}
	masked := false
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Mask)
		masked = true
	}
	q := u.Query()
	for k := range q {
		if strings.EqualFold(k, "password") {
			q[k] = []string{Mask}
			masked = true
		}
	}
	if !masked {
		return s
	}
	u.RawQuery = q.Encode()
	return u.String()
}
