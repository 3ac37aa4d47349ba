//go:build !linux

package servers

import (
	"errors"
	"syscall"
)

// sysProcAttr puts a server in its own process group and runs it as cred
// when cred is not nil. Without Pdeathsig, a server outlives a parent that
// dies without stopping it.
func sysProcAttr(_ syscall.Signal, cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}

// processIsNamed reports whether pid is a live process. The name is not
// checked: there is no portable way to read it.
func processIsNamed(pid int, _ string) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// groupAlive reports whether any process in group pgid still exists.
func groupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
