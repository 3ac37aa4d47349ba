package testenv

import (
	"strings"
	"testing"
)

// ConfigCase is one row of a table that checks the validation of a
// configuration of type C.
type ConfigCase[C any] struct {
	Name   string
	Config C
	// WantField is "" for a valid configuration; else a part of the
	// error, naming the bad field.
	WantField string
}

// CheckConfigs checks a table of configurations: validate (a Config's
// Validate method) must accept each valid one and refuse each other one
// with an error that names its WantField. construct, if not nil, builds
// what the configuration is for (a service's NewService); it must refuse
// each invalid configuration the same way.
func CheckConfigs[C any](tb testing.TB, tests []ConfigCase[C], validate, construct func(C) error) {
	tb.Helper()
	for _, tt := range tests {
		err := validate(tt.Config)
		switch {
		case tt.WantField == "" && err != nil:
			tb.Errorf("%s: Validate() = %v, want nil", tt.Name, err)
		case tt.WantField != "" && !names(err, tt.WantField):
			tb.Errorf("%s: Validate() = %v, want an error naming %s", tt.Name, err, tt.WantField)
		}
		if construct == nil || tt.WantField == "" {
			continue
		}
		if err := construct(tt.Config); !names(err, tt.WantField) {
			tb.Errorf("%s: NewService error = %v, want one naming %s", tt.Name, err, tt.WantField)
		}
	}
}

// names reports whether err is an error whose text contains field.
func names(err error, field string) bool {
	return err != nil && strings.Contains(err.Error(), field)
}
