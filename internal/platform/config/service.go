package config

import (
	"fmt"
	"log/slog"
)

// CheckService is how every service's NewService begins. It requires a
// logger, so that the service's lines, its consumers' included, say which
// service they are from, and a valid cfg (whose Validate applies the
// defaults to its copy first). The errors name the service:
// "orders: a logger is required", "orders config: ...".
func CheckService(service string, log *slog.Logger, cfg interface{ Validate() error }) error {
	if log == nil {
		return fmt.Errorf("%s: a logger is required", service)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s config: %w", service, err)
	}
	return nil
}
