package function

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/workers/drain/kubecreds"
)

// EtcdSecret is the JSON value of the etcd TLS secret (envnames
// ETCD_TLS_SECRET_ARN): the client certificate, its key and the CA that
// signed the members' certificates, all PEM.
type EtcdSecret struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
	CA   string `json:"ca"`
}

// loadEtcdTLS reads the etcd TLS secret and returns a client TLS
// configuration. Errors are classified as kubecreds classifies the
// Kubernetes secret's: missing or malformed is Input.Invalid (retrying
// cannot fix configuration), a throttled Secrets Manager AWS.Throttled.
func loadEtcdTLS(ctx context.Context, sm kubecreds.SecretsManager, id string) (*tls.Config, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, classifySecretsError(err, "read secret "+id)
	}
	value := []byte(aws.ToString(out.SecretString))
	if out.SecretString == nil {
		value = out.SecretBinary
	}
	return parseEtcdTLS(value)
}

func parseEtcdTLS(value []byte) (*tls.Config, error) {
	var s EtcdSecret
	if err := json.Unmarshal(value, &s); err != nil {
		return nil, faults.New(faults.InputInvalid, "the secret is not a JSON object with cert, key and ca: %v", err)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"cert", s.Cert}, {"key", s.Key}, {"ca", s.CA}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, faults.New(faults.InputInvalid, "the secret has no %s", strings.Join(missing, ", "))
	}
	pair, err := tls.X509KeyPair([]byte(s.Cert), []byte(s.Key))
	if err != nil {
		return nil, faults.New(faults.InputInvalid, "the secret's cert and key are not a PEM certificate and its key: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(s.CA)) {
		return nil, faults.New(faults.InputInvalid, "the secret's ca holds no PEM certificate")
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

func classifySecretsError(err error, what string) error {
	var nf *smtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return faults.Wrap(faults.InputInvalid, err, what)
	case retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary,
		retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary:
		return faults.Wrap(faults.AWSThrottled, err, what)
	}
	return faults.Wrap(faults.Internal, err, what)
}

// lazy builds a value on first use and keeps it for the container's life.
// A failed build is not kept: the next invocation tries again, so a
// throttled Secrets Manager at a cold start costs one invocation (retried by
// the workflow as AWS.Throttled), not the container.
//
// Secrets are read at the first invocation rather than at init for that
// reason: an init failure is not retried by the workflows, and its error
// would not carry an ASL name.
type lazy[T any] struct {
	build func(context.Context) (T, error)

	mu   sync.Mutex
	done bool
	v    T
}

func newLazy[T any](build func(context.Context) (T, error)) *lazy[T] {
	return &lazy[T]{build: build}
}

func (l *lazy[T]) get(ctx context.Context) (T, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return l.v, nil
	}
	v, err := l.build(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	l.v, l.done = v, true
	return v, nil
}

// secretError names the variable whose secret failed, keeping the error's
// ASL name.
func secretError(v string, err error) error {
	return fmt.Errorf("%s: %w", v, err)
}
