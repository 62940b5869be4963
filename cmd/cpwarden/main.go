// Command cpwarden is the operator's tool for the cpwarden control-plane
// guardian: it generates and runs the workflows locally and drives the demo.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "cpwarden:", err)
		os.Exit(1)
	}
}
