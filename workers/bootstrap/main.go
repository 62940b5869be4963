// Command bootstrap is cpwarden's Lambda binary for the provided.al2023
// runtime: one binary for every function of the stack, the function's
// Handler setting (_HANDLER) picking the worker.
//
// At init it reads and checks the environment the template sets on the
// function (internal/envnames), builds the AWS clients once for the
// container, wraps the worker in the EMF step middleware and hands it to
// lambda.Start. A configuration error fails the init, before lambda.Start,
// with a message naming the variable: on stderr (CloudWatch Logs), to the
// Runtime API as the init error (the invoker's error), and as a non-zero
// exit status.
//
// Build it with `make package` (dist/bootstrap.zip, linux/arm64) or, for
// local runs under the Runtime Interface Emulator, internal/sandbox/rie.Build.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	fn, err := setup(ctx, process{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cpwarden bootstrap: init failed:\n%v\n", err)
		reportInitError(os.Getenv("AWS_LAMBDA_RUNTIME_API"), err)
		os.Exit(1)
	}
	// Libraries that log through slog's default (client-go's adapters, the
	// workers when given no logger) log like the rest.
	slog.SetDefault(fn.Log)
	lambda.Start(fn.Handler)
}

// initTimeout bounds the init: Lambda gives an init 10 s.
const initTimeout = 9 * time.Second
