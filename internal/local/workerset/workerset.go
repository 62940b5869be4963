// Package workerset gives a local run of a workflow its Task outcomes from
// the real workers, reached one of two ways:
//
//   - Lambda: the real bootstrap binary, one Runtime Interface Emulator per
//     handler (internal/sandbox/rie), configured by the environment the
//     template would give each function;
//   - InProcess: the same workers built in this process from the same
//     settings, each wrapped in the EMF step middleware as the bootstrap
//     wraps it, with the Lambda deadline and error naming reproduced.
//
// Either way every EMF document the workers print is captured (Metrics) so
// a run can show and check what CloudWatch would receive.
package workerset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cpwarden/cpwarden/internal/asl"
	"github.com/cpwarden/cpwarden/internal/emf"
	"github.com/cpwarden/cpwarden/internal/envnames"
	"github.com/cpwarden/cpwarden/statemachines"
	"github.com/cpwarden/cpwarden/workers"
)

// Config is what both kinds of set need.
type Config struct {
	// Settings are the functions' environment variables (envnames),
	// local-only ones included; each function gets those envnames.For
	// lists for its handler, plus the local ones.
	Settings map[envnames.Var]string
	// Timeout is each function's timeout: the deadline of an invocation.
	// Nil means the template's (statemachines.TimingOf).
	Timeout func(workers.Handler) time.Duration
	// Log receives the workers' log lines (everything they print that is
	// not an EMF document); nil discards them.
	Log io.Writer

	// In process only: the SDK configurations of the AWS APIs (Auto
	// Scaling, EC2, SSM, Secrets Manager) and of S3 (zero: AWS's).
	AWS, S3 aws.Config

	// Lambda only: the process environment that points the SDK at the AWS
	// endpoints (AWS_ENDPOINT_URL, AWS_REGION, credentials), and the
	// bootstrap binary (empty: built with rie.Build).
	AWSEnv    map[string]string
	Bootstrap string
	// Dir is where go builds the bootstrap: a directory of this module
	// (empty: the current directory).
	Dir string
	// BuildLog receives the bootstrap build's output; nil discards it.
	BuildLog io.Writer
}

func (c Config) timeout(h workers.Handler) time.Duration {
	if c.Timeout != nil {
		if d := c.Timeout(h); d > 0 {
			return d
		}
	}
	return time.Duration(statemachines.TimingOf(h).LambdaTimeoutSeconds) * time.Second
}

// Set is a running set of workers, one function per handler.
type Set struct {
	// Mode says how the workers run: "in-process" or "lambda (RIE)".
	Mode string

	resolver asl.Resolver
	out      *Output
	close    func() error
}

// Resolver gives Task states whose resource is statemachines.LocalResource(h)
// the outcome of handler h's worker.
func (s *Set) Resolver() asl.Resolver { return s.resolver }

// Metrics returns the EMF documents printed since the last call, and
// forgets them: one run's documents.
func (s *Set) Metrics() []byte { return s.out.Take() }

// Close stops the set's processes, if any.
func (s *Set) Close() error {
	if s.close == nil {
		return nil
	}
	return s.close()
}

// FunctionName is handler h's function name in a local run; the FunctionName
// metric dimension carries it.
func FunctionName(h workers.Handler) string { return statemachines.LocalFunctionName(h) }

// Output sorts what workers print: EMF documents are kept for Take, every
// other line goes to the log writer. Each Write must be whole lines, as the
// EMF middleware and the emulator's output copier both write.
type Output struct {
	log io.Writer

	mu  sync.Mutex
	emf bytes.Buffer
}

// NewOutput returns an Output forwarding non-EMF lines to log (nil:
// discarded).
func NewOutput(log io.Writer) *Output {
	if log == nil {
		log = io.Discard
	}
	return &Output{log: emf.LockedWriter(log)}
}

func (o *Output) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		line := p
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			line = p[:i+1]
		}
		if isEMF(line) {
			o.mu.Lock()
			o.emf.Write(line)
			if line[len(line)-1] != '\n' {
				o.emf.WriteByte('\n')
			}
			o.mu.Unlock()
		} else {
			_, _ = o.log.Write(line)
		}
		p = p[len(line):]
	}
	return n, nil
}

// isEMF tells an EMF document from a log line: a JSON object with an "_aws"
// member at its top level.
func isEMF(line []byte) bool {
	t := bytes.TrimSpace(line)
	if len(t) == 0 || t[0] != '{' || !bytes.Contains(t, []byte(`"_aws"`)) {
		return false
	}
	var probe struct {
		AWS json.RawMessage `json:"_aws"`
	}
	return json.Unmarshal(t, &probe) == nil && len(probe.AWS) > 0
}

// Take returns the EMF documents written so far and forgets them.
func (o *Output) Take() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := bytes.Clone(o.emf.Bytes())
	o.emf.Reset()
	return b
}

// handlerEnv is the environment variables of handler h's function, from
// the settings: the ones the template sets on it, and the local ones.
func handlerEnv(settings map[envnames.Var]string, h workers.Handler) map[string]string {
	env := map[string]string{}
	for _, v := range append(workers.EnvOf(h), envnames.Local...) {
		if val, ok := settings[v]; ok {
			env[string(v)] = val
		}
	}
	return env
}

func check(settings map[envnames.Var]string) error {
	if settings[envnames.ClusterName] == "" {
		return fmt.Errorf("workerset: %s is not set", envnames.ClusterName)
	}
	return nil
}

// withDeadline gives an invocation the function's timeout as its deadline,
// as Lambda does.
func withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}
