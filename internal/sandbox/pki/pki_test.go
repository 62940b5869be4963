package pki_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/cpwarden/cpwarden/internal/sandbox/pki"
)

func newServer(t *testing.T, ca *pki.CA, addr string, names ...string) *httptest.Server {
	t.Helper()
	cert, err := ca.Issue(pki.Server, names...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.Listener = ln
	srv.TLS = cert.ServerTLS()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func get(srv *httptest.Server, cfg *tls.Config) (string, error) {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(srv.URL)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestMutualTLSAcceptsClientOfTheSameCA(t *testing.T) {
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, ca, "127.0.0.2", "127.0.0.2", "localhost")
	client, err := ca.Issue(pki.Client, "admin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := get(srv, client.ClientTLS())
	if err != nil {
		t.Fatalf("mutual TLS failed: %v", err)
	}
	if got != "admin" {
		t.Fatalf("server saw client CN %q, want admin", got)
	}
}

func TestMutualTLSRejects(t *testing.T) {
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, ca, "127.0.0.1", "127.0.0.1")
	good, err := ca.Issue(pki.Client, "admin")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Issue(pki.Client, "admin")
	if err != nil {
		t.Fatal(err)
	}
	serverAsClient, err := ca.Issue(pki.Server, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	noCert := good.ClientTLS()
	noCert.Certificates = nil
	wrongRoot := good.ClientTLS()
	wrongRoot.RootCAs = other.Pool()

	for name, cfg := range map[string]*tls.Config{
		"no client certificate":             noCert,
		"client certificate of another CA":  foreign.ClientTLS(),
		"server certificate used as client": serverAsClient.ClientTLS(),
		"server not trusted by the client":  wrongRoot,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := get(srv, cfg); err == nil {
				t.Fatal("request succeeded, want a TLS failure")
			}
		})
	}
}

func TestServerCertificateCoversOnlyItsNames(t *testing.T) {
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(pki.Peer, "127.0.0.3", "localhost", "etcd-2")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.TLS.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	if _, err := leaf.Verify(opts); err != nil {
		t.Fatalf("peer cert does not verify for both usages: %v", err)
	}
	for _, host := range []string{"127.0.0.3", "localhost", "etcd-2"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	for _, host := range []string{"127.0.0.4", "10.0.0.3", "example.com"} {
		if err := leaf.VerifyHostname(host); err == nil {
			t.Errorf("%s verified, want refusal", host)
		}
	}
}

func TestIssueRejectsBadRequests(t *testing.T) {
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(pki.Server); err == nil {
		t.Error("Issue without names succeeded")
	}
	if _, err := ca.Issue(pki.Kind(42), "x"); err == nil {
		t.Error("Issue with an unknown kind succeeded")
	}
	if _, err := ca.IssueRequest(pki.Request{Kind: pki.Client}); err == nil {
		t.Error("IssueRequest without CommonName succeeded")
	}
}

func TestIssueRequestCarriesGroups(t *testing.T) {
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueRequest(pki.Request{Kind: pki.Client, CommonName: "kubernetes-admin", Organization: []string{"system:masters"}})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.TLS.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.Subject.CommonName != "kubernetes-admin" || len(leaf.Subject.Organization) != 1 || leaf.Subject.Organization[0] != "system:masters" {
		t.Fatalf("subject = %v", leaf.Subject)
	}
}

func TestWriteFilesRoundTrip(t *testing.T) {
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(pki.Server, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	files, err := cert.WriteFiles(t.TempDir()+"/tls", "server")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(files.Cert, files.Key); err != nil {
		t.Fatalf("written pair does not load: %v", err)
	}
	st, err := os.Stat(files.Key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	caPEM, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(caPEM) {
		t.Error("ca.crt is not a PEM certificate")
	}
	if _, err := cert.WriteFiles("/dev/null/x", "server"); err == nil {
		t.Error("WriteFiles into an impossible dir succeeded")
	}
}
