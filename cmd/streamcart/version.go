package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
)

// version returns the version of this build (versionOf), "devel" when
// the binary has no build information.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return versionOf(info)
}

// versionOf returns the module version that the go command stamped
// (v1.2.3, or a pseudo-version naming the commit), else the VCS revision
// with "+dirty" for uncommitted changes, else "devel" (as in go test).
func versionOf(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}

// runVersion prints the version.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("streamcart version", flag.ContinueOnError)
	if err := parseFlags(fs, "STREAMCART", "usage: streamcart version\n\nPrint the version of this build.", args, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "streamcart", version())
	return nil
}
