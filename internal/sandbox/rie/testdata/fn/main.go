// Command fn is a Lambda function for the rie package's tests: its payload
// says what to do, so one binary covers results, errors, panics, timeouts,
// output and environment checks. FAIL_INIT makes its init fail.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
)

type request struct {
	Echo    any                            `json:"echo,omitempty"`
	Error   *messages.InvokeResponse_Error `json:"error,omitempty"`
	Plain   string                         `json:"plain,omitempty"`
	Panic   string                         `json:"panic,omitempty"`
	SleepMs int                            `json:"sleepMs,omitempty"`
	Print   []string                       `json:"print,omitempty"`
	Env     []string                       `json:"env,omitempty"`
}

func main() {
	switch os.Getenv("FAIL_INIT") {
	case "":
	case "report":
		// As a runtime should: tell the Runtime API why init failed.
		fmt.Fprintln(os.Stderr, "fn: CLUSTER_NAME: required")
		api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
		req, _ := http.NewRequest(http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error",
			strings.NewReader(`{"errorType":"Runtime.InitError","errorMessage":"CLUSTER_NAME: required"}`))
		req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "fn: init failed on purpose")
		os.Exit(2)
	}
	lambda.Start(handle)
}

func handle(_ context.Context, r request) (any, error) {
	for _, l := range r.Print {
		fmt.Println(l)
	}
	if r.SleepMs > 0 {
		// Deaf to ctx on purpose: a function that overruns its timeout is
		// what the emulator's timeout handling is for.
		time.Sleep(time.Duration(r.SleepMs) * time.Millisecond)
	}
	switch {
	case r.Error != nil:
		return nil, *r.Error
	case r.Plain != "":
		return nil, errors.New(r.Plain)
	case r.Panic != "":
		panic(r.Panic)
	case r.Env != nil:
		out := map[string]any{"pid": os.Getpid()}
		for _, k := range r.Env {
			v, ok := os.LookupEnv(k)
			if ok {
				out[k] = v
			} else {
				out[k] = nil
			}
		}
		return out, nil
	}
	return r.Echo, nil
}
