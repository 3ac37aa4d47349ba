package config

import (
	"errors"
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

// Problems collects what is wrong with a service's Config, for its
// Validate, one problem a field, each naming the field at fault. The zero
// value is empty and ready to use.
type Problems []error

// If adds the problem that format and args describe when bad holds.
func (p *Problems) If(bad bool, format string, args ...any) {
	if bad {
		*p = append(*p, fmt.Errorf(format, args...))
	}
}

// Add adds err, the problems of a part of the Config that validates
// itself, unless it is nil.
func (p *Problems) Add(err error) {
	if err != nil {
		*p = append(*p, err)
	}
}

// Err returns the problems joined (errors.Join), nil when there are none.
func (p Problems) Err() error {
	return errors.Join(p...)
}
