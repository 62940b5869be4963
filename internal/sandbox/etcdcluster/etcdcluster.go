// Package etcdcluster runs a real, multi-member etcd cluster inside the
// current process (go.etcd.io/etcd/server/v3/embed) for tests, benchmarks and
// the local sandbox. Every member speaks TLS with client-certificate auth on
// its own loopback address, so code under test dials it exactly as it would
// dial a production control plane: member i listens on 127.0.0.(i+1) with
// random free ports, and its member name is whatever the caller chose (for
// cpwarden, the Kubernetes node name of the control-plane instance).
//
// The cluster can stop and restart members (simulating an instance that dies
// or reboots), add a learner, run with a small backend quota (to raise the
// NOSPACE alarm) and be filled with bulk data (backup benchmarks).
//
// A typical test:
//
//	c, err := etcdcluster.Start(ctx, etcdcluster.Options{Names: []string{"cp-a", "cp-b", "cp-c"}})
//	if err != nil { t.Fatal(err) }
//	t.Cleanup(c.Close)
//	cli, err := c.Client(c.Endpoints()...)
//
// Data is written with fsync disabled: the cluster is throwaway and speed
// matters more than durability across host crashes.
package etcdcluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/client/pkg/v3/types"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cpwarden/cpwarden/internal/sandbox/pki"

	"github.com/cpwarden/cpwarden/internal/sandbox/proc"
)

// Options configures Start. The zero value of every field but Names (or
// Size) is usable.
type Options struct {
	// Names are the member names, one member per name, in address order:
	// Names[i] gets 127.0.0.(i+1+AddressOffset). When empty, Size members
	// named "member-0".. are started.
	Names []string
	Size  int
	// AddressOffset shifts the loopback addresses, so two clusters in one
	// process (or a cluster and other sandbox servers) do not share an IP.
	// Ports are random either way, so sharing an IP is allowed, only less
	// realistic.
	AddressOffset int
	// Dir holds each member's data dir and certificates. Empty: a new
	// temporary directory, removed by Close.
	Dir string
	// QuotaBackendBytes is the backend quota; 0 keeps etcd's default (2 GiB).
	// A few MiB make Fill raise the NOSPACE alarm quickly.
	QuotaBackendBytes int64
	// TickMs and ElectionMs are raft timings; 0 keeps 100 ms and 1000 ms,
	// which stay stable under -race on two busy cores.
	TickMs, ElectionMs uint
	// Logger receives the members' logs; nil writes errors only to
	// <Dir>/etcd.log so test output stays readable.
	Logger *zap.Logger
	// StartTimeout bounds the wait for the cluster to elect a leader;
	// 0 means 60 s.
	StartTimeout time.Duration
}

// Membership changes right after Start or Restart: etcd's strict
// reconfiguration check refuses to add or remove a voter (ErrUnhealthy,
// "unhealthy cluster") until every peer has been connected for 5 s. Code
// under test that changes membership must retry, as cpwarden's workflows do.

// Member is one etcd member of the cluster.
type Member struct {
	// Name is the member name the caller chose.
	Name string
	// IP is the loopback address the member listens on.
	IP string
	// ClientURL and PeerURL are the advertised (and listened) URLs.
	ClientURL string
	PeerURL   string
	// Dir is the member's data directory.
	Dir string
	// ID is the raft member ID, known once the member has started.
	ID uint64
	// Learner reports whether the member was added as a learner (and not
	// promoted through this package).
	Learner bool

	cfg     *embed.Config
	etcd    *embed.Etcd // the last started instance; nil before the first start
	inst    *instance
	stopped bool
	running atomic.Pointer[embed.Etcd] // read by the gRPC interceptor
}

// instance is one run of a member. A removed member's server stops by
// itself but embed keeps its listeners serving (into a stopped server) until
// Close, so every instance is closed when its server stops, whoever stopped
// it; closed is closed when that is done.
type instance struct {
	e      *embed.Etcd
	once   sync.Once
	closed chan struct{}
}

func (i *instance) close() {
	i.once.Do(func() {
		i.e.Close()
		close(i.closed)
	})
}

