package sandboxtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cpwarden/cpwarden/internal/sandbox/kubeapi"
	"github.com/cpwarden/cpwarden/internal/sandbox/moto"
	"github.com/cpwarden/cpwarden/internal/sandbox/rie"
	"github.com/cpwarden/cpwarden/internal/sandbox/sandboxtest"
)

var motoSrv sandboxtest.Shared[*moto.Server]

func TestMain(m *testing.M) {
	code := m.Run()
	_ = motoSrv.Stop()
	os.Exit(code)
}

// recorder is a testing.TB that records how a test ended instead of ending
// it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

func TestRequireSkipsForAMissingToolAndFailsOtherwise(t *testing.T) {
	for _, missing := range []error{moto.ErrNotInstalled, kubeapi.ErrNotBuilt, rie.ErrNotInstalled} {
		r := &recorder{TB: t}
		sandboxtest.Require(r, fmt.Errorf("sandbox: a required tool is missing: %w", missing), "start it")
		if r.failed != "" || !strings.Contains(r.skipped, missing.Error()) {
			t.Errorf("%v: skipped %q, failed %q; want a skip naming the install command", missing, r.skipped, r.failed)
		}
	}
	r := &recorder{TB: t}
	sandboxtest.Require(r, errors.New("port taken"), "start it")
	if r.skipped != "" || r.failed != "start it: port taken" {
		t.Errorf("skipped %q, failed %q; want a failure", r.skipped, r.failed)
	}
	r = &recorder{TB: t}
	sandboxtest.Require(r, nil, "start it")
	if r.skipped != "" || r.failed != "" {
		t.Errorf("nil error ended the test: skipped %q, failed %q", r.skipped, r.failed)
	}
}

func TestSeedGroupAndSharedMoto(t *testing.T) {
	m := motoSrv.Get(t, sandboxtest.StartMoto)
	if again := motoSrv.Get(t, sandboxtest.StartMoto); again != m {
		t.Fatal("a second Get started another server")
	}
	g := sandboxtest.SeedGroup(t, m, "cp-seed", 3)
	if g.Name != "cp-seed" || len(g.Instances) != 3 {
		t.Fatalf("group %+v", g)
	}
	ids, names := g.IDs(), g.DNSNames()
	for i := range ids {
		if i > 0 && ids[i-1] >= ids[i] {
			t.Errorf("IDs not sorted: %v", ids)
		}
		if !strings.HasSuffix(names[i], ".ec2.internal") {
			t.Errorf("instance %s: private DNS name %q", ids[i], names[i])
		}
	}
	out, err := m.EC2().DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			i := slices.Index(ids, aws.ToString(in.InstanceId))
			if i < 0 || names[i] != aws.ToString(in.PrivateDnsName) {
				t.Errorf("instance %s: name %q, want %q", aws.ToString(in.InstanceId), aws.ToString(in.PrivateDnsName), names[max(i, 0)])
			}
		}
	}
}

// TestMotoIsStoppedWhenTheTestEnds: a per-test server is gone after the
// test's cleanup.
func TestMotoIsStoppedWhenTheTestEnds(t *testing.T) {
	var srv *moto.Server
	t.Run("uses", func(t *testing.T) {
		srv = sandboxtest.Moto(t)
		if _, err := srv.SSM().DescribeParameters(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
	})
	if srv == nil {
		return // skipped: no moto_server
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	select {
	case <-srv.Exited():
	case <-ctx.Done():
		t.Fatal("moto_server still running after its test ended")
	}
}
