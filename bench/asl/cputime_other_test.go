//go:build !linux

package aslbench

import "time"

// processCPU is not measured off Linux; the benchmark then reports wall-clock figures only.
func processCPU() time.Duration { return 0 }