// Cluster is a running embedded cluster. Its methods are safe for
// concurrent use.
type Cluster struct {
	// CA signed every certificate of the cluster.
	CA *pki.CA
	// ClientCert is a client certificate the members accept.
	ClientCert *pki.Cert
	// ClientTLSFiles are ClientCert, its key and the CA as PEM files, for
	// programs configured by path (etcdctl, kube-apiserver --etcd-*).
	ClientTLSFiles pki.Files

	opts    Options
	dir     string
	ownDir  bool
	logger  *zap.Logger
	logFile *os.File
	token   string

	mu      sync.Mutex
	members []*Member
	closed  bool
}

// Start starts the cluster and returns when it has a leader and every
// member is ready to serve.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	names := opts.Names
	if len(names) == 0 {
		if opts.Size <= 0 {
			return nil, errors.New("etcdcluster: Options needs Names or a positive Size")
		}
		for i := range opts.Size {
			names = append(names, fmt.Sprintf("member-%d", i))
		}
	}
	if err := checkNames(names); err != nil {
		return nil, err
	}
	if len(names)+opts.AddressOffset > 250 {
		return nil, errors.New("etcdcluster: too many members for 127.0.0.0/24")
	}
	c := &Cluster{opts: opts, dir: opts.Dir}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "etcdcluster-")
		if err != nil {
			return nil, fmt.Errorf("etcdcluster: %w", err)
		}
		c.dir, c.ownDir = d, true
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	if err := c.setupLogging(); err != nil {
		return nil, err
	}
	if err := c.setupPKI(); err != nil {
		return nil, err
	}
	tok := make([]byte, 8)
	_, _ = rand.Read(tok)
	c.token = fmt.Sprintf("etcdcluster-%x", tok)

	var initial []string
	for i, name := range names {
		m, err := c.newMember(name, fmt.Sprintf("127.0.0.%d", i+1+opts.AddressOffset))
		if err != nil {
			return nil, err
		}
		c.members = append(c.members, m)
		initial = append(initial, name+"="+m.PeerURL)
	}
	for _, m := range c.members {
		m.cfg.InitialCluster = strings.Join(initial, ",")
		m.cfg.ClusterState = embed.ClusterStateFlagNew
	}
	// Members block in ReadyNotify until a quorum has joined, so start them
	// all before waiting for any.
	for _, m := range c.members {
		if err := c.startMember(m); err != nil {
			return nil, err
		}
	}
	if err := c.waitReady(ctx, c.members...); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

func checkNames(names []string) error {
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, ",= /") {
			return fmt.Errorf("etcdcluster: invalid member name %q", n)
		}
		if seen[n] {
			return fmt.Errorf("etcdcluster: duplicate member name %q", n)
		}
		seen[n] = true
	}
	return nil
}

