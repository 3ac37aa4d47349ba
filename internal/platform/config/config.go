// Package config reads a command's flags, each of which can also be set by
// an environment variable: flag "redis-url" of a command whose prefix is
// "STREAMCART" is also STREAMCART_REDIS_URL. A flag on the command line
// wins over the environment, which wins over the default. Effective shows
// the result for the log, with secrets masked.
package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// Parse parses args into fs, then sets every flag that args did not set
// from its environment variable, if that exists. Bad values in either place
// are errors naming their source.
func Parse(fs *flag.FlagSet, prefix string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := EnvName(prefix, f.Name)
		if v, ok := os.LookupEnv(name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment variable %s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

// EnvName returns the environment variable for flag name under prefix.
func EnvName(prefix, name string) string {
	n := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if prefix == "" {
		return n
	}
	return prefix + "_" + n
}
