// Package etcdconn is how the workers reach etcd: the mutual-TLS dialer,
// the endpoints (a static list, or the members discovered from the
// control-plane Auto Scaling group through EC2) and the mapping from an
// instance to its client URL.
//
// The workers depend on narrow interfaces of their own (member.Etcd,
// backup.Etcd, health.Etcd, each a subset of *clientv3.Client, and the
// Peers and Resolver they call); the adapters from this package's types to
// those interfaces live here (As).
package etcdconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
)

// DefaultClientPort is etcd's client port, the port of the discovered
// members' client URLs unless configured otherwise (the template's
// EtcdClientPort default).
const DefaultClientPort = 2379

// DefaultDialTimeout is Dialer.DialTimeout's default.
const DefaultDialTimeout = 5 * time.Second

// Dialer dials etcd members with clientv3 over mutual TLS. Calls on a
// client it returns make one try each: the workers own deadlines, and
// retries are the state machines' job.
type Dialer struct {
	// TLS holds the client certificate and the etcd CA.
	TLS *tls.Config
	// DialTimeout bounds connection setup; 0 means DefaultDialTimeout.
	// Dial does not block until connected either way: calls made on an
	// unreachable endpoint fail at their deadline.
	DialTimeout time.Duration
	// SnapshotBuffers gives each client the gRPC buffer pool of
	// SnapshotDialOptions, for clients that stream snapshots.
	SnapshotBuffers bool
	// FailFast is for probing one member: no dial timeout, and Status fails
	// as soon as the connection does (ErrUnreachable) instead of waiting
	// for it until the call's deadline. See Client.Status.
	FailFast bool
}

// Client is a clientv3 client, with Status failing fast when its Dialer
// asked for it.
type Client struct {
	*clientv3.Client
	failFast bool
}

// Dial returns a client for endpoints.
func (d Dialer) Dial(ctx context.Context, endpoints []string) (*Client, error) {
	cfg := clientv3.Config{Context: ctx, Endpoints: endpoints, TLS: d.TLS, Logger: zap.NewNop()}
	if !d.FailFast {
		cfg.DialTimeout = d.DialTimeout
		if cfg.DialTimeout <= 0 {
			cfg.DialTimeout = DefaultDialTimeout
		}
	}
	if d.SnapshotBuffers {
		opts, err := SnapshotDialOptions()
		if err != nil {
			return nil, err
		}
		cfg.DialOptions = opts
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return &Client{Client: cli, failFast: d.FailFast}, nil
}

// ErrUnreachable marks a Status failure of a fail-fast client because the
// member could not be connected to at all; a probe then stops its other
// calls, which would only wait out the deadline.
var ErrUnreachable = errors.New("etcd member unreachable")

// Status asks endpoint for its status. On a fail-fast client, bound to one
// member, it asks that member without gRPC's wait-for-ready: clientv3
// makes every call wait for a connection until its deadline, so a stopped
// member would hold every probe round for the whole deadline.
func (c *Client) Status(ctx context.Context, endpoint string) (*clientv3.StatusResponse, error) {
	if !c.failFast {
		return c.Client.Status(ctx, endpoint)
	}
	conn := c.ActiveConnection()
	resp, err := pb.NewMaintenanceClient(conn).Status(ctx, &pb.StatusRequest{}, grpc.WaitForReady(false))
	if err != nil {
		if conn.GetState() == connectivity.TransientFailure {
			return nil, fmt.Errorf("%w: %w", ErrUnreachable, rpctypes.Error(err))
		}
		return nil, rpctypes.Error(err)
	}
	return (*clientv3.StatusResponse)(resp), nil
}

// Lock takes the etcd mutex at key (clientv3/concurrency: a key under key
// on a lease of ttl, kept alive while the lock is held), waiting until ctx
// ends for earlier holders. The lease is kept alive until unlock (or the
// client's own context ends), not only while ctx lasts. unlock releases the
// lock and revokes the lease; a holder that dies without unlocking loses
// the lock when the lease expires.
// The lock serialises cpwarden's own membership changes: it is a write to
// etcd, under a prefix of cpwarden's, never Kubernetes' /registry.
func (c *Client) Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(context.Context) error, err error) {
	secs := max(int(ttl/time.Second), 1)
	// The lease is granted within ctx (the wait), but the session's
	// keep-alive outlives it: it must hold the lease for as long as the
	// lock is held.
	lease, err := c.Grant(ctx, int64(secs))
	if err != nil {
		return nil, fmt.Errorf("etcd lock %s: lease: %w", key, err)
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	sess, err := concurrency.NewSession(c.Client, concurrency.WithLease(lease.ID), concurrency.WithContext(sctx))
	if err != nil {
		stop()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = c.Revoke(rctx, lease.ID)
		return nil, fmt.Errorf("etcd lock %s: session: %w", key, err)
	}
	closeSession := func(ctx context.Context) error {
		defer stop()
		sess.Orphan() // stop the keep-alive; revoke with the caller's deadline
		_, err := c.Revoke(ctx, sess.Lease())
		return err
	}
	mu := concurrency.NewMutex(sess, key)
	// Mutex.Lock, when its wait fails, deletes its key with the client's
	// own context, which has no deadline: with the members gone it would
	// never return. So it runs apart and a wait that ends gives up on it
	// (closing the client ends it). Giving up revokes the lease, which
	// deletes the key: a lock it got after all is released with it.
	locked := make(chan error, 1)
	go func() { locked <- mu.Lock(ctx) }()
	var lerr error
	select {
	case lerr = <-locked:
	case <-ctx.Done():
		lerr = ctx.Err()
	}
	if lerr != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = closeSession(rctx)
		return nil, fmt.Errorf("etcd lock %s: %w", key, lerr)
	}
	return func(ctx context.Context) error {
		err := mu.Unlock(ctx)
		if cerr := closeSession(ctx); err == nil {
			err = cerr
		}
		return err
	}, nil
}

// As adapts a Dialer to a worker's Dialer interface, whose Dial returns E,
// the worker's narrow view of a client (member.Etcd, backup.Etcd,
// health.Etcd). Each worker asserts at compile time that *Client
// implements its E.
type As[E any] struct{ Dialer Dialer }

// Dial returns the client as E.
func (a As[E]) Dial(ctx context.Context, endpoints []string) (E, error) {
	var zero E
	cli, err := a.Dialer.Dial(ctx, endpoints)
	if err != nil {
		return zero, err
	}
	e, ok := any(cli).(E)
	if !ok {
		_ = cli.Close()
		return zero, fmt.Errorf("etcdconn: %T does not implement %T", cli, &zero)
	}
	return e, nil
}
