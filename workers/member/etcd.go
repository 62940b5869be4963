package member

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
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

// The real client: etcdconn.As[Etcd]{Dialer: etcdconn.Dialer{...}} is a
// Dialer.
var _ Etcd = (*etcdconn.Client)(nil)
