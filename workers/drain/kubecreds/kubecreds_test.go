package kubecreds_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cpwarden/cpwarden/internal/faults"
	"github.com/cpwarden/cpwarden/internal/sandbox/moto"
	"github.com/cpwarden/cpwarden/internal/sandbox/pki"
	"github.com/cpwarden/cpwarden/workers/drain/kubecreds"
)

func secretJSON(t *testing.T, s kubecreds.Secret) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testCA(t *testing.T) []byte {
	t.Helper()
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca.CertPEM
}

func TestLoadReadsTheSecretFromSecretsManager(t *testing.T) {
	srv := moto.StartT(t)
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
				SecretString: aws.String(secretJSON(t, kubecreds.Secret{Endpoint: "https://127.0.0.1:6443", CA: caField, Token: "tok-" + name})),
			})
			if err != nil {
				t.Fatalf("CreateSecret: %v", err)
			}
			cfg, err := kubecreds.Load(t.Context(), sm, id)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Host != "https://127.0.0.1:6443" || cfg.BearerToken != "tok-"+name || strings.TrimSpace(string(cfg.CAData)) != strings.TrimSpace(string(ca)) {
				t.Fatalf("config = host %q token %q ca %d bytes", cfg.Host, cfg.BearerToken, len(cfg.CAData))
			}
			if cfg.QPS != kubecreds.QPS || cfg.Timeout != kubecreds.RequestTimeout {
				t.Fatalf("client limits not set: QPS %v timeout %v", cfg.QPS, cfg.Timeout)
			}
		})
	}
	t.Run("missing secret is Input.Invalid", func(t *testing.T) {
		_, err := kubecreds.Load(t.Context(), sm, "cpwarden/absent")
		if !faults.Is(err, faults.InputInvalid) {
			t.Fatalf("error %v (%s), want Input.Invalid", err, faults.Name(err))
		}
	})
}

func TestParseRejectsMalformedSecrets(t *testing.T) {
	ca := string(testCA(t))
	tests := map[string]string{
		"not json":        "endpoint=https://x",
		"http endpoint":   secretJSON(t, kubecreds.Secret{Endpoint: "http://127.0.0.1:6443", CA: ca, Token: "t"}),
		"no endpoint":     secretJSON(t, kubecreds.Secret{CA: ca, Token: "t"}),
		"no token":        secretJSON(t, kubecreds.Secret{Endpoint: "https://127.0.0.1:6443", CA: ca}),
		"no ca":           secretJSON(t, kubecreds.Secret{Endpoint: "https://127.0.0.1:6443", Token: "t"}),
		"ca not PEM":      secretJSON(t, kubecreds.Secret{Endpoint: "https://127.0.0.1:6443", CA: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----", Token: "t"}),
		"ca not base64":   secretJSON(t, kubecreds.Secret{Endpoint: "https://127.0.0.1:6443", CA: "%%%", Token: "t"}),
		"empty document":  "",
		"json not object": `["https://127.0.0.1:6443"]`,
	}
	for name, value := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := kubecreds.Parse([]byte(value))
			if !faults.Is(err, faults.InputInvalid) {
				t.Fatalf("Parse error = %v (%s), want Input.Invalid", err, faults.Name(err))
			}
		})
	}
}
