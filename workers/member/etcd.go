package member

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Etcd is what the worker uses of an etcd client: a subset of
// clientv3.Cluster and clientv3.Maintenance. *clientv3.Client satisfies it.
type Etcd interface {
	MemberList(ctx context.Context, opts ...clientv3.OpOption) (*clientv3.MemberListResponse, error)
	MemberRemove(ctx context.Context, id uint64) (*clientv3.MemberRemoveResponse, error)
	Status(ctx context.Context, endpoint string) (*clientv3.StatusResponse, error)
	AlarmList(ctx context.Context) (*clientv3.AlarmResponse, error)
	MoveLeader(ctx context.Context, transfereeID uint64) (*clientv3.MoveLeaderResponse, error)
	Close() error
}

// Dialer connects to etcd members at the given client URLs.
type Dialer interface {
	Dial(ctx context.Context, endpoints []string) (Etcd, error)
}

// TLSDialer dials with clientv3 over mutual TLS.
type TLSDialer struct {
	// TLS holds the client certificate and the etcd CA.
	TLS *tls.Config
	// DialTimeout bounds connection setup; 0 means 5 s.
	DialTimeout time.Duration
}

// Dial returns a clientv3 client for endpoints. It does not block until
// connected: calls made on an unreachable endpoint fail at their deadline.
func (d TLSDialer) Dial(ctx context.Context, endpoints []string) (Etcd, error) {
	timeout := d.DialTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Context:     ctx,
		Endpoints:   endpoints,
		TLS:         d.TLS,
		DialTimeout: timeout,
		// One try per call: the worker owns deadlines and retries are the
		// state machine's job.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", endpoints, err)
	}
	return cli, nil
}
