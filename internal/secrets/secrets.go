// Package secrets loads the workers' credentials from Secrets Manager: the
// etcd client TLS material (envnames ETCD_TLS_SECRET_ARN) and the
// Kubernetes API credentials (KUBE_SECRET_ARN). The Lambda runs outside the
// cluster, so it has neither in-cluster credentials nor a kubeconfig.
//
// The secrets' JSON formats are a deployed contract (docs/contracts.md):
//
//	etcd: {"cert": "-----BEGIN CERTIFICATE-----…", "key": "-----BEGIN … PRIVATE KEY-----…", "ca": "-----BEGIN CERTIFICATE-----…"}
//	kube: {"endpoint": "https://10.0.0.10:6443", "ca": "-----BEGIN CERTIFICATE-----…", "token": "eyJ…"}
//
// The etcd secret's fields are PEM; the Kubernetes secret's "ca" is PEM, or
// PEM encoded once more in base64 as in a kubeconfig's
// certificate-authority-data.
//
// Errors are classified once: a secret that is missing or malformed is
// Input.Invalid (configuration that retrying cannot fix); a Secrets Manager
// failure as internal/awsfault names it (throttled or transient:
// AWS.Throttled; refused: AWS.AccessDenied).
package secrets

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"k8s.io/client-go/rest"

	"github.com/cpwarden/cpwarden/internal/awsfault"
	"github.com/cpwarden/cpwarden/internal/faults"
)

// SecretsManager is the part of the Secrets Manager API the loader uses; the
// SDK's *secretsmanager.Client satisfies it.
type SecretsManager interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// read returns the value of secret id, string or binary.
func read(ctx context.Context, sm SecretsManager, id string) ([]byte, error) {
	if strings.TrimSpace(id) == "" {
		return nil, faults.New(faults.InputInvalid, "no secret id configured")
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, awsfault.Names{NotFound: faults.InputInvalid}.Wrap(err, "read secret "+id)
	}
	if out.SecretString == nil {
		return out.SecretBinary, nil
	}
	return []byte(aws.ToString(out.SecretString)), nil
}

// EtcdSecret is the JSON value of the etcd TLS secret: the client
// certificate, its key and the CA that signed the members' certificates,
// all PEM.
type EtcdSecret struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
	CA   string `json:"ca"`
}

// LoadEtcdTLS reads the etcd TLS secret id and returns a client TLS
// configuration.
func LoadEtcdTLS(ctx context.Context, sm SecretsManager, id string) (*tls.Config, error) {
	value, err := read(ctx, sm, id)
	if err != nil {
		return nil, err
	}
	return ParseEtcdTLS(value)
}

// ParseEtcdTLS turns the etcd TLS secret's value into a client TLS
// configuration.
func ParseEtcdTLS(value []byte) (*tls.Config, error) {
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

// KubeSecret is the JSON value of the Kubernetes credentials secret.
type KubeSecret struct {
	Endpoint string `json:"endpoint"`
	CA       string `json:"ca"`
	Token    string `json:"token"`
}

// Client limits of the workers' Kubernetes clients. client-go's defaults (5
// requests/s) would make a drain of a hundred pods wait on the client, not
// on the cluster.
const (
	KubeQPS   = 50
	KubeBurst = 100
	// KubeRequestTimeout bounds one request whose context has no earlier
	// deadline, so a connection that hangs cannot hold a Lambda.
	KubeRequestTimeout = 30 * time.Second
)

// LoadKube reads the Kubernetes credentials secret id and returns a client
// configuration.
func LoadKube(ctx context.Context, sm SecretsManager, id string) (*rest.Config, error) {
	value, err := read(ctx, sm, id)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseKube(value)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", id, err)
	}
	return cfg, nil
}

// ParseKube turns the Kubernetes secret's value into a client
// configuration.
func ParseKube(value []byte) (*rest.Config, error) {
	var s KubeSecret
	dec := json.NewDecoder(strings.NewReader(string(value)))
	if err := dec.Decode(&s); err != nil {
		return nil, faults.New(faults.InputInvalid, "the secret is not a JSON object with endpoint, ca and token: %v", err)
	}
	u, err := url.Parse(s.Endpoint)
	switch {
	case err != nil || u.Scheme != "https" || u.Host == "":
		return nil, faults.New(faults.InputInvalid, "the secret's endpoint %q is not an https URL", s.Endpoint)
	case strings.TrimSpace(s.Token) == "":
		return nil, faults.New(faults.InputInvalid, "the secret's token is empty")
	}
	ca, err := caPEM(s.CA)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host:            s.Endpoint,
		BearerToken:     strings.TrimSpace(s.Token),
		TLSClientConfig: rest.TLSClientConfig{CAData: ca},
		QPS:             KubeQPS,
		Burst:           KubeBurst,
		Timeout:         KubeRequestTimeout,
		UserAgent:       "cpwarden",
	}, nil
}

// caPEM returns the CA as PEM, accepting PEM or base64-encoded PEM, and
// refuses anything without a parsable certificate: a wrong CA would
// otherwise surface later as an opaque TLS failure.
func caPEM(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, faults.New(faults.InputInvalid, "the secret's ca is empty")
	}
	pem := []byte(s)
	if !strings.HasPrefix(s, "-----BEGIN") {
		dec, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, faults.New(faults.InputInvalid, "the secret's ca is neither PEM nor base64-encoded PEM")
		}
		pem = dec
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return nil, faults.New(faults.InputInvalid, "the secret's ca holds no PEM certificate")
	}
	return pem, nil
}
