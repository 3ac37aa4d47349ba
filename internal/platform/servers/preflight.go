package servers

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Debian packages that provide the server binaries.
const (
	redisPackage    = "redis-server"
	postgresPackage = "postgresql"
)

// pgLibDir is where Debian installs one directory per PostgreSQL major version.
const pgLibDir = "/usr/lib/postgresql"

// MissingError reports server binaries that are not installed. Its message
// is the apt-get command that installs them.
type MissingError struct {
	// Packages are the Debian packages to install, such as "redis-server".
	Packages []string
}

// Error implements error.
func (e *MissingError) Error() string {
	return fmt.Sprintf("missing %s; install with: %s", strings.Join(e.Packages, ", "), InstallCommand(e.Packages...))
}

// InstallCommand returns the command that installs the Debian packages pkgs,
// for example "apt-get install -y redis-server postgresql".
func InstallCommand(pkgs ...string) string {
	return "apt-get install -y " + strings.Join(pkgs, " ")
}

// MissingPackages returns the Debian packages whose binaries StartRedis and
// StartPostgres cannot find, in install order; it is empty when both can run.
// PostgreSQL also counts as missing when running as root without the
// "postgres" system user that the package creates.
func MissingPackages() []string {
	var pkgs []string
	if _, err := redisBinary(); err != nil {
		pkgs = append(pkgs, redisPackage)
	}
	if _, err := postgresBinDir(); err != nil {
		pkgs = append(pkgs, postgresPackage)
	} else if _, err := postgresCredential(); err != nil {
		pkgs = append(pkgs, postgresPackage)
	}
	return pkgs
}

// Preflight returns a *MissingError if any server binary is missing, and nil
// if both servers can be started.
func Preflight() error {
	if pkgs := MissingPackages(); len(pkgs) > 0 {
		return &MissingError{Packages: pkgs}
	}
	return nil
}

// redisBinary returns the path of redis-server: $REDIS_SERVER_BIN if set,
// else redis-server on PATH.
func redisBinary() (string, error) {
	if bin := os.Getenv("REDIS_SERVER_BIN"); bin != "" {
		if _, err := exec.LookPath(bin); err != nil {
			return "", fmt.Errorf("REDIS_SERVER_BIN: %w", err)
		}
		return bin, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", &MissingError{Packages: []string{redisPackage}}
	}
	return bin, nil
}

// postgresBinDir returns the directory holding initdb and postgres:
// $POSTGRES_BIN_DIR if set, else the directory of initdb on PATH (symlinks
// resolved), else the newest /usr/lib/postgresql/*/bin.
func postgresBinDir() (string, error) {
	if dir := os.Getenv("POSTGRES_BIN_DIR"); dir != "" {
		if !hasPostgresBinaries(dir) {
			return "", fmt.Errorf("POSTGRES_BIN_DIR=%s has no initdb and postgres", dir)
		}
		return dir, nil
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(initdb); err == nil {
			initdb = real
		}
		if dir := filepath.Dir(initdb); hasPostgresBinaries(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(pgLibDir, "*", "bin"))
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, dir := range dirs {
		if hasPostgresBinaries(dir) {
			return dir, nil
		}
	}
	return "", &MissingError{Packages: []string{postgresPackage}}
}

// pgVersion returns the version in a path like /usr/lib/postgresql/15/bin,
// or 0 if there is none.
func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func hasPostgresBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// postgresSystemUser is the account PostgreSQL runs as when this process is
// root; the Debian postgresql package creates it.
const postgresSystemUser = "postgres"

// pgUser is the system account PostgreSQL runs as when this process is root.
type pgUser struct {
	name     string
	uid, gid uint32
}

// postgresCredential returns the account to run PostgreSQL as, or nil if
// this process is not root and runs PostgreSQL as itself.
func postgresCredential() (*pgUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(postgresSystemUser)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and there is no %q user to run it as: %w", postgresSystemUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user %s: %w", postgresSystemUser, err)
	}
	return &pgUser{name: u.Username, uid: uint32(uid), gid: uint32(gid)}, nil
}
