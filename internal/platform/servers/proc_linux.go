package servers

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// sysProcAttr puts a server in its own process group, has the kernel send it
// deathSig if this process dies, and runs it as cred when cred is not nil.
// Pdeathsig is set after the credentials change in the forked child, so it
// survives the switch to another user.
func sysProcAttr(deathSig syscall.Signal, cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig, Credential: cred}
}

// processIsNamed reports whether pid is a live (not zombie) process whose
// command name is name.
func processIsNamed(pid int, name string) bool {
	comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil || strings.TrimSpace(string(comm)) != name {
		return false
	}
	state, _, ok := procStat(strconv.Itoa(pid))
	return ok && state != "Z"
}

// groupAlive reports whether any process in group pgid is still running.
// Zombies do not count: they hold no resources, and in a container nothing
// may ever reap them.
func groupAlive(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	want := strconv.Itoa(pgid)
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		state, pgrp, ok := procStat(e.Name())
		if ok && pgrp == want && state != "Z" {
			return true
		}
	}
	return false
}

// procStat returns the state and process group fields of /proc/pid/stat.
func procStat(pid string) (state, pgrp string, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return "", "", false
	}
	// The command name in field 2 may contain spaces; it ends at the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", "", false
	}
	f := strings.Fields(s[i+1:]) // state ppid pgrp ...
	if len(f) < 3 {
		return "", "", false
	}
	return f[0], f[2], true
}
