package sandbox

import (
	"context"
	"fmt"

	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
)

// SeedKeys is the number of keys the sandbox writes into the control-plane
// etcd, so a backup has content whose restore can be counted.
const SeedKeys = 300

// SeedPrefix is where those keys live.
const SeedPrefix = "/registry/configmaps/sandbox/"

// seedEtcd writes SeedKeys small values into the cluster, as the objects a
// control plane's etcd holds. (The sandbox's API server stores its own
// objects in an etcd of its own, so that stopping members of this cluster
// for the health scenario leaves the API server up.)
func seedEtcd(ctx context.Context, c *etcdcluster.Cluster) error {
	cli, err := c.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	for i := range SeedKeys {
		key := fmt.Sprintf("%sconfig-%04d", SeedPrefix, i)
		val := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"config-%04d","namespace":"sandbox"},"data":{"index":"%d"}}`, i, i)
		if _, err := cli.Put(ctx, key, val); err != nil {
			return fmt.Errorf("seed etcd: %w", err)
		}
	}
	return nil
}
