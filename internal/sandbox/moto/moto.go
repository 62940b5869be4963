// Package moto runs moto's AWS emulator (moto_server) on a loopback port for
// tests, the sandbox and the demo, and builds aws-sdk-go-v2 clients pointed
// at it, so the real SDK clients speak the real wire protocols of Auto
// Scaling, EC2, SSM and Secrets Manager without leaving the machine.
//
// moto invents 10.x private addresses for EC2 instances. Nothing here dials
// them, and callers must not either: map instances to 127.0.0.x addresses of
// their own.
package moto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/cpwarden/cpwarden/internal/sandbox/proc"
)

// EnvBinary names the environment variable that overrides where moto_server
// is found.
const EnvBinary = "CPWARDEN_MOTO_SERVER"

// InstallHint says how to get moto_server where it is missing.
const InstallHint = "pip install 'moto[server]'"

// Region is the region every client built here uses; moto keeps separate
// state per region, so one fixed region keeps tests and the sandbox aligned.
const Region = "us-east-1"

// AMI is an image moto knows (one of its default AMIs), for launch
// templates and instances.
const AMI = "ami-12c6146b"

// ErrNotInstalled means no moto_server executable was found.
var ErrNotInstalled = errors.New("moto_server not found (install it with " + InstallHint + ")")

// Binary returns the moto_server executable: $CPWARDEN_MOTO_SERVER, then
// $PATH, then pyenv's shim directory (where this project's machines have it
// even when pyenv is not on PATH, as in CI).
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvBinary, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".pyenv", "shims", "moto_server")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// Options configure Start. The zero value is usable.
type Options struct {
	// Binary is the moto_server executable; empty means Binary().
	Binary string
	// Host is the loopback address to listen on; empty means 127.0.0.1.
	// Anything outside 127.0.0.0/8 is refused.
	Host string
	// Log receives moto_server's output; nil discards it (it logs every
	// request).
	Log io.Writer
	// StartTimeout bounds the wait for the server to answer; zero means 30s
	// (Python imports are slow on a busy 2-core machine).
	StartTimeout time.Duration
}

// Server is a running moto_server.
type Server struct {
	// Endpoint is the server's base URL, e.g. http://127.0.0.1:43121.
	Endpoint string

	proc *proc.Process
}

// Start launches moto_server on a free port of opts.Host and returns once it
// answers HTTP. Stop it with Stop.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = Binary(); err != nil {
			return nil, err
		}
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("moto: host %q is not a loopback address", host)
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	// A free port can be taken by someone else between our probe and
	// moto's bind; try a few ports before giving up.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := proc.FreePort(host)
		if err != nil {
			return nil, err
		}
		s, err := start(ctx, bin, host, port, opts.Log, timeout)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, bin, host string, port int, log io.Writer, timeout time.Duration) (*Server, error) {
	// Its own process group (proc.Start), so Stop reaches any child the
	// pyenv shim spawns.
	p, err := proc.Start(proc.Spec{
		Name: "moto_server", Path: bin, Args: []string{"-H", host, "-p", strconv.Itoa(port)}, Output: log,
	})
	if err != nil {
		return nil, fmt.Errorf("moto: %w", err)
	}
	s := &Server{Endpoint: "http://" + net.JoinHostPort(host, strconv.Itoa(port)), proc: p}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	if err := p.WaitReady(ctx, timeout, 50*time.Millisecond, proc.HTTPReady(client, s.Endpoint+"/moto-api/", 0)); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("moto: %w", err)
	}
	return s, nil
}

// Stop terminates the server and waits for it to exit. It is safe to call
// more than once.
func (s *Server) Stop() error { return s.proc.Stop() }

// Exited is closed when the server process has exited.
func (s *Server) Exited() <-chan struct{} { return s.proc.Exited() }

// Tail is the end of the server's output, for error messages.
func (s *Server) Tail() string { return s.proc.Tail() }

// Reset drops all state moto holds (every service, every region), so tests
// sharing one server can start from nothing.
func (s *Server) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint+"/moto-api/reset", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("moto: reset: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("moto: reset: %s: %s", resp.Status, b)
	}
	return nil
}

// Config returns an SDK configuration for the server: static fake
// credentials, region us-east-1, BaseEndpoint set to the server.
func (s *Server) Config() aws.Config {
	return Config(s.Endpoint)
}

// Config returns an SDK configuration for a moto server at endpoint.
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(endpoint),
		// Loopback only, never a proxy from the environment.
		HTTPClient: &http.Client{Transport: &http.Transport{Proxy: nil}},
	}
}

// AutoScaling returns an Auto Scaling client for the server.
func (s *Server) AutoScaling() *autoscaling.Client { return autoscaling.NewFromConfig(s.Config()) }

// EC2 returns an EC2 client for the server.
func (s *Server) EC2() *ec2.Client { return ec2.NewFromConfig(s.Config()) }

// SSM returns an SSM client for the server.
func (s *Server) SSM() *ssm.Client { return ssm.NewFromConfig(s.Config()) }

// SecretsManager returns a Secrets Manager client for the server.
func (s *Server) SecretsManager() *secretsmanager.Client {
	return secretsmanager.NewFromConfig(s.Config())
}

// S3 returns an S3 client for the server, with path-style addressing
// (bucket names cannot be resolved as loopback host names).
func (s *Server) S3() *s3.Client {
	return s3.NewFromConfig(s.Config(), func(o *s3.Options) { o.UsePathStyle = true })
}
