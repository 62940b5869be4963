package function

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/sandbox/pki"
)

func TestParseEtcdTLS(t *testing.T) {
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue(pki.Client, "cpwarden")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := pki.NewCA()
	otherClient, _ := other.Issue(pki.Client, "someone")
	good := EtcdSecret{Cert: string(client.CertPEM), Key: string(client.KeyPEM), CA: string(ca.CertPEM)}
	js := func(s EtcdSecret) string { b, _ := json.Marshal(s); return string(b) }
	with := func(f func(*EtcdSecret)) string { s := good; f(&s); return js(s) }

	cases := []struct {
		name, value, want string
	}{
		{"not JSON", "cert: x", "the secret is not a JSON object with cert, key and ca"},
		{"missing fields", `{"cert":"x"}`, "the secret has no key, ca"},
		{"key of another certificate", with(func(s *EtcdSecret) { s.Key = string(otherClient.KeyPEM) }), "the secret's cert and key are not a PEM certificate and its key"},
		{"ca not PEM", with(func(s *EtcdSecret) { s.CA = "LS0tLS1CRUdJTg==" }), "the secret's ca holds no PEM certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseEtcdTLS([]byte(c.value))
			if faults.Name(err) != faults.InputInvalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (%s), want Input.Invalid saying %q", err, faults.Name(err), c.want)
			}
		})
	}
	cfg, err := parseEtcdTLS([]byte(js(good)))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Certificates) != 1 || cfg.RootCAs == nil || !cfg.RootCAs.Equal(ca.Pool()) {
		t.Fatalf("config = %+v", cfg)
	}
}

type fakeSecrets struct {
	err   error
	value string
	calls int
}

func (f *fakeSecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(f.value)}, nil
}

func TestSecretReadErrorsAreClassified(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"missing secret", &smtypes.ResourceNotFoundException{Message: aws.String("no such secret")}, faults.InputInvalid},
		{"throttled", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}, faults.AWSThrottled},
		{"anything else", errors.New("boom"), faults.Internal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadEtcdTLS(t.Context(), &fakeSecrets{err: c.err}, "arn")
			if faults.Name(err) != c.want {
				t.Fatalf("%v classified %s, want %s", err, faults.Name(err), c.want)
			}
		})
	}
}

// TestLazyRetriesAFailedBuildAndKeepsASuccess: a throttled secret read at
// the first invocation must not poison the container.
func TestLazyRetriesAFailedBuildAndKeepsASuccess(t *testing.T) {
	builds := 0
	fail := true
	l := newLazy(func(context.Context) (int, error) {
		builds++
		if fail {
			return 0, faults.New(faults.AWSThrottled, "throttled")
		}
		return 42, nil
	})
	if _, err := l.get(t.Context()); faults.Name(err) != faults.AWSThrottled {
		t.Fatalf("first get: %v", err)
	}
	fail = false
	for range 3 {
		if v, err := l.get(t.Context()); err != nil || v != 42 {
			t.Fatalf("get = %d, %v", v, err)
		}
	}
	if builds != 2 {
		t.Fatalf("%d builds, want 2 (one failed, one kept)", builds)
	}
}
