package moto_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cpwarden/cpwarden/internal/sandbox/moto"
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
)

func TestServerServesSSMAndResets(t *testing.T) {
	s := sandboxtest.Moto(t)
	ctx := t.Context()
	api := s.SSM()
	if _, err := api.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/c1/health/failure-count"), Value: aws.String("3"), Type: ssmtypes.ParameterTypeString,
	}); err != nil {
		t.Fatalf("PutParameter: %v", err)
	}
	got, err := api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/c1/health/failure-count")})
	if err != nil {
		t.Fatalf("GetParameter: %v", err)
	}
	if v := aws.ToString(got.Parameter.Value); v != "3" {
		t.Fatalf("parameter = %q, want 3", v)
	}
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = api.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/c1/health/failure-count")})
	var nf *ssmtypes.ParameterNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("after reset GetParameter error = %v, want ParameterNotFound", err)
	}
}

func TestStopIsIdempotentAndFreesThePort(t *testing.T) {
	s := sandboxtest.Moto(t)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Exited():
	default:
		t.Fatal("process still running after Stop")
	}
	l, err := net.Listen("tcp", strings.TrimPrefix(s.Endpoint, "http://"))
	if err != nil {
		t.Fatalf("port still taken after Stop: %v", err)
	}
	l.Close()
}

func TestStartRefusesNonLoopbackHosts(t *testing.T) {
	for _, host := range []string{"0.0.0.0", "10.0.0.1", "example.com"} {
		if _, err := moto.Start(t.Context(), moto.Options{Binary: "/bin/true", Host: host}); err == nil {
			t.Errorf("Start(host=%q) succeeded, want a refusal", host)
		}
	}
}

func TestStartReportsAServerThatExitsEarly(t *testing.T) {
	_, err := moto.Start(t.Context(), moto.Options{Binary: "/bin/false"})
	if err == nil {
		t.Fatal("Start with a binary that exits succeeded")
	}
}
