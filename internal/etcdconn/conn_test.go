package etcdconn_test

import (
	"testing"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/sandbox/testnet"
	"github.com/cpwarden/cpwarden/workers/backup"
	"github.com/cpwarden/cpwarden/workers/health"
	"github.com/cpwarden/cpwarden/workers/member"
)

// The adapters are the workers' Dialers.
var (
	_ member.Dialer = etcdconn.As[member.Etcd]{}
	_ backup.Dialer = etcdconn.As[backup.Etcd]{}
	_ health.Dialer = etcdconn.As[health.Etcd]{}
)

// TestAsRefusesAViewTheClientLacks: a worker interface with a method
// *Client does not have is an error at Dial, not a panic.
func TestAsRefusesAViewTheClientLacks(t *testing.T) {
	eps := []string{"https://" + testnet.FreeAddr(t)}
	cli, err := etcdconn.As[member.Etcd]{}.Dial(t.Context(), eps)
	if err != nil || cli == nil {
		t.Fatalf("As[member.Etcd].Dial = %v, %v", cli, err)
	}
	_ = cli.Close()
	if _, err := (etcdconn.As[interface{ NoSuchMethod() }]{}).Dial(t.Context(), eps); err == nil {
		t.Fatal("As over an interface *Client does not implement dialled without error")
	}
}
