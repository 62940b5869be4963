//go:build linux

package aslbench

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process has used, all threads included (Node's process.cpuUsage, which
// bench.mjs reports, counts the same way).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
