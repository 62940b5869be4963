// Package kubecreds loads the Kubernetes API credentials the workers use from
// a Secrets Manager secret: the API server's endpoint, the CA that signed its
// certificate, and a ServiceAccount token. The Lambda runs outside the
// cluster, so it has neither in-cluster credentials nor a kubeconfig.
//
// The secret's value is a JSON object:
//
//	{"endpoint": "https://10.0.0.10:6443", "ca": "-----BEGIN CERTIFICATE-----…", "token": "eyJ…"}
//
// "ca" is PEM, or PEM encoded once more in base64 as in a kubeconfig's
// certificate-authority-data.
package kubecreds

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"k8s.io/client-go/rest"

	"github.com/cpwarden/cpwarden/internal/faults"
)

// SecretsManager is the part of the Secrets Manager API the loader uses; the
// SDK's *secretsmanager.Client satisfies it.
type SecretsManager interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Secret is the secret's JSON value.
type Secret struct {
	Endpoint string `json:"endpoint"`
	CA       string `json:"ca"`
	Token    string `json:"token"`
}

// Client limits of the workers' Kubernetes clients. client-go's defaults (5
// requests/s) would make a drain of a hundred pods wait on the client, not
// on the cluster.
const (
	QPS   = 50
	Burst = 100
	// RequestTimeout bounds one request whose context has no earlier
	// deadline, so a connection that hangs cannot hold a Lambda.
	RequestTimeout = 30 * time.Second
)

// Load reads secret secretID and returns a client configuration. A secret
// that is missing or malformed is Input.Invalid (a configuration error that
// retrying cannot fix); a throttled or failing Secrets Manager is
// AWS.Throttled.
func Load(ctx context.Context, sm SecretsManager, secretID string) (*rest.Config, error) {
	if strings.TrimSpace(secretID) == "" {
		return nil, faults.New(faults.InputInvalid, "kubecreds: no secret id configured")
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
	if err != nil {
		var nf *smtypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil, faults.Wrap(faults.InputInvalid, err, "kubecreds: read secret "+secretID)
		}
		if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary ||
			retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary {
			return nil, faults.Wrap(faults.AWSThrottled, err, "kubecreds: read secret "+secretID)
		}
		return nil, faults.Wrap(faults.Internal, err, "kubecreds: read secret "+secretID)
	}
	value := []byte(aws.ToString(out.SecretString))
	if out.SecretString == nil {
		value = out.SecretBinary
	}
	cfg, err := Parse(value)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", secretID, err)
	}
	return cfg, nil
}

// Parse turns a secret value into a client configuration.
func Parse(value []byte) (*rest.Config, error) {
	var s Secret
	dec := json.NewDecoder(strings.NewReader(string(value)))
	if err := dec.Decode(&s); err != nil {
		return nil, faults.New(faults.InputInvalid, "kubecreds: secret is not a JSON object with endpoint, ca and token: %v", err)
	}
	u, err := url.Parse(s.Endpoint)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "":
		return nil, faults.New(faults.InputInvalid, "kubecreds: endpoint %q is not an https URL", s.Endpoint)
	case strings.TrimSpace(s.Token) == "":
		return nil, faults.New(faults.InputInvalid, "kubecreds: token is empty")
	}
	ca, err := caPEM(s.CA)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host:            s.Endpoint,
		BearerToken:     strings.TrimSpace(s.Token),
		TLSClientConfig: rest.TLSClientConfig{CAData: ca},
		QPS:             QPS,
		Burst:           Burst,
		Timeout:         RequestTimeout,
		UserAgent:       "cpwarden",
	}, nil
}

// caPEM returns the CA as PEM, accepting PEM or base64-encoded PEM, and
// refuses anything without a parsable certificate: a wrong CA would
// otherwise surface later as an opaque TLS failure.
func caPEM(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, faults.New(faults.InputInvalid, "kubecreds: ca is empty")
	}
	pem := []byte(s)
	if !strings.HasPrefix(s, "-----BEGIN") {
		dec, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, faults.New(faults.InputInvalid, "kubecreds: ca is neither PEM nor base64-encoded PEM")
		}
		pem = dec
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return nil, faults.New(faults.InputInvalid, "kubecreds: ca holds no PEM certificate")
	}
	return pem, nil
}
