// Package kubeapi runs a real kube-apiserver on loopback for tests, the
// sandbox and the demo: TLS with a generated serving certificate, a static
// admin token, ServiceAccount tokens through the TokenRequest API, Node and
// RBAC authorization, on an etcd the caller provides. The binary is built
// once from the Go module proxy by tools/kube-apiserver/build.sh (`make
// kube-apiserver`).
//
// No controller-manager or kubelet runs, so the package also holds stand-ins
// for the parts of them that draining needs (see Kubelet and
// DisruptionController).
package kubeapi

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/cpwarden/cpwarden/internal/sandbox/pki"
	"github.com/cpwarden/cpwarden/internal/sandbox/proc"
)

// EnvBinary names the environment variable that points at a kube-apiserver
// binary, overriding the build cache.
const EnvBinary = "CPWARDEN_KUBE_APISERVER"

// BuildHint says how to get the binary where it is missing.
const BuildHint = "make kube-apiserver (tools/kube-apiserver/build.sh) builds it"

// ErrNotBuilt means no kube-apiserver binary was found.
var ErrNotBuilt = errors.New("kube-apiserver binary not found; " + BuildHint)

// Binary returns the kube-apiserver executable: $CPWARDEN_KUBE_APISERVER,
// else the build cache. It returns an error wrapping ErrNotBuilt when
// neither exists.
func Binary() (string, error) {
	return proc.FindBinary(EnvBinary, "kube-apiserver", false, ErrNotBuilt)
}

// Etcd says where the API server stores its data.
type Etcd struct {
	// Servers are the etcd client URLs (https://127.0.0.x:port).
	Servers []string
	// CAFile, CertFile and KeyFile authenticate the API server to etcd
	// and etcd to it; empty for a plain-HTTP etcd.
	CAFile, CertFile, KeyFile string
	// Prefix is the key prefix of this API server's data; empty means a
	// fresh random prefix, so several servers can share one etcd cluster
	// without seeing each other's objects.
	Prefix string
}

// Token is a static bearer token the API server accepts.
type Token struct {
	Token  string
	User   string
	Groups []string
}

// Options configure Start.
type Options struct {
	// Etcd is required.
	Etcd Etcd
	// Binary is the kube-apiserver executable; empty means Binary().
	Binary string
	// Dir holds certificates, keys and the token file; empty means a new
	// temporary directory that Stop removes.
	Dir string
	// Tokens are static tokens accepted besides the admin token.
	Tokens []Token
	// Log receives the API server's log; nil discards it.
	Log io.Writer
	// Args are extra flags, appended after the defaults (a later flag
	// wins).
	Args []string
	// StartTimeout bounds the wait for /readyz; zero means 90s (a cold
	// start on a busy 2-core machine takes tens of seconds).
	StartTimeout time.Duration
}

// Server is a running kube-apiserver.
type Server struct {
	// URL is the API server's address, https://127.0.0.1:port.
	URL string
	// CACert is the PEM certificate that signed the serving certificate.
	CACert []byte
	// AdminToken authenticates as a member of system:masters.
	AdminToken string

	proc     *proc.Process
	tempDir  string
	stopOnce sync.Once
	stopErr  error
}

// Start launches kube-apiserver on a free port of 127.0.0.1 and returns when
// /readyz answers ok.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if len(opts.Etcd.Servers) == 0 {
		return nil, errors.New("kubeapi: no etcd servers")
	}
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = Binary(); err != nil {
			return nil, err
		}
	}
	dir, tempDir := opts.Dir, ""
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "cpwarden-kubeapi-"); err != nil {
			return nil, fmt.Errorf("kubeapi: %w", err)
		}
		tempDir = dir
	}
	fail := func(err error) (*Server, error) {
		if tempDir != "" {
			_ = os.RemoveAll(tempDir)
		}
		return nil, err
	}
	files, err := writeFiles(dir, opts.Tokens)
	if err != nil {
		return fail(err)
	}
	prefix := opts.Etcd.Prefix
	if prefix == "" {
		prefix = "/registry-" + randomHex(6)
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}

	// The port is chosen by listening and closing; another process can
	// take it in between, so a failed start is retried on a new port.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := proc.FreePort("127.0.0.1")
		if err != nil {
			return fail(err)
		}
		args := append(baseArgs(files, opts.Etcd, prefix, port), opts.Args...)
		p, err := proc.Start(proc.Spec{Name: "kube-apiserver", Path: bin, Args: args, Output: opts.Log, TailBytes: 8192, Grace: 15 * time.Second})
		if err == nil {
			s := &Server{
				URL:        "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
				CACert:     files.caPEM,
				AdminToken: files.adminToken,
				proc:       p,
			}
			if err = s.waitReady(ctx, timeout); err == nil {
				// Only now does Stop own the directory: a failed attempt
				// must leave the files for the next one.
				s.tempDir = tempDir
				return s, nil
			}
			_ = s.Stop()
		}
		err = fmt.Errorf("kubeapi: %w", err)
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return fail(lastErr)
}

