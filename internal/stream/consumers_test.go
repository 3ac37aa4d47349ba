package stream

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestNewConsumersMakesOneConsumerAStreamLoggingToTheService(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	h := func(context.Context, []Message) error { return nil }
	cs, err := NewConsumers("svc", nil, Config{Group: "svc"}, log, map[string]BatchHandler{"b": h, "a": h})
	if err != nil {
		t.Fatalf("NewConsumers: %v", err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.cfg.Stream)
		if c.cfg.Logger != log {
			t.Errorf("consumer of %s logs elsewhere than the service's logger", c.cfg.Stream)
		}
	}
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("consumers of %v, want a,b", got)
	}

	_, err = NewConsumers("svc", nil, Config{}, log, map[string]BatchHandler{"a": h})
	if err == nil || !strings.HasPrefix(err.Error(), "svc: consumer of a: ") {
		t.Errorf("NewConsumers without a group: err = %v, want one naming the service and the stream", err)
	}
}
