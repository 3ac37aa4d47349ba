package outbox_test

import (
	"testing"
	"time"

	"streamcart/internal/outbox"
	"streamcart/internal/platform/testenv"
	"streamcart/internal/stream"
)

func TestServiceConfigOfOneConsumerMustConsumeTheStream(t *testing.T) {
	t.Parallel()
	tests := []testenv.ConfigCase[outbox.ServiceConfig]{
		{Name: "zero value", Config: outbox.ServiceConfig{}},
		{Name: "the stream named", Config: outbox.ServiceConfig{Consumer: stream.Config{Stream: "in"}}},
		{Name: "another stream", Config: outbox.ServiceConfig{Consumer: stream.Config{Stream: "other"}}, WantField: "Consumer.Stream"},
		{Name: "bad consumer config", Config: outbox.ServiceConfig{Consumer: stream.Config{Count: -1}}, WantField: "Consumer of in"},
		{Name: "negative stream max age", Config: outbox.ServiceConfig{StreamMaxAge: -time.Second}, WantField: "StreamMaxAge"},
	}
	testenv.CheckConfigs(t, tests, func(c outbox.ServiceConfig) error {
		c.DefaultFor("in", "group")
		return c.ValidateFor("in")
	}, nil)
}

func TestServiceConfigOfSeveralConsumersIsATemplate(t *testing.T) {
	t.Parallel()
	tests := []testenv.ConfigCase[outbox.ServiceConfig]{
		{Name: "zero value", Config: outbox.ServiceConfig{}},
		{Name: "a stream set", Config: outbox.ServiceConfig{Consumer: stream.Config{Stream: "a"}}, WantField: "Consumer.Stream"},
		{Name: "a dead-letter stream set", Config: outbox.ServiceConfig{Consumer: stream.Config{DeadLetterStream: "dlq"}}, WantField: "Consumer.DeadLetterStream"},
		{Name: "bad consumer config", Config: outbox.ServiceConfig{Consumer: stream.Config{Count: -1}}, WantField: "Consumer of a"},
	}
	testenv.CheckConfigs(t, tests, func(c outbox.ServiceConfig) error {
		c.DefaultFor("", "group")
		return c.ValidateFor("a", "b")
	}, nil)
}
