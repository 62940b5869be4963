package secrets_test

import (
	"context"
	"encoding/base64"
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
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
	"github.com/cpwarden/cpwarden/internal/secrets"
)

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

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
	good := secrets.EtcdSecret{Cert: string(client.CertPEM), Key: string(client.KeyPEM), CA: string(ca.CertPEM)}
	with := func(f func(*secrets.EtcdSecret)) string { s := good; f(&s); return asJSON(t, s) }

	cases := []struct {
		name, value, want string
	}{
		{"not JSON", "cert: x", "the secret is not a JSON object with cert, key and ca"},
		{"missing fields", `{"cert":"x"}`, "the secret has no key, ca"},
		{"key of another certificate", with(func(s *secrets.EtcdSecret) { s.Key = string(otherClient.KeyPEM) }), "the secret's cert and key are not a PEM certificate and its key"},
		{"ca not PEM", with(func(s *secrets.EtcdSecret) { s.CA = "LS0tLS1CRUdJTg==" }), "the secret's ca holds no PEM certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := secrets.ParseEtcdTLS([]byte(c.value))
			if faults.Name(err) != faults.InputInvalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (%s), want Input.Invalid saying %q", err, faults.Name(err), c.want)
			}
		})
	}
	cfg, err := secrets.ParseEtcdTLS([]byte(asJSON(t, good)))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Certificates) != 1 || cfg.RootCAs == nil || !cfg.RootCAs.Equal(ca.Pool()) {
		t.Fatalf("config = %+v", cfg)
	}
}

type fakeSecrets struct{ err error }

func (f *fakeSecrets) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return nil, f.err
}

// TestSecretReadErrorsAreClassified: both secrets' read errors are named
// the same way.
func TestSecretReadErrorsAreClassified(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"missing secret", &smtypes.ResourceNotFoundException{Message: aws.String("no such secret")}, faults.InputInvalid},
		{"throttled", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}, faults.AWSThrottled},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}, faults.AWSAccessDenied},
		{"anything else", errors.New("boom"), faults.Internal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sm := &fakeSecrets{err: c.err}
			if _, err := secrets.LoadEtcdTLS(t.Context(), sm, "arn"); faults.Name(err) != c.want {
				t.Fatalf("etcd: %v classified %s, want %s", err, faults.Name(err), c.want)
			}
			if _, err := secrets.LoadKube(t.Context(), sm, "arn"); faults.Name(err) != c.want {
				t.Fatalf("kube: %v classified %s, want %s", err, faults.Name(err), c.want)
			}
		})
	}
	if _, err := secrets.LoadKube(t.Context(), &fakeSecrets{}, " "); !faults.Is(err, faults.InputInvalid) {
		t.Fatalf("no secret id: %v, want Input.Invalid", err)
	}
}

func testCA(t *testing.T) []byte {
	t.Helper()
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca.CertPEM
}

func TestLoadKubeReadsTheSecretFromSecretsManager(t *testing.T) {
	srv := sandboxtest.Moto(t)
	sm := srv.SecretsManager()
	ca := testCA(t)
	for name, caField := range map[string]string{
		"pem":    string(ca),
		"base64": base64.StdEncoding.EncodeToString(ca),
	} {
		t.Run(name, func(t *testing.T) {
			id := "cpwarden/kube-" + name
			_, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
				Name:         aws.String(id),
				SecretString: aws.String(asJSON(t, secrets.KubeSecret{Endpoint: "https://127.0.0.1:6443", CA: caField, Token: "tok-" + name})),
			})
			if err != nil {
				t.Fatalf("CreateSecret: %v", err)
			}
			cfg, err := secrets.LoadKube(t.Context(), sm, id)
			if err != nil {
				t.Fatalf("LoadKube: %v", err)
			}
			if cfg.Host != "https://127.0.0.1:6443" || cfg.BearerToken != "tok-"+name || strings.TrimSpace(string(cfg.CAData)) != strings.TrimSpace(string(ca)) {
				t.Fatalf("config = host %q token %q ca %d bytes", cfg.Host, cfg.BearerToken, len(cfg.CAData))
			}
			if cfg.QPS != secrets.KubeQPS || cfg.Burst != secrets.KubeBurst || cfg.Timeout != secrets.KubeRequestTimeout {
				t.Fatalf("client limits not set: QPS %v burst %v timeout %v", cfg.QPS, cfg.Burst, cfg.Timeout)
			}
		})
	}
	t.Run("missing secret is Input.Invalid", func(t *testing.T) {
		_, err := secrets.LoadKube(t.Context(), sm, "cpwarden/absent")
		if !faults.Is(err, faults.InputInvalid) {
			t.Fatalf("error %v (%s), want Input.Invalid", err, faults.Name(err))
		}
	})
}

func TestParseKubeRejectsMalformedSecrets(t *testing.T) {
	ca := string(testCA(t))
	tests := map[string]string{
		"not json":        "endpoint=https://x",
		"http endpoint":   asJSON(t, secrets.KubeSecret{Endpoint: "http://127.0.0.1:6443", CA: ca, Token: "t"}),
		"no endpoint":     asJSON(t, secrets.KubeSecret{CA: ca, Token: "t"}),
		"no token":        asJSON(t, secrets.KubeSecret{Endpoint: "https://127.0.0.1:6443", CA: ca}),
		"no ca":           asJSON(t, secrets.KubeSecret{Endpoint: "https://127.0.0.1:6443", Token: "t"}),
		"ca not PEM":      asJSON(t, secrets.KubeSecret{Endpoint: "https://127.0.0.1:6443", CA: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----", Token: "t"}),
		"ca not base64":   asJSON(t, secrets.KubeSecret{Endpoint: "https://127.0.0.1:6443", CA: "%%%", Token: "t"}),
		"empty document":  "",
		"json not object": `["https://127.0.0.1:6443"]`,
	}
	for name, value := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := secrets.ParseKube([]byte(value))
			if !faults.Is(err, faults.InputInvalid) {
				t.Fatalf("ParseKube error = %v (%s), want Input.Invalid", err, faults.Name(err))
			}
		})
	}
}

// TestFormatsAreTheContract: the field names are what deployed secrets
// hold.
func TestFormatsAreTheContract(t *testing.T) {
	if got, want := asJSON(t, secrets.EtcdSecret{Cert: "c", Key: "k", CA: "a"}), `{"cert":"c","key":"k","ca":"a"}`; got != want {
		t.Fatalf("etcd secret = %s, want %s", got, want)
	}
	if got, want := asJSON(t, secrets.KubeSecret{Endpoint: "e", CA: "a", Token: "t"}), `{"endpoint":"e","ca":"a","token":"t"}`; got != want {
		t.Fatalf("kube secret = %s, want %s", got, want)
	}
}
