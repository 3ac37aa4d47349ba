package testenv

import (
	"syscall"
	"time"
)

// SelfCPU is the CPU time, user and system, that this process has spent
// so far: benchmarks that report what an operation costs rather than how
// long it takes read it before and after.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
