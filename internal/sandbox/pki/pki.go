// Package pki issues a throwaway certificate authority and the server, client
// and peer certificates the local sandbox needs (etcd, the kube-apiserver),
// so every sandbox component speaks TLS with client-certificate auth exactly
// as in production. Keys are ECDSA P-256; nothing here is meant to protect
// real secrets.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Kind says what a certificate is used for; it sets the extended key usages.
type Kind int

const (
	// Server certificates authenticate a listener (etcd client URL, API server).
	Server Kind = iota + 1
	// Client certificates authenticate a caller (etcd client, kubectl admin).
	Client
	// Peer certificates serve and dial at once (etcd peer traffic).
	Peer
)

func (k Kind) String() string {
	switch k {
	case Server:
		return "server"
	case Client:
		return "client"
	case Peer:
		return "peer"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

func (k Kind) extKeyUsage() ([]x509.ExtKeyUsage, error) {
	switch k {
	case Server:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, nil
	case Client:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	case Peer:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, nil
	}
	return nil, fmt.Errorf("pki: unknown certificate kind %d", int(k))
}

// validity is long enough for any test or demo run and short enough that a
// leaked sandbox certificate is useless soon.
const validity = 7 * 24 * time.Hour

// CA is a self-signed certificate authority held in memory.
type CA struct {
	// Cert is the CA certificate; CertPEM its PEM encoding.
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// newKey generates a certificate's key and serial number; what names the key
// in an error.
func newKey(what string) (*ecdsa.PrivateKey, *big.Int, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate %s: %w", what, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	return key, serial, nil
}

// NewCA creates a fresh self-signed CA.
func NewCA() (*CA, error) {
	key, serial, err := newKey("CA key")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "cpwarden sandbox CA", Organization: []string{"cpwarden"}},
		NotBefore:             now.Add(-time.Hour), // tolerate small clock skew between processes
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: self-sign CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA: %w", err)
	}
	return &CA{Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), key: key}, nil
}

// Pool returns a certificate pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// WriteCA writes the CA certificate (never its key) as dir/ca.crt and returns
// the path.
func (ca *CA) WriteCA(dir string) (string, error) {
	path := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(path, ca.CertPEM, 0o644); err != nil {
		return "", fmt.Errorf("pki: write CA: %w", err)
	}
	return path, nil
}

// Request describes a certificate to issue when Issue's defaults do not fit,
// e.g. a kube-apiserver client certificate whose Organization is a group.
type Request struct {
	Kind         Kind
	CommonName   string
	Organization []string // Kubernetes reads these as the user's groups
	DNSNames     []string
	IPs          []net.IP
}

// Issue issues a certificate of kind for names. Each name that parses as an
// IP becomes an IP SAN, any other a DNS SAN; the first name is also the
// CommonName (for a client certificate it is the user name).
func (ca *CA) Issue(kind Kind, names ...string) (*Cert, error) {
	if len(names) == 0 {
		return nil, errors.New("pki: Issue needs at least one name")
	}
	req := Request{Kind: kind, CommonName: names[0]}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			req.IPs = append(req.IPs, ip)
		} else {
			req.DNSNames = append(req.DNSNames, n)
		}
	}
	return ca.IssueRequest(req)
}

// IssueRequest issues the certificate req describes.
func (ca *CA) IssueRequest(req Request) (*Cert, error) {
	usage, err := req.Kind.extKeyUsage()
	if err != nil {
		return nil, err
	}
	if req.CommonName == "" {
		return nil, errors.New("pki: certificate request without CommonName")
	}
	key, serial, err := newKey("key")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.CommonName, Organization: req.Organization},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  usage,
		DNSNames:     req.DNSNames,
		IPAddresses:  req.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign %s certificate %q: %w", req.Kind, req.CommonName, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: marshal key: %w", err)
	}
	c := &Cert{
		Kind:    req.Kind,
		CertPEM: pemBlock("CERTIFICATE", der),
		KeyPEM:  pemBlock("EC PRIVATE KEY", keyDER),
		ca:      ca,
	}
	c.TLS, err = tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: load key pair: %w", err)
	}
	return c, nil
}

// Cert is an issued certificate with its private key.
type Cert struct {
	Kind    Kind
	CertPEM []byte
	KeyPEM  []byte
	TLS     tls.Certificate
	ca      *CA
}

// Files are the paths WriteFiles wrote.
type Files struct {
	CA, Cert, Key string
}

// WriteFiles writes dir/<base>.crt, dir/<base>.key (mode 0600) and dir/ca.crt,
// the layout programs configured by flags (etcd, kube-apiserver) expect.
func (c *Cert) WriteFiles(dir, base string) (Files, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Files{}, fmt.Errorf("pki: %w", err)
	}
	caPath, err := c.ca.WriteCA(dir)
	if err != nil {
		return Files{}, err
	}
	f := Files{CA: caPath, Cert: filepath.Join(dir, base+".crt"), Key: filepath.Join(dir, base+".key")}
	if err := os.WriteFile(f.Cert, c.CertPEM, 0o644); err != nil {
		return Files{}, fmt.Errorf("pki: write cert: %w", err)
	}
	if err := os.WriteFile(f.Key, c.KeyPEM, 0o600); err != nil {
		return Files{}, fmt.Errorf("pki: write key: %w", err)
	}
	return f, nil
}

// ServerTLS returns a server configuration presenting c and requiring client
// certificates signed by the CA.
func (c *Cert) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{c.TLS},
		ClientCAs:    c.ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
}

// ClientTLS returns a client configuration presenting c and trusting only the
// CA.
func (c *Cert) ClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{c.TLS},
		RootCAs:      c.ca.Pool(),
	}
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial: %w", err)
	}
	return s, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