func (c *Cluster) setupLogging() error {
	if c.opts.Logger != nil {
		c.logger = c.opts.Logger
		return nil
	}
	f, err := os.OpenFile(filepath.Join(c.dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("etcdcluster: log file: %w", err)
	}
	c.logFile = f
	enc := zapcore.NewConsoleEncoder(zap.NewProductionEncoderConfig())
	c.logger = zap.New(zapcore.NewCore(enc, zapcore.Lock(f), zapcore.ErrorLevel))
	return nil
}

func (c *Cluster) setupPKI() error {
	ca, err := pki.NewCA()
	if err != nil {
		return err
	}
	c.CA = ca
	c.ClientCert, err = ca.Issue(pki.Client, "cpwarden")
	if err != nil {
		return err
	}
	c.ClientTLSFiles, err = c.ClientCert.WriteFiles(filepath.Join(c.dir, "client-tls"), "client")
	return err
}

// newMember prepares (but does not start) a member on ip with fresh ports.
func (c *Cluster) newMember(name, ip string) (*Member, error) {
	clientPort, err := proc.FreePort(ip)
	if err != nil {
		return nil, err
	}
	peerPort, err := proc.FreePort(ip)
	if err != nil {
		return nil, err
	}
	m := &Member{
		Name:      name,
		IP:        ip,
		ClientURL: "https://" + net.JoinHostPort(ip, strconv.Itoa(clientPort)),
		PeerURL:   "https://" + net.JoinHostPort(ip, strconv.Itoa(peerPort)),
		Dir:       filepath.Join(c.dir, name, "data"),
	}
	cert, err := c.CA.Issue(pki.Peer, ip, "localhost", name)
	if err != nil {
		return nil, err
	}
	files, err := cert.WriteFiles(filepath.Join(c.dir, name, "tls"), "member")
	if err != nil {
		return nil, err
	}
	tlsInfo := transport.TLSInfo{
		CertFile:       files.Cert,
		KeyFile:        files.Key,
		ClientCertFile: files.Cert,
		ClientKeyFile:  files.Key,
		TrustedCAFile:  files.CA,
		ClientCertAuth: true,
	}
	cu, _ := url.Parse(m.ClientURL)
	pu, _ := url.Parse(m.PeerURL)

	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = m.Dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.ClientTLSInfo, cfg.PeerTLSInfo = tlsInfo, tlsInfo
	cfg.InitialClusterToken = c.token
	cfg.QuotaBackendBytes = c.opts.QuotaBackendBytes
	cfg.TickMs, cfg.ElectionMs = 100, 1000
	if c.opts.TickMs > 0 {
		cfg.TickMs = c.opts.TickMs
	}
	if c.opts.ElectionMs > 0 {
		cfg.ElectionMs = c.opts.ElectionMs
	}
	cfg.UnsafeNoFsync = true
	cfg.ListenMetricsUrls = nil
	cfg.Metrics = "basic"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(c.logger.With(zap.String("member", name)))
	cfg.GRPCAdditionalServerOptions = []grpc.ServerOption{grpc.ChainUnaryInterceptor(m.refuseOnceRemoved)}
	m.cfg = cfg
	return m, nil
}

// refuseOnceRemoved answers Unavailable instead of serving a request once
// the member has applied its own removal. Between that moment and its stop,
// etcd 3.7 panics on a Status request (IsLearner cannot find the local
// member), and in an embedded cluster that panic kills the whole process.
func (m *Member) refuseOnceRemoved(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if e := m.running.Load(); e != nil && e.Server.Cluster().Member(e.Server.MemberID()) == nil {
		return nil, status.Error(codes.Unavailable, "etcdcluster: member removed from the cluster")
	}
	return h(ctx, req)
}

func (c *Cluster) startMember(m *Member) error {
	// embed.StartEtcd mutates parts of the config; give it a copy so a
	// restart starts from the same settings.
	cfg := *m.cfg
	e, err := embed.StartEtcd(&cfg)
	if err != nil {
		return fmt.Errorf("etcdcluster: start %s: %w", m.Name, err)
	}
	inst := &instance{e: e, closed: make(chan struct{})}
	m.etcd, m.inst, m.stopped = e, inst, false
	m.running.Store(e)
	go func() {
		<-e.Server.StopNotify()
		inst.close()
	}()
	return nil
}

func (c *Cluster) waitReady(ctx context.Context, ms ...*Member) error {
	timeout := c.opts.StartTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, m := range ms {
		select {
		case <-m.etcd.Server.ReadyNotify():
			if m.ID == 0 { // first start, before the member is visible to other goroutines
				m.ID = uint64(m.etcd.Server.MemberID())
			}
			// A joining member (a learner) can be ready before it has
			// applied its own addition; etcd 3.7 panics on a Status request
			// until then, so wait for it.
			for m.etcd.Server.Cluster().Member(types.ID(m.ID)) == nil {
				select {
				case <-ctx.Done():
					return fmt.Errorf("etcdcluster: member %s does not see itself in the membership: %w", m.Name, ctx.Err())
				case <-time.After(20 * time.Millisecond):
				}
			}
		case err := <-m.etcd.Err():
			return fmt.Errorf("etcdcluster: member %s failed: %w", m.Name, err)
		case <-ctx.Done():
			return fmt.Errorf("etcdcluster: member %s not ready: %w", m.Name, ctx.Err())
		}
	}
	return nil
}

// Members returns the members, including stopped ones, in address order.
func (c *Cluster) Members() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Member(nil), c.members...)
}

// Member returns the member named name, or nil.
func (c *Cluster) Member(name string) *Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.member(name)
}

