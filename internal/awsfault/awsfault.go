// Package awsfault classifies an AWS SDK error once, for every worker, and
// names it as the workflows' Retry and Catch rules match (internal/faults).
//
// The kinds and their ASL names:
//
//   - Throttled and Transient (what the SDK's retryer calls retryable, a
//     context deadline, a connection lost mid-call, Auto Scaling's
//     ResourceContention): AWS.Throttled.
//     The SDK has already retried them with back-off; what is left may still
//     pass later, so the workflow retries it.
//   - AccessDenied: AWS.AccessDenied. An IAM refusal is configuration that
//     no retry fixes, and the operator must know it is the function's role
//     to fix, not the event, the cluster or our code.
//   - NotFound: the caller's to name (Names.NotFound). Only the caller knows
//     whether "not found" is bad configuration (Input.Invalid: a bucket or
//     a group that does not exist) or "already gone" (success: an instance
//     that terminated); it should test IsNotFound before wrapping.
//   - Other: Worker.Internal, unless the caller names it (Names.Other).
package awsfault

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// Kind is what an AWS error means to a worker.
type Kind int

// The kinds, most specific first.
const (
	Other Kind = iota
	Throttled
	Transient
	AccessDenied
	NotFound
)

func (k Kind) String() string {
	switch k {
	case Throttled:
		return "throttled"
	case Transient:
		return "transient"
	case AccessDenied:
		return "access denied"
	case NotFound:
		return "not found"
	}
	return "other"
}

var (
	throttles  = retry.IsErrorThrottles(retry.DefaultThrottles)
	retryables = retry.IsErrorRetryables(retry.DefaultRetryables)
)

// accessDeniedCodes are the error codes with which AWS APIs refuse a
// caller's credentials or permissions.
var accessDeniedCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
	"AuthFailure": true, "Forbidden": true, "UnrecognizedClientException": true,
	"InvalidClientTokenId": true, "ExpiredToken": true, "ExpiredTokenException": true,
	"InvalidAccessKeyId": true, "SignatureDoesNotMatch": true, "AllAccessDisabled": true,
}

// Code is the API error code of err ("" when it carries none).
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// Classify says what kind of AWS error err is. Classify of nil is Other.
func Classify(err error) Kind {
	if err == nil {
		return Other
	}
	code := Code(err)
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	case throttles.IsErrorThrottle(err) == aws.TrueTernary:
		return Throttled
	case accessDeniedCodes[code], code == "" && status == http.StatusForbidden:
		return AccessDenied
	case isNotFoundCode(code), code == "" && status == http.StatusNotFound:
		return NotFound
	case errors.Is(err, context.DeadlineExceeded), code == "ResourceContention":
		return Transient
	}
	switch retryables.IsErrorRetryable(err) {
	case aws.TrueTernary:
		return Transient
	case aws.UnknownTernary:
		// A connection lost mid-request or mid-response (a network error,
		// or a body cut short) that the retryer has no opinion on: the next
		// attempt may well get through.
		var netErr net.Error
		if errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Transient
		}
	}
	return Other
}

// isNotFoundCode: S3's NoSuch* and NotFound (HeadObject's 404), the
// *NotFound and *NotFoundException of the other APIs (Secrets Manager's
// ResourceNotFoundException, SSM's ParameterNotFound, EC2's
// InvalidInstanceID.NotFound), and EC2's InvalidInstanceID.Malformed: an
// ID EC2 cannot parse names no instance either.
func isNotFoundCode(code string) bool {
	return strings.HasPrefix(code, "NoSuch") || strings.HasSuffix(code, "NotFound") ||
		strings.HasSuffix(code, "NotFoundException") || code == "InvalidInstanceID.Malformed"
}

// IsNotFound reports whether err says that what was asked for does not
// exist.
func IsNotFound(err error) bool { return Classify(err) == NotFound }

// Names are the ASL names of the kinds a caller decides. An empty Other
// means faults.Internal; an empty NotFound means Other's name.
type Names struct {
	NotFound string
	Other    string
}

// Wrap classifies err under the default names (not found and other are
// Worker.Internal), with op as context. Wrap of nil is nil; an error that is
// already classified keeps its name.
func Wrap(err error, op string) error { return Names{}.Wrap(err, op) }

// Wrap classifies err, naming NotFound and Other as n says.
func (n Names) Wrap(err error, op string) error {
	if err == nil {
		return nil
	}
	var fe *faults.Error
	if errors.As(err, &fe) {
		return err
	}
	return faults.Wrap(n.Name(Classify(err)), err, op)
}

// Name is the ASL name of kind k.
func (n Names) Name(k Kind) string {
	switch k {
	case Throttled, Transient:
		return faults.AWSThrottled
	case AccessDenied:
		return faults.AWSAccessDenied
	case NotFound:
		if n.NotFound != "" {
			return n.NotFound
		}
	}
	if n.Other != "" {
		return n.Other
	}
	return faults.Internal
}