type files struct {
	servingCert, servingKey, tokens, saKey, clientCA string
	caPEM                                            []byte
	adminToken                                       string
}

func writeFiles(dir string, tokens []Token) (files, error) {
	ca, err := pki.NewCA()
	if err != nil {
		return files{}, fmt.Errorf("kubeapi: %w", err)
	}
	serving, err := ca.Issue(pki.Server, "127.0.0.1", "localhost", "kubernetes", "kubernetes.default.svc")
	if err != nil {
		return files{}, fmt.Errorf("kubeapi: %w", err)
	}
	sf, err := serving.WriteFiles(dir, "apiserver")
	if err != nil {
		return files{}, fmt.Errorf("kubeapi: %w", err)
	}
	f := files{servingCert: sf.Cert, servingKey: sf.Key, clientCA: sf.CA, caPEM: ca.CertPEM, adminToken: randomHex(24)}

	// Static tokens: one line per token, "token,user,uid,\"group1,group2\"".
	var b bytes.Buffer
	all := append([]Token{{Token: f.adminToken, User: "cpwarden-admin", Groups: []string{"system:masters"}}}, tokens...)
	for _, t := range all {
		if t.Token == "" || t.User == "" || strings.ContainsAny(t.Token+t.User, ",\"\n") {
			return files{}, fmt.Errorf("kubeapi: invalid static token for user %q", t.User)
		}
		fmt.Fprintf(&b, "%s,%s,%s,%q\n", t.Token, t.User, t.User, strings.Join(t.Groups, ","))
	}
	f.tokens = filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(f.tokens, b.Bytes(), 0o600); err != nil {
		return files{}, fmt.Errorf("kubeapi: %w", err)
	}

	// ServiceAccount token signing key: lets tests obtain real
	// ServiceAccount tokens through TokenRequest, as a production
	// credential would be.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return files{}, fmt.Errorf("kubeapi: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return files{}, fmt.Errorf("kubeapi: %w", err)
	}
	f.saKey = filepath.Join(dir, "sa.key")
	if err := os.WriteFile(f.saKey, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return files{}, fmt.Errorf("kubeapi: %w", err)
	}
	return f, nil
}

func baseArgs(f files, etcd Etcd, prefix string, port int) []string {
	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + f.servingCert,
		"--tls-private-key-file=" + f.servingKey,
		"--client-ca-file=" + f.clientCA,
		"--token-auth-file=" + f.tokens,
		"--authorization-mode=Node,RBAC",
		// On loopback the default reconciler refuses 127.0.0.1 as the
		// "public" address of the kubernetes service.
		"--endpoint-reconciler-type=none",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + f.saKey,
		"--service-account-signing-key-file=" + f.saKey,
		// The ServiceAccount admission plugin refuses pods until the
		// (absent) controller-manager has created each namespace's
		// default ServiceAccount.
		"--disable-admission-plugins=ServiceAccount",
		// An address range for Service IPs; nothing ever dials them.
		"--service-cluster-ip-range=10.96.0.0/16",
		"--etcd-servers=" + strings.Join(etcd.Servers, ","),
		"--etcd-prefix=" + prefix,
		"--cert-dir=" + filepath.Dir(f.servingCert),
		"--profiling=false",
		"--v=0",
	}
	if etcd.CAFile != "" {
		args = append(args, "--etcd-cafile="+etcd.CAFile)
	}
	if etcd.CertFile != "" {
		args = append(args, "--etcd-certfile="+etcd.CertFile, "--etcd-keyfile="+etcd.KeyFile)
	}
	return args
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	client, err := rest.HTTPClientFor(s.AdminConfig())
	if err != nil {
		return err
	}
	client.Timeout = 2 * time.Second
	defer client.CloseIdleConnections()
	return s.proc.WaitReady(ctx, timeout, 100*time.Millisecond, proc.HTTPReady(client, s.URL+"/readyz", http.StatusOK))
}

