package lifecycle

import (
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// notActivePrefix starts the message of the ValidationError Auto Scaling
// returns when the action was already completed or timed out ("No active
// Lifecycle Action found with token …" / "… with instance ID …").
const notActivePrefix = "no active lifecycle action found"

// classify turns an Auto Scaling API error into the ASL error name the
// workflow's Retry and Catch rules match. It is the one place SDK errors are
// interpreted; op says which call failed.
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
	var contention *astypes.ResourceContentionFault
	if errors.As(err, &contention) ||
		retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary ||
		retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary {
		// The SDK has already retried these with back-off; what is left is
		// still transient, so let the workflow retry it later. AWS.Throttled
		// is our one retried AWS error name.
		return faults.Wrap(faults.AWSThrottled, err, op)
	}
	return faults.Wrap(faults.Internal, err, op)
}