func (c *Cluster) member(name string) *Member {
	for _, m := range c.members {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Running reports whether the named member's server is running and still a
// member. A member removed from the cluster reports false at once (it stops
// itself shortly after).
func (c *Cluster) Running(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.member(name)
	if m == nil || m.inst == nil || m.stopped {
		return false
	}
	select {
	case <-m.inst.e.Server.StopNotify():
		return false
	default:
	}
	// A removed member serves requests for a moment before it stops, and
	// etcd 3.7 panics on a Status request then (refuseOnceRemoved guards
	// that): treat it as stopped as soon as it knows.
	return m.etcd.Server.Cluster().Member(types.ID(m.ID)) != nil
}

// WaitStopped waits until the named member's server has stopped, e.g.
// after it was removed from the cluster (a removed member stops itself).
func (c *Cluster) WaitStopped(ctx context.Context, name string) error {
	c.mu.Lock()
	m := c.member(name)
	var inst *instance
	if m != nil {
		inst = m.inst
	}
	c.mu.Unlock()
	if m == nil {
		return fmt.Errorf("etcdcluster: no member %q", name)
	}
	if inst == nil {
		return nil
	}
	select {
	case <-inst.closed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("etcdcluster: member %s still running: %w", name, ctx.Err())
	}
}

// Endpoints returns the client URLs of the members whose server is running,
// in address order, or of the named members when names are given.
func (c *Cluster) Endpoints(names ...string) []string {
	var eps []string
	for _, m := range c.Members() {
		if len(names) > 0 {
			for _, n := range names {
				if n == m.Name {
					eps = append(eps, m.ClientURL)
				}
			}
			continue
		}
		if c.Running(m.Name) {
			eps = append(eps, m.ClientURL)
		}
	}
	return eps
}

// ClientTLS returns a TLS configuration with the cluster's client
// certificate, trusting only the cluster CA.
func (c *Cluster) ClientTLS() *tls.Config { return c.ClientCert.ClientTLS() }

// Client returns an etcd client for endpoints (all running members when
// none are given). The caller closes it.
func (c *Cluster) Client(endpoints ...string) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		endpoints = c.Endpoints()
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		TLS:         c.ClientTLS(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcdcluster: client: %w", err)
	}
	return cli, nil
}

// Stop stops the named member gracefully (a stopping leader hands over
// leadership first), keeping its data dir so Restart can bring it back. It
// is a no-op for a member already stopped.
func (c *Cluster) Stop(name string) error {
	c.mu.Lock()
	m := c.member(name)
	if m == nil {
		c.mu.Unlock()
		return fmt.Errorf("etcdcluster: no member %q", name)
	}
	inst := m.inst
	m.stopped = true
	c.mu.Unlock()
	if inst != nil {
		inst.close()
	}
	return nil
}

// Restart starts a stopped member again from its data dir and waits until
// it is ready.
func (c *Cluster) Restart(ctx context.Context, name string) error {
	c.mu.Lock()
	m := c.member(name)
	if m == nil {
		c.mu.Unlock()
		return fmt.Errorf("etcdcluster: no member %q", name)
	}
	if !m.stopped {
		c.mu.Unlock()
		return fmt.Errorf("etcdcluster: member %q is running", name)
	}
	err := c.startMember(m)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.waitReady(ctx, m)
}

// AddLearner adds a member named name as a raft learner (MemberAddAsLearner),
// starts it on the next free loopback address and waits until it is ready.
// The learner stays a learner until someone promotes it.
func (c *Cluster) AddLearner(ctx context.Context, name string) (*Member, error) {
	if err := checkNames([]string{name}); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.member(name) != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("etcdcluster: member %q exists", name)
	}
	ip := fmt.Sprintf("127.0.0.%d", len(c.members)+1+c.opts.AddressOffset)
	m, err := c.newMember(name, ip)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	cli, err := c.Client()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	// etcd's strict reconfiguration check refuses membership changes until
	// every peer has been connected for 5 s (ErrUnhealthy), which is always
	// the case right after Start or Restart: wait it out.
	var resp *clientv3.MemberAddResponse
	for {
		resp, err = cli.MemberAddAsLearner(ctx, []string{m.PeerURL})
		if !errors.Is(err, rpctypes.ErrUnhealthy) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("etcdcluster: add learner %s: %w", name, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, fmt.Errorf("etcdcluster: add learner %s: %w", name, err)
	}
	var initial []string
	for _, pm := range resp.Members {
		n := pm.Name
		if pm.ID == resp.Member.ID {
			n = name
		}
		for _, u := range pm.PeerURLs {
			initial = append(initial, n+"="+u)
		}
	}
	m.cfg.InitialCluster = strings.Join(initial, ",")
	m.cfg.ClusterState = embed.ClusterStateFlagExisting
	m.Learner = true
	m.ID = resp.Member.ID
	c.mu.Lock()
	c.members = append(c.members, m)
	err = c.startMember(m)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, m); err != nil {
		return nil, err
	}
	return m, nil
}

