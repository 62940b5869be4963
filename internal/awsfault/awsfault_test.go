package awsfault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cpwarden/cpwarden/internal/faults"
)

func httpErr(status int, err error) error {
	return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}
}

func api(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"EC2 throttling", api("RequestLimitExceeded"), Throttled},
		{"S3 slow down", httpErr(503, api("SlowDown")), Throttled},
		{"Auto Scaling throttling", api("Throttling"), Throttled},
		{"access denied", httpErr(403, api("AccessDenied")), AccessDenied},
		{"EC2 unauthorized", api("UnauthorizedOperation"), AccessDenied},
		{"S3 HeadObject 403 without a code", httpErr(403, errors.New("forbidden")), AccessDenied},
		{"missing secret", &smtypes.ResourceNotFoundException{Message: aws.String("no such secret")}, NotFound},
		{"missing bucket", &s3types.NoSuchBucket{}, NotFound},
		{"HeadObject 404", httpErr(404, &s3types.NotFound{}), NotFound},
		{"unknown instance", api("InvalidInstanceID.NotFound"), NotFound},
		{"malformed instance", api("InvalidInstanceID.Malformed"), NotFound},
		{"server error", httpErr(500, api("InternalError")), Transient},
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, Transient},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), Transient},
		{"body cut short", fmt.Errorf("read response: %w", io.ErrUnexpectedEOF), Transient},
		{"connection reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, Transient},
		{"unknown host", &net.DNSError{Err: "no such host", Name: "s3.invalid", IsNotFound: true}, Other},
		{"cancelled", fmt.Errorf("call: %w", context.Canceled), Other},
		{"resource contention", &astypes.ResourceContentionFault{}, Transient},
		{"validation", httpErr(400, api("ValidationError")), Other},
		{"plain error", errors.New("boom"), Other},
		{"nil", nil, Other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err); got != tt.want {
				t.Fatalf("Classify(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

func TestWrapNames(t *testing.T) {
	own := Names{NotFound: faults.InputInvalid, Other: faults.EtcdUnavailable}
	tests := []struct {
		name  string
		names Names
		err   error
		want  string
	}{
		{"throttled", Names{}, api("Throttling"), faults.AWSThrottled},
		{"transient", Names{}, httpErr(502, errors.New("bad gateway")), faults.AWSThrottled},
		{"access denied", own, api("AccessDeniedException"), faults.AWSAccessDenied},
		{"not found, default", Names{}, api("NoSuchKey"), faults.Internal},
		{"not found, named", own, api("NoSuchKey"), faults.InputInvalid},
		{"not found falls back to other", Names{Other: faults.EtcdUnavailable}, api("NoSuchKey"), faults.EtcdUnavailable},
		{"other, default", Names{}, errors.New("boom"), faults.Internal},
		{"other, named", own, errors.New("boom"), faults.EtcdUnavailable},
		{"already classified", Names{}, faults.New(faults.BackupCorrupt, "bad"), faults.BackupCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := faults.Name(tt.names.Wrap(tt.err, "op")); got != tt.want {
				t.Fatalf("name = %q, want %q", got, tt.want)
			}
		})
	}
	if Wrap(nil, "op") != nil {
		t.Fatal("Wrap(nil) is not nil")
	}
}
