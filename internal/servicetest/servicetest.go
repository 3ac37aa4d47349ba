// Package servicetest holds what the tests of streamcart's services share
// beyond platform/testenv, so that no service's tests write it again: the
// keys their requests and events are signed with (Signer, OrderKey,
// ProductKey),
// publishing events to the streams a service under test consumes, and
// reading the dead letters it leaves; for a consumer of OrderPlaced, its
// setup and run (Consumer, Start). It is imported by tests only.
package servicetest

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"streamcart/internal/events"
	"streamcart/internal/platform/errs"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/platform/web"
	"streamcart/internal/stream"
)

// OrderKey returns the key that signs the OrderPlaced events of tests and
// checks them in the services under test, as the orders service's key
// does in a deployment. Every call returns a key of the same secret.
func OrderKey() *events.OrderKey {
	k, err := events.NewOrderKey([]byte("a test secret of at least 32 bytes"))
	if err != nil {
		panic("servicetest: " + err.Error()) // only a secret too short fails
	}
	return k
}

// ProductKey returns the key that signs the ProductChanged events of
// tests and checks them in the services under test, as the products
// service's key does in a deployment. Every call returns a key of the
// same secret as OrderKey's.
func ProductKey() *events.ProductKey {
	k, err := events.NewProductKey([]byte("a test secret of at least 32 bytes"))
	if err != nil {
		panic("servicetest: " + err.Error()) // only a secret too short fails
	}
	return k
}

// Publish appends evs to streamName in one MULTI, so that a consumer reads
// them in one batch, and returns their entry ids. An event without an id
// gets a new one.
func Publish(t testing.TB, rdb redis.UniversalClient, streamName string, evs ...stream.Event) []string {
	t.Helper()
	pub := stream.NewPublisher(rdb, nil)
	cmds := make([]*redis.StringCmd, len(evs))
	_, err := rdb.TxPipelined(t.Context(), func(p redis.Pipeliner) error {
		for i := range evs {
			cmd, err := pub.Append(t.Context(), p, streamName, &evs[i])
			if err != nil {
				return err
			}
			cmds[i] = cmd
		}
		return nil
	})
	if err != nil {
		t.Fatalf("servicetest: publish to %s: %v", streamName, err)
	}
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.Val()
	}
	return ids
}

// DeadLetters returns the dead letters of streamName, newest first (at
// most 100).
func DeadLetters(t testing.TB, rdb redis.Cmdable, streamName string) []stream.DeadLetter {
	t.Helper()
	dl, err := stream.DeadLetters(t.Context(), rdb, stream.DeadLetterStream(streamName), 100)
	if err != nil {
		t.Fatalf("servicetest: dead letters of %s: %v", streamName, err)
	}
	return dl
}

// WantClientError fails the test unless err is how a service refuses a
// client's input: an *errs.Error of a 4xx status with a message that
// leaks nothing (testenv.Leak). what names the input in the failure.
func WantClientError(t testing.TB, what string, err error) {
	t.Helper()
	e, ok := errs.As(err)
	if !ok {
		t.Fatalf("%s: error %v (%T) is not an *errs.Error", what, err, err)
	}
	if s := web.StatusOf(err); s < 400 || s >= 500 || e.Message == "" {
		t.Fatalf("%s: error %v with status %d, want a 4xx with a message", what, err, s)
	}
	if l := testenv.Leak(e.Message); l != "" {
		t.Fatalf("%s: message %q leaks %s", what, e.Message, l)
	}
}

// WantNoDeadLetters checks that nothing of streams was dead-lettered.
func WantNoDeadLetters(t testing.TB, rdb redis.Cmdable, streams ...string) {
	t.Helper()
	for _, s := range streams {
		if dl := DeadLetters(t, rdb, s); len(dl) != 0 {
			t.Errorf("dead letters of %s = %+v, want none", s, dl)
		}
	}
}
