package member

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
)

// Etcd is what the worker uses of an etcd client: a subset of
// clientv3.Cluster and clientv3.Maintenance, and a lock. *etcdconn.Client
// satisfies it.
type Etcd interface {
	MemberList(ctx context.Context, opts ...clientv3.OpOption) (*clientv3.MemberListResponse, error)
	MemberRemove(ctx context.Context, id uint64) (*clientv3.MemberRemoveResponse, error)
	Status(ctx context.Context, endpoint string) (*clientv3.StatusResponse, error)
	AlarmList(ctx context.Context) (*clientv3.AlarmResponse, error)
	MoveLeader(ctx context.Context, transfereeID uint64) (*clientv3.MoveLeaderResponse, error)
	// Lock takes a cluster-wide mutex (etcdconn.Client.Lock): removals
	// decide and act one at a time, so two concurrent projections never
	// both pass on the same membership.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(context.Context) error, err error)
	Close() error
}

// Dialer connects to etcd members at the given client URLs.
type Dialer interface {
	Dial(ctx context.Context, endpoints []string) (Etcd, error)
}

// The real client: etcdconn.As[Etcd]{Dialer: etcdconn.Dialer{...}} is a
// Dialer.
var _ Etcd = (*etcdconn.Client)(nil)
