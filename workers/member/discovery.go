package member

import (
	"context"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
)

// Peers lists the client URLs of the control plane's etcd members
// (etcdconn.ASGDiscovery and etcdconn.StaticPeers satisfy it).
type Peers interface {
	Peers(ctx context.Context) ([]string, error)
}

// Resolver finds an instance's addresses from its ID
// (etcdconn.ASGDiscovery satisfies it).
type Resolver interface {
	Resolve(ctx context.Context, instanceID string) (etcdconn.Instance, error)
}
