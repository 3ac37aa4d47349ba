package redisclient_test

import (
	"context"
	"errors"
	"testing"

	"streamcart/internal/platform/redisclient"
	"streamcart/internal/platform/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestIsUnavailableTellsOutagesFromCommandErrors(t *testing.T) {
	ctx := context.Background()
	srv := testenv.OwnRedis(t, "")
	rdb, err := redisclient.Open(ctx, srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()

	key := testenv.Name(t, "k")
	if err := rdb.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	wrongType := rdb.LPush(ctx, key, "x").Err()
	if wrongType == nil || redisclient.IsUnavailable(wrongType) {
		t.Errorf("a WRONGTYPE reply (%v) counts as an outage", wrongType)
	}
	if redisclient.IsUnavailable(nil) || redisclient.IsUnavailable(errors.New("boom")) {
		t.Error("nil or an unrelated error counts as an outage")
	}

	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	down := rdb.Get(ctx, key).Err()
	if !redisclient.IsUnavailable(down) {
		t.Errorf("with the server killed, %v does not count as an outage", down)
	}
	closed := rdb.Close()
	if closed != nil {
		t.Fatal(closed)
	}
	if err := rdb.Get(ctx, key).Err(); !redisclient.IsUnavailable(err) {
		t.Errorf("a closed client's %v does not count as an outage", err)
	}
}

// The slots of the examples in the Redis Cluster specification.
func TestSlot(t *testing.T) {
	for key, want := range map[string]int{
		"123456789":             0x31C3,
		"foo":                   12182,
		"{user1000}.following":  redisclient.Slot("user1000"),
		"foo{}{bar}":            redisclient.Slot("foo{}{bar}"),
		"foo{{bar}}zap":         redisclient.Slot("{bar"),
		"foo{bar}{zap}":         redisclient.Slot("bar"),
		"orderhistory:{u1}:o:1": redisclient.Slot("u1"),
	} {
		if got := redisclient.Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
}
