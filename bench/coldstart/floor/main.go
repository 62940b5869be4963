// Command floor is the smallest useful aws-lambda-go function: it echoes its
// payload. Built with the bootstrap's flags, its cold start under the Runtime
// Interface Emulator is the floor the bootstrap's is compared with.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil })
}
