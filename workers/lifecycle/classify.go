package lifecycle

import (
	"errors"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/cpwarden/cpwarden/internal/awsfault"
	"github.com/cpwarden/cpwarden/internal/faults"
)

// notActivePrefix starts the message of the ValidationError Auto Scaling
// returns when the action was already completed or timed out ("No active
// Lifecycle Action found with token …" / "… with instance ID …").
const notActivePrefix = "no active lifecycle action found"

// classify turns an Auto Scaling API error into the ASL error name the
// workflow's Retry and Catch rules match: Auto Scaling's ValidationError is
// read here, everything else as awsfault classifies it (ResourceContention
// and throttling are AWS.Throttled). op says which call failed.
func classify(err error, op string) error {
	if err == nil {
		return nil
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationError" {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(apiErr.ErrorMessage())), notActivePrefix) {
			return faults.Wrap(faults.LifecycleNotActive, err, op)
		}
		// Any other validation failure is about our input (unknown hook,
		// group or token): retrying cannot fix it.
		return faults.Wrap(faults.InputInvalid, err, op)
	}
	return awsfault.Wrap(err, op)
}
