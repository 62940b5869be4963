package kubeapi

import (
	"context"
	"fmt"

	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
)

// EtcdOf says how an API server reaches the embedded cluster c (its running
// members, with c's client certificate).
func EtcdOf(c *etcdcluster.Cluster) Etcd {
	return Etcd{
		Servers:  c.Endpoints(),
		CAFile:   c.ClientTLSFiles.CA,
		CertFile: c.ClientTLSFiles.Cert,
		KeyFile:  c.ClientTLSFiles.Key,
	}
}

// Local is an API server on an embedded one-member etcd cluster of its own:
// what a test of Kubernetes-facing code needs, and nothing else.
type Local struct {
	*Server
	Etcd *etcdcluster.Cluster
}

// StartLocal starts a one-member etcd cluster and an API server on it.
// opts.Etcd is ignored. It returns an error wrapping ErrNotBuilt, before
// starting anything, when there is no kube-apiserver binary.
func StartLocal(ctx context.Context, opts Options) (*Local, error) {
	if opts.Binary == "" {
		bin, err := Binary()
		if err != nil {
			return nil, err
		}
		opts.Binary = bin
	}
	etcd, err := etcdcluster.Start(ctx, etcdcluster.Options{Names: []string{"kube-etcd"}})
	if err != nil {
		return nil, fmt.Errorf("kubeapi: etcd: %w", err)
	}
	opts.Etcd = EtcdOf(etcd)
	srv, err := Start(ctx, opts)
	if err != nil {
		etcd.Close()
		return nil, err
	}
	return &Local{Server: srv, Etcd: etcd}, nil
}

// Stop stops the API server, then its etcd. It is safe to call more than
// once.
func (l *Local) Stop() error {
	err := l.Server.Stop()
	l.Etcd.Close()
	return err
}
