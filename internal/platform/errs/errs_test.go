package errs_test

import (
	"errors"
	"fmt"
	"testing"

	"streamcart/internal/platform/errs"
)

func TestKindSurvivesWrapping(t *testing.T) {
	cause := errors.New("connection reset")
	err := fmt.Errorf("load order: %w", errs.Unavailable(cause, "the order database is down"))
	if got := errs.KindOf(err); got != errs.KindUnavailable {
		t.Errorf("KindOf = %v, want unavailable", got)
	}
	if !errors.Is(err, cause) {
		t.Error("the cause is lost to errors.Is")
	}
	e, ok := errs.As(err)
	if !ok || e.Code != "unavailable" || e.Message != "the order database is down" {
		t.Errorf("As = %+v, %v", e, ok)
	}
}

func TestUnclassifiedErrorsAreInternal(t *testing.T) {
	for _, err := range []error{nil, errors.New("boom"), fmt.Errorf("wrapped: %w", errors.New("boom"))} {
		if got := errs.KindOf(err); got != errs.KindInternal {
			t.Errorf("KindOf(%v) = %v, want internal", err, got)
		}
	}
}

func TestAnEmptyCodeIsTheKindsName(t *testing.T) {
	for _, tt := range []struct {
		err  *errs.Error
		code string
	}{
		{errs.NotFound("", "no such order"), "not_found"},
		{errs.Invalid("", "bad"), "invalid"},
		{errs.E(errs.KindRateLimited, "", "slow down"), "rate_limited"},
		{errs.Conflict("price_changed", "the price changed"), "price_changed"},
	} {
		if tt.err.Code != tt.code {
			t.Errorf("%v: code %q, want %q", tt.err, tt.err.Code, tt.code)
		}
	}
}

func TestEveryKindHasAName(t *testing.T) {
	seen := map[string]errs.Kind{}
	for k := errs.KindInternal; k <= errs.KindBadGateway; k++ {
		name := k.String()
		if prev, dup := seen[name]; dup {
			t.Errorf("kinds %d and %d share the name %q", prev, k, name)
		}
		seen[name] = k
	}
	if got := errs.Kind(200).String(); got != "Kind(200)" {
		t.Errorf("an unknown kind is named %q", got)
	}
}
