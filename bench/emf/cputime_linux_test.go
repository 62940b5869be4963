//go:build linux

package emfbench

import (
	"syscall"
	"time"
	"unsafe"
)

// clockThreadCPUTime is CLOCK_THREAD_CPUTIME_ID, which the syscall package does not name.
const clockThreadCPUTime = 3

// threadCPU returns the CPU time the calling OS thread has used, to the nanosecond. Benchmarks lock their goroutine to
// its thread and report CPU time per operation beside wall time: on a machine shared with other work (CI, or several
// builds on two cores) wall time includes the time the thread waited for a core, CPU time does not.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
