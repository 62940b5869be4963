package etcdcluster_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/url"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
)

func start(t *testing.T, opts etcdcluster.Options) *etcdcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := etcdcluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestClusterMembersHaveOwnLoopbackAddressAndName(t *testing.T) {
	c := start(t, etcdcluster.Options{Names: []string{"cp-a", "cp-b", "cp-c"}, AddressOffset: 10})
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := t.Context()
	list, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Members) != 3 {
		t.Fatalf("%d members, want 3", len(list.Members))
	}
	want := map[string]string{"cp-a": "127.0.0.11", "cp-b": "127.0.0.12", "cp-c": "127.0.0.13"}
	for _, m := range list.Members {
		u, err := url.Parse(m.PeerURLs[0])
		if err != nil {
			t.Fatal(err)
		}
		if u.Scheme != "https" || u.Hostname() != want[m.Name] {
			t.Errorf("member %s peer URL %s, want https on %s", m.Name, m.PeerURLs[0], want[m.Name])
		}
		if got := c.Member(m.Name); got == nil || got.ID != m.ID || got.ClientURL != m.ClientURLs[0] {
			t.Errorf("Member(%q) = %+v does not match etcd's %v", m.Name, got, m)
		}
	}
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	// Every member serves the write (linearizable reads go through raft).
	for _, ep := range c.Endpoints() {
		one, err := c.Client(ep)
		if err != nil {
			t.Fatal(err)
		}
		r, err := one.Get(ctx, "k")
		one.Close()
		if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
			t.Fatalf("get from %s: %v %v", ep, r, err)
		}
	}
}

func TestClusterRequiresClientCertificate(t *testing.T) {
	c := start(t, etcdcluster.Options{Size: 1})
	noCert := &tls.Config{RootCAs: c.CA.Pool(), MinVersion: tls.VersionTLS12}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), TLS: noCert, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return // refused at dial: what we want
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if _, err := cli.Get(ctx, "k"); err == nil {
		t.Fatal("a client without certificate could read")
	}
}

func TestStopAndRestartKeepsData(t *testing.T) {
	c := start(t, etcdcluster.Options{Names: []string{"a", "b", "c"}})
	ctx := t.Context()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(leader.Name); err != nil {
		t.Fatal(err)
	}
	if c.Running(leader.Name) {
		t.Fatal("stopped member still running")
	}
	if got := len(c.Endpoints()); got != 2 {
		t.Fatalf("%d running endpoints, want 2", got)
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "during", "outage"); err != nil {
		t.Fatalf("two of three members should still accept writes: %v", err)
	}
	if err := c.Restart(ctx, leader.Name); err != nil {
		t.Fatal(err)
	}
	one, err := c.Client(leader.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	// The restarted member catches up with the write it missed.
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := one.Get(ctx, "during")
		if err == nil && len(r.Kvs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted member did not catch up: %v %v", r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestAddLearner(t *testing.T) {
	c := start(t, etcdcluster.Options{Names: []string{"a", "b", "c"}})
	m, err := c.AddLearner(t.Context(), "d")
	if err != nil {
		t.Fatal(err)
	}
	if m.IP != "127.0.0.4" {
		t.Errorf("learner on %s, want 127.0.0.4", m.IP)
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	list, err := cli.MemberList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var learners []*etcdserverpb.Member
	for _, pm := range list.Members {
		if pm.IsLearner {
			learners = append(learners, pm)
		}
	}
	if len(learners) != 1 || learners[0].ID != m.ID || learners[0].Name != "d" {
		t.Fatalf("learners = %v, want only d (%x)", learners, m.ID)
	}
	// A removed member stops itself, and stops counting as running at once.
	if _, err := cli.MemberRemove(t.Context(), m.ID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := c.WaitStopped(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if c.Running("d") || len(c.Endpoints()) != 3 {
		t.Fatalf("removed member still listed: running %v, endpoints %v", c.Running("d"), c.Endpoints())
	}
}

func TestSmallQuotaRaisesNoSpaceAlarm(t *testing.T) {
	c := start(t, etcdcluster.Options{Size: 1, QuotaBackendBytes: 4 << 20})
	res, err := c.Fill(t.Context(), "fill/", 64<<20, 128<<10)
	if !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("Fill past the quota: err = %v, want NOSPACE", err)
	}
	if res.Keys == 0 {
		t.Error("nothing written before the quota was hit")
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	alarms, err := cli.AlarmList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(alarms.Alarms) != 1 || alarms.Alarms[0].Alarm != etcdserverpb.AlarmType_NOSPACE {
		t.Fatalf("alarms = %v, want one NOSPACE", alarms.Alarms)
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string]etcdcluster.Options{
		"no members":     {},
		"duplicate name": {Names: []string{"a", "a"}},
		"comma in name":  {Names: []string{"a,b"}},
	} {
		t.Run(name, func(t *testing.T) {
			if c, err := etcdcluster.Start(t.Context(), opts); err == nil {
				c.Close()
				t.Fatal("Start succeeded")
			}
		})
	}
}
