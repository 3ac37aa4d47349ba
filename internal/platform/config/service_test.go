package config

import (
	"errors"
	"testing"
)

func TestProblemsJoinsWhatIsWrongAndIsNilWhenNothingIs(t *testing.T) {
	t.Parallel()
	var none Problems
	none.If(false, "never")
	none.Add(nil)
	if err := none.Err(); err != nil {
		t.Errorf("Problems with nothing wrong: Err() = %v, want nil", err)
	}

	part := errors.New("Consumer: Group is required")
	var p Problems
	p.If(true, "OrderKey is required")
	p.If(true, "Grace %v is negative", -1)
	p.Add(part)
	err := p.Err()
	if want := "OrderKey is required\nGrace -1 is negative\nConsumer: Group is required"; err == nil || err.Error() != want {
		t.Errorf("Err() = %v, want %q", err, want)
	}
	if !errors.Is(err, part) {
		t.Errorf("Err() = %v does not wrap the part's error", err)
	}
}