// Leader returns the member the running members agree is leader.
func (c *Cluster) Leader(ctx context.Context) (*Member, error) {
	cli, err := c.Client()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	members := c.Members()
	for _, m := range members {
		if !c.Running(m.Name) {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := cli.Status(sctx, m.ClientURL)
		cancel()
		if err != nil || st.Leader == 0 {
			continue
		}
		for _, l := range members {
			if l.ID == st.Leader {
				return l, nil
			}
		}
		return nil, fmt.Errorf("etcdcluster: leader %x is not a member this package started", st.Leader)
	}
	return nil, errors.New("etcdcluster: no running member reports a leader")
}

// FillResult says what Fill wrote.
type FillResult struct {
	Keys  int
	Bytes int64
}

// Fill writes values of valueSize random bytes under keys prefix+"%08d"
// until total bytes are written, with a few writers in parallel. Random
// values do not compress, so the backend grows by about total. It stops at
// the first error (a put that timed out is retried a few times) and returns
// it with what was written so far; with a small
// QuotaBackendBytes that error matches rpctypes.ErrNoSpace with errors.Is
// (the NOSPACE alarm is then raised). valueSize 0 means 256 KiB; etcd refuses requests
// over 1.5 MiB.
func (c *Cluster) Fill(ctx context.Context, prefix string, total int64, valueSize int) (FillResult, error) {
	if valueSize <= 0 {
		valueSize = 256 << 10
	}
	cli, err := c.Client()
	if err != nil {
		return FillResult{}, err
	}
	defer cli.Close()
	n := int((total + int64(valueSize) - 1) / int64(valueSize))
	const writers = 4
	var (
		mu       sync.Mutex
		res      FillResult
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan int)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range writers {
		wg.Go(func() {
			val := make([]byte, valueSize)
			for i := range next {
				_, _ = rand.Read(val)
				err := putRetrying(ctx, cli, fmt.Sprintf("%s%08d", prefix, i), string(val))
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					cancel()
				} else {
					res.Keys++
					res.Bytes += int64(valueSize)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return res, fmt.Errorf("etcdcluster: fill: %w", firstErr)
	}
	return res, nil
}

// putRetrying retries a put that timed out: on a loaded machine (tests
// under -race on two cores) a commit can exceed etcd's request timeout, and
// writing the same value again is harmless.
func putRetrying(ctx context.Context, cli *clientv3.Client, key, val string) error {
	var err error
	for range 5 {
		_, err = cli.Put(ctx, key, val)
		if !errors.Is(err, rpctypes.ErrTimeout) && !errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) &&
			!errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) && !errors.Is(err, rpctypes.ErrLeaderChanged) {
			return err
		}
	}
	return err
}

// Close stops every member and, when Start created the directory, removes
// it. It is safe to call more than once.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	var insts []*instance
	for _, m := range c.members {
		if m.inst != nil {
			insts = append(insts, m.inst)
			m.stopped = true
		}
	}
	c.mu.Unlock()
	// Close in parallel: a member closing while its peers are already gone
	// would otherwise wait for leadership transfer timeouts one by one.
	var wg sync.WaitGroup
	for _, i := range insts {
		wg.Go(i.close)
	}
	wg.Wait()
	if c.logFile != nil {
		_ = c.logFile.Close()
	}
	if c.ownDir {
		_ = os.RemoveAll(c.dir)
	}
}
