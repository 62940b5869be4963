// Command bootstrap is cpwarden's Lambda binary for the provided.al2023
// runtime: one binary for every function of the stack, the function's
// Handler setting (_HANDLER) picking the worker. Everything it does is in
// internal/function, which the local runners use too; this is the process.
//
// A configuration error fails the init, before lambda.Start, with a message
// naming the variable: on stderr (CloudWatch Logs), to the Runtime API as
// the init error (the invoker's error), and as a non-zero exit status.
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

	"github.com/cpwarden/cpwarden/internal/function"
)

// initTimeout bounds the init: Lambda gives an init 10 s.
const initTimeout = 9 * time.Second

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), initTimeout)
	fn, err := function.Setup(ctx, function.Process{LookupEnv: os.LookupEnv, Stdout: os.Stdout, Stderr: os.Stderr})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cpwarden bootstrap: init failed:\n%v\n", err)
		function.ReportInitError(os.Getenv("AWS_LAMBDA_RUNTIME_API"), err)
		os.Exit(1)
	}
	// Libraries that log through slog's default (client-go's adapters)
	// log like the rest.
	slog.SetDefault(fn.Log)
	lambda.Start(fn.Handler)
}
