// Package config reads a command's flags, each of which can also be set by
// an environment variable: flag "redis-url" of a command whose prefix is
// "STREAMCART" is also STREAMCART_REDIS_URL, or the content of the file
// that STREAMCART_REDIS_URL_FILE names (for secrets that a container
// platform mounts as files). A flag on the command line wins over the
// environment, which wins over the default. Effective shows the result
// for the log, with secrets masked.
package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// Parse parses args into fs, then sets every flag that args did not set
// from its environment variable, if that exists, else from the file that
// its environment variable with the suffix _FILE names (without the line
// end the file's content ends with). Setting both variables of a flag is
// an error, as are bad values in any place; errors name their source.
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
		v, ok := os.LookupEnv(name)
		path, fromFile := os.LookupEnv(name + "_FILE")
		switch {
		case ok && fromFile:
			err = fmt.Errorf("environment variables %s and %s_FILE are both set; set one", name, name)
		case ok:
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment variable %s=%q: %w", name, v, e)
			}
		case fromFile:
			err = setFromFile(fs, f.Name, name+"_FILE", path)
		}
	})
	return err
}

// setFromFile sets flag name of fs to the content of the file at path,
// which environment variable env named. The value is not in the error: it
// is likely a secret.
func setFromFile(fs *flag.FlagSet, name, env, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("environment variable %s: %w", env, err)
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if v == "" {
		return fmt.Errorf("environment variable %s: file %s is empty", env, path)
	}
	if err := fs.Set(name, v); err != nil {
		return fmt.Errorf("environment variable %s: the content of %s: %w", env, path, err)
	}
	return nil
}

// EnvName returns the environment variable for flag name under prefix.
func EnvName(prefix, name string) string {
	n := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if prefix == "" {
		return n
	}
	return prefix + "_" + n
}