// Stop terminates the API server, waits for it to exit and removes the
// temporary directory Start created. It is safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.proc.Stop()
		if s.tempDir != "" {
			_ = os.RemoveAll(s.tempDir)
		}
	})
	return s.stopErr
}

// Exited is closed when the API server process has exited.
func (s *Server) Exited() <-chan struct{} { return s.proc.Exited() }

// Tail is the end of the API server's output, for error messages.
func (s *Server) Tail() string { return s.proc.Tail() }

// AdminConfig returns a client configuration authenticated as a cluster
// admin. Its rate limit is high: it drives test fixtures and stand-ins, not
// the code under test.
func (s *Server) AdminConfig() *rest.Config { return s.TokenConfig(s.AdminToken) }

// TokenConfig returns a client configuration that authenticates with token
// and trusts only the server's CA. Its rate limits are client-go's
// defaults, as a worker's would be unless it sets its own.
func (s *Server) TokenConfig(token string) *rest.Config {
	cfg := &rest.Config{
		Host:            s.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: append([]byte(nil), s.CACert...)},
	}
	if token == s.AdminToken {
		cfg.QPS, cfg.Burst = 1000, 2000
	}
	return cfg
}

// AnonymousConfig returns a configuration that presents no credentials.
func (s *Server) AnonymousConfig() *rest.Config {
	return &rest.Config{Host: s.URL, TLSClientConfig: rest.TLSClientConfig{CAData: append([]byte(nil), s.CACert...)}}
}

// Admin returns a clientset with AdminConfig.
func (s *Server) Admin() (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(s.AdminConfig())
}

// ServiceAccountToken returns a token for ServiceAccount namespace/name
// through the TokenRequest API, creating the namespace and the
// ServiceAccount when missing: a real ServiceAccount credential, subject to
// RBAC like the one a production worker is given.
func (s *Server) ServiceAccountToken(ctx context.Context, namespace, name string, ttl time.Duration) (string, error) {
	client, err := s.Admin()
	if err != nil {
		return "", err
	}
	if err := EnsureNamespace(ctx, client, namespace); err != nil {
		return "", err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("kubeapi: create ServiceAccount %s/%s: %w", namespace, name, err)
	}
	secs := int64(ttl / time.Second)
	if secs < 600 {
		secs = 600 // the API's minimum
	}
	tr, err := client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("kubeapi: TokenRequest for %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}

// EnsureNamespace creates namespace ns unless it exists.
func EnsureNamespace(ctx context.Context, client kubernetes.Interface, ns string) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubeapi: create namespace %s: %w", ns, err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	return hex.EncodeToString(b)
}

// ApplyManifest creates every object of a multi-document YAML manifest of
// the kinds the drain worker's RBAC manifest holds (ServiceAccount, with its
// namespace; ClusterRole; ClusterRoleBinding). Objects that exist are left
// as they are.
func ApplyManifest(ctx context.Context, client kubernetes.Interface, manifest string) error {
	decode := scheme.Codecs.UniversalDeserializer().Decode
	for _, doc := range strings.Split(manifest, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj, _, err := decode([]byte(doc), nil, nil)
		if err != nil {
			return fmt.Errorf("decode manifest: %w", err)
		}
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			if err := EnsureNamespace(ctx, client, o.Namespace); err != nil {
				return err
			}
			_, err = client.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = client.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = client.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		default:
			return fmt.Errorf("manifest holds an unexpected %T", obj)
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}
