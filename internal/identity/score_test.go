package identity

import (
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"streamcart/internal/events"
	"streamcart/internal/ordercheck"
	"streamcart/internal/outbox"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/servicetest"
	"streamcart/internal/stream"
)

func TestFingerprintIsTheSHA256OfTheAgent(t *testing.T) {
	t.Parallel()
	// sha256("abc"), FIPS 180-2 appendix B.1.
	if got, want := Fingerprint("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("Fingerprint(%q) = %q, want %q", "abc", got, want)
	}
	if got := Fingerprint(""); got != "" {
		t.Errorf("Fingerprint(%q) = %q, want %q", "", got, "")
	}
	if a, b := Fingerprint("Mozilla/5.0"), Fingerprint("Mozilla/5.0 "); a == b || len(a) != 64 {
		t.Errorf("Fingerprint of two agents = %q and %q; want two different 64-digit hashes", a, b)
	}
}

func TestNormalizeIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip, want string
	}{
		{ip: "", want: ""},
		{ip: "203.0.113.7", want: "203.0.113.7"},
		{ip: " 203.0.113.7 ", want: "203.0.113.7"},
		{ip: "::ffff:203.0.113.7", want: "203.0.113.7"},
		{ip: "203.0.113.7:54321", want: "203.0.113.7"},
		{ip: "[2001:DB8:0:0::1]:443", want: "2001:db8::1"},
		{ip: "2001:0db8:0000:0000:0000:0000:0000:0001", want: "2001:db8::1"},
		{ip: "fe80::1%eth0", want: "fe80::1"},
		{ip: "not an address", want: "not an address"},
	}
	for _, tt := range tests {
		if got := normalizeIP(tt.ip); got != tt.want {
			t.Errorf("normalizeIP(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	laptop := LoginIdentity{Fingerprint: "fp-laptop", IP: "203.0.113.7"}
	phone := LoginIdentity{Fingerprint: "fp-phone", IP: "198.51.100.9"}
	unknown := LoginIdentity{Fingerprint: "", IP: ""}
	tests := []struct {
		name            string
		fingerprint, ip string
		known           []LoginIdentity
		want            float64
	}{
		{name: "both match", fingerprint: "fp-laptop", ip: "203.0.113.7", known: []LoginIdentity{laptop}, want: 1},
		{name: "fingerprint matches", fingerprint: "fp-laptop", ip: "192.0.2.1", known: []LoginIdentity{laptop}, want: 0.5},
		{name: "address matches", fingerprint: "fp-other", ip: "203.0.113.7", known: []LoginIdentity{laptop}, want: 0.5},
		{name: "nothing matches", fingerprint: "fp-other", ip: "192.0.2.1", known: []LoginIdentity{laptop}, want: 0},
		{name: "no identities", fingerprint: "fp-laptop", ip: "203.0.113.7", want: 0},
		{name: "second device", fingerprint: "fp-phone", ip: "198.51.100.9", known: []LoginIdentity{laptop, phone}, want: 1},
		{name: "one characteristic per device", fingerprint: "fp-phone", ip: "203.0.113.7", known: []LoginIdentity{laptop, phone}, want: 1},
		{name: "unknown checkout never matches", fingerprint: "", ip: "", known: []LoginIdentity{unknown, laptop}, want: 0},
		{name: "unknown agent, known address", fingerprint: "", ip: "203.0.113.7", known: []LoginIdentity{unknown, laptop}, want: 0.5},
	}
	for _, tt := range tests {
		if got := rate(tt.fingerprint, tt.ip, tt.known); got != tt.want {
			t.Errorf("%s: rate(%q, %q, %v) = %v, want %v", tt.name, tt.fingerprint, tt.ip, tt.known, got, tt.want)
		}
	}
}

func TestMustWait(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 21, 40, 0, 0, time.UTC)
	tests := []struct {
		hasIdentity bool
		age         time.Duration
		want        bool
	}{
		{hasIdentity: false, age: 0, want: true},
		{hasIdentity: false, age: 4999 * time.Millisecond, want: true},
		{hasIdentity: false, age: 5 * time.Second, want: false},
		{hasIdentity: false, age: time.Hour, want: false},
		{hasIdentity: false, age: -time.Second, want: true}, // the orders host's clock is ahead
		{hasIdentity: true, age: 0, want: false},
		{hasIdentity: true, age: time.Hour, want: false},
	}
	for _, tt := range tests {
		if got := mustWait(tt.hasIdentity, now.Add(-tt.age), now, 5*time.Second); got != tt.want {
			t.Errorf("mustWait(identity %t, order %v old, grace 5s) = %t, want %t", tt.hasIdentity, tt.age, got, tt.want)
		}
	}
}

func TestNewScore(t *testing.T) {
	t.Parallel()
	const ua = "Mozilla/5.0 (X11; Linux x86_64)"
	now := time.Date(2026, 11, 25, 21, 40, 0, 0, time.UTC)
	known := []LoginIdentity{{UserID: "u-1", Fingerprint: Fingerprint(ua), IP: "203.0.113.7"}}
	tests := []struct {
		ip        string
		threshold float64
		wantValue float64
		wantFraud bool
	}{
		{ip: "::ffff:203.0.113.7", threshold: 0.5, wantValue: 1, wantFraud: false},
		{ip: "192.0.2.1", threshold: 0.5, wantValue: 0.5, wantFraud: false},
		{ip: "192.0.2.1", threshold: 1, wantValue: 0.5, wantFraud: true},
		{ip: "203.0.113.7", threshold: 1, wantValue: 1, wantFraud: false},
	}
	for _, tt := range tests {
		o := events.OrderPlaced{Order: events.Order{OrderID: "o-1", UserID: "u-1"}, UserAgent: ua, IP: tt.ip}
		got := newScore(o, known, now, tt.threshold)
		want := Score{
			OrderID: "o-1", UserID: "u-1", Value: tt.wantValue, PotentialFraud: tt.wantFraud,
			Fingerprint: Fingerprint(ua), IP: normalizeIP(tt.ip), ScoredAt: now,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("newScore(ip %q, threshold %v) (-want +got):\n%s", tt.ip, tt.threshold, diff)
		}
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 25, 21, 40, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	login := func(user, session, fp string, s int) LoginIdentity {
		return LoginIdentity{UserID: user, SessionID: session, Fingerprint: fp, IP: "203.0.113.7", FirstSeen: at(s), LastSeen: at(s)}
	}
	got := merge([]LoginIdentity{
		login("u-1", "s-2", "fp", 2),
		login("u-2", "s-9", "fp", 9),
		login("u-1", "s-1", "fp", 1), // earlier: widens first seen only
		login("u-1", "s-3", "fp", 3), // later: moves last seen and session
		login("u-1", "s-4", "other", 4),
	})
	want := []LoginIdentity{
		{UserID: "u-1", SessionID: "s-3", Fingerprint: "fp", IP: "203.0.113.7", FirstSeen: at(1), LastSeen: at(3)},
		login("u-2", "s-9", "fp", 9),
		login("u-1", "s-4", "other", 4),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merge (-want +got):\n%s", diff)
	}
}

func TestParseLogin(t *testing.T) {
	t.Parallel()
	when := time.Date(2026, 11, 25, 21, 40, 0, 0, time.UTC)
	valid := events.LoginIdentityRecorded{UserID: "u-1", SessionID: "s-1", UserAgent: "Mozilla/5.0", IP: "::ffff:203.0.113.7"}
	message := func(edit func(map[string]string)) stream.Message {
		e := valid.Event()
		e.ID, e.Time, e.Version = "e-1", when, events.Version
		edit(e.Fields)
		return stream.Message{Event: e}
	}
	tests := []struct {
		name    string
		msg     stream.Message
		want    LoginIdentity
		wantErr bool
	}{
		{
			name: "valid",
			msg:  message(func(map[string]string) {}),
			want: LoginIdentity{UserID: "u-1", SessionID: "s-1", Fingerprint: Fingerprint("Mozilla/5.0"), IP: "203.0.113.7", FirstSeen: when, LastSeen: when},
		},
		{
			name: "no action",
			msg:  message(func(f map[string]string) { delete(f, "action") }),
			want: LoginIdentity{UserID: "u-1", SessionID: "s-1", Fingerprint: Fingerprint("Mozilla/5.0"), IP: "203.0.113.7", FirstSeen: when, LastSeen: when},
		},
		{name: "other action", msg: message(func(f map[string]string) { f["action"] = events.ActionCalculateIdentityScore }), wantErr: true},
		{name: "no user", msg: message(func(f map[string]string) { delete(f, "userId") }), wantErr: true},
		{name: "no session", msg: message(func(f map[string]string) { f["sessionId"] = "" }), wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseLogin(tt.msg)
		if tt.wantErr {
			if !stream.IsPermanent(err) {
				t.Errorf("%s: parseLogin error = %v, want a permanent error", tt.name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: parseLogin: %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: parseLogin (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []testenv.ConfigCase[Config]{
		{Name: "zero value", Config: withOrderCheck(Config{})},
		{Name: "custom", Config: withOrderCheck(Config{FraudThreshold: 1, Grace: time.Millisecond, OrdersStream: "o", TransactionStream: "t"})},
		{Name: "no order key", Config: Config{Orders: &ordercheck.Known{}}, WantField: "OrderKey"},
		{Name: "no orders", Config: Config{OrderKey: servicetest.OrderKey()}, WantField: "Orders"},
		{Name: "negative threshold", Config: withOrderCheck(Config{FraudThreshold: -0.1}), WantField: "FraudThreshold"},
		{Name: "threshold above 1", Config: withOrderCheck(Config{FraudThreshold: 1.5}), WantField: "FraudThreshold"},
		{Name: "NaN threshold", Config: withOrderCheck(Config{FraudThreshold: math.NaN()}), WantField: "FraudThreshold"},
		{Name: "negative grace", Config: withOrderCheck(Config{Grace: -time.Second}), WantField: "Grace"},
		{Name: "same stream for both", Config: withOrderCheck(Config{OrdersStream: "s", TransactionStream: "s"}), WantField: "OrdersStream and TransactionStream"},
		{Name: "same default stream for both", Config: withOrderCheck(Config{OrdersStream: events.TransactionStream}), WantField: "OrdersStream and TransactionStream"},
		{Name: "consumer stream set", Config: withOrderCheck(Config{ServiceConfig: outbox.ServiceConfig{Consumer: stream.Config{Stream: events.OrdersStream}}}), WantField: "Consumer.Stream"},
		{Name: "consumer dead-letter stream set", Config: withOrderCheck(Config{ServiceConfig: outbox.ServiceConfig{Consumer: stream.Config{DeadLetterStream: "dlq"}}}), WantField: "Consumer.DeadLetterStream"},
		{Name: "bad consumer config", Config: withOrderCheck(Config{ServiceConfig: outbox.ServiceConfig{Consumer: stream.Config{Count: -1}}}), WantField: "Consumer of"},
		{Name: "negative stream max age", Config: withOrderCheck(Config{ServiceConfig: outbox.ServiceConfig{StreamMaxAge: -time.Second}}), WantField: "StreamMaxAge"},
		{Name: "negative login retention", Config: withOrderCheck(Config{LoginRetention: -time.Hour}), WantField: "LoginRetention"},
		{Name: "negative retention interval", Config: withOrderCheck(Config{RetentionInterval: -time.Second}), WantField: "RetentionInterval"},
	}
	testenv.CheckConfigs(t, tests, Config.Validate, nil)
}

func TestNewServiceRefusesANilLogger(t *testing.T) {
	t.Parallel()
	svc, err := NewService(nil, nil, Config{}, nil)
	if err == nil || err.Error() != "identity: a logger is required" {
		t.Errorf("NewService with a nil logger = %v, %v; want the error %q", svc, err, "identity: a logger is required")
	}
}

func TestNewServiceRefusesABadConfig(t *testing.T) {
	t.Parallel()
	_, err := NewService(nil, nil, Config{Grace: -time.Second}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "Grace") {
		t.Errorf("NewService with a negative Grace = %v, want an error naming Grace", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var cfg Config
	cfg.setDefaults()
	got := []any{cfg.FraudThreshold, cfg.Grace, cfg.OrdersStream, cfg.TransactionStream, cfg.Consumer.Group}
	want := []any{0.5, 5 * time.Second, events.OrdersStream, events.TransactionStream, "identity"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults: threshold, grace, orders stream, transaction stream, group (-want +got):\n%s", diff)
	}
	for _, name := range []string{cfg.OrdersStream, cfg.TransactionStream} {
		if c := cfg.Consumer.WithStream(name); c.Stream != name || c.Group != Group {
			t.Errorf("Consumer.WithStream(%q) reads %q in group %q; want %q in %q", name, c.Stream, c.Group, name, Group)
		}
	}
}

// withOrderCheck returns c with what every Config needs to check the
// OrderPlaced events it consumes: the OrderKey and the Orders lookup.
func withOrderCheck(c Config) Config {
	c.OrderKey, c.Orders = servicetest.OrderKey(), &ordercheck.Known{}
	return c
}
