package health_test

import (
	"context"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
	"github.com/cpwarden/cpwarden/internal/sandbox/testnet"
	"github.com/cpwarden/cpwarden/workers/health"
)

// BenchmarkProbeRoundWithABlackholedMember probes a five-member cluster
// whose fifth endpoint accepts connections and never answers, and reports
// the round's wall time as a ratio of the per-probe deadline (target: at
// most 1.10).
func BenchmarkProbeRoundWithABlackholedMember(b *testing.B) {
	ctx := context.Background()
	c, err := etcdcluster.Start(ctx, etcdcluster.Options{Size: 5})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	eps := c.Endpoints()
	eps[4] = "https://" + testnet.Blackhole(b)
	const deadline = time.Second
	p := health.Prober{Dialer: etcdconn.As[health.Etcd]{Dialer: etcdconn.Dialer{TLS: c.ClientTLS(), FailFast: true}}, Timeout: deadline}
	var worst, total time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		q := health.Judge(p.Round(ctx, eps))
		took := time.Since(start)
		total += took
		worst = max(worst, took)
		if q.Lost || q.HealthyVoters != 4 || q.Voters != 5 {
			b.Fatalf("round judged voters %d healthy %d lost %v", q.Voters, q.HealthyVoters, q.Lost)
		}
	}
	b.StopTimer() // the cluster's Close is not part of a round
	b.ReportMetric(total.Seconds()/float64(b.N)/deadline.Seconds(), "round/deadline")
	b.ReportMetric(worst.Seconds()/deadline.Seconds(), "worst-round/deadline")
}
