//go:build !linux

package emfbench

import "time"

func threadCPU() time.Duration { return 0 }
