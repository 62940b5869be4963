package backup_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cpwarden/cpwarden/internal/etcdconn"
	"github.com/cpwarden/cpwarden/internal/sandbox/etcdcluster"
	"github.com/cpwarden/cpwarden/internal/sandbox/s3store"
	"github.com/cpwarden/cpwarden/workers/backup"
)

// The benchmark measures the worker, not the servers it talks to: etcd and
// the S3 store run in a child process (this test binary re-executed in
// server mode), so the benchmark process's peak RSS and Go heap are the
// worker's own, plus the test binary's baseline.
//
// The store is s3store with DiscardMultipartBodies: gofakes3's protocol
// handling, but multipart parts are SHA-256-verified against the
// x-amz-checksum-sha256 header the transfer manager sends and then dropped,
// instead of gofakes3's in-memory parts (read whole, MD5'd under one lock,
// joined into one buffer at completion), which made the store the
// bottleneck. The child reports what it verified when the benchmark ends,
// and the benchmark fails unless every byte uploaded was verified.

const benchServerEnv = "CPWARDEN_BACKUP_BENCH_SERVER_MIB"

func isBenchServer() bool { return os.Getenv(benchServerEnv) != "" }

type benchServerInfo struct {
	Endpoint, S3URL string
	CA, Cert, Key   string
	DBBytes         int64
	PID             int
}

// benchServer fills a one-member etcd with the requested MiB of values,
// serves an S3 store, prints how to reach both on one JSON line, and runs
// until its stdin closes.
func benchServer() int {
	mib, err := strconv.Atoi(os.Getenv(benchServerEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	c, err := etcdcluster.Start(ctx, etcdcluster.Options{Names: []string{"bench"}, AddressOffset: 60, QuotaBackendBytes: 8 << 30})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	if _, err := c.Fill(ctx, "/bench/", int64(mib)<<20, 1<<20); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	store, err := s3store.Start(ctx, s3store.Options{Buckets: []string{bucket}, DiscardMultipartBodies: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer store.Close()
	cli, err := c.Client()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st, err := cli.Status(ctx, c.Endpoints()[0])
	_ = cli.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	info := benchServerInfo{
		Endpoint: c.Endpoints()[0], S3URL: store.URL,
		CA: string(c.CA.CertPEM), Cert: string(c.ClientCert.CertPEM), Key: string(c.ClientCert.KeyPEM),
		DBBytes: st.DbSize, PID: os.Getpid(),
	}
	enc := json.NewEncoder(os.Stdout)
	_ = enc.Encode(info)
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = enc.Encode(store.Stats())
	return 0
}

// startBenchServer starts the child; finish stops it and returns what its
// store verified.
func startBenchServer(b *testing.B, mib int) (info benchServerInfo, finish func() s3store.Stats) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	// A GOMEMLIMIT given to measure the worker under a memory limit is not
	// meant for the servers.
	cmd.Env = append(os.Environ(), benchServerEnv+"="+strconv.Itoa(mib), "GOMEMLIMIT=off")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var once sync.Once
	var stats s3store.Stats
	out := bufio.NewReader(stdout)
	finish = func() s3store.Stats {
		once.Do(func() {
			_ = stdin.Close()
			if line, err := out.ReadBytes('\n'); err == nil {
				_ = json.Unmarshal(line, &stats)
			}
			_ = cmd.Wait()
		})
		return stats
	}
	b.Cleanup(func() { finish() })
	line, err := out.ReadBytes('\n')
	if err != nil {
		b.Fatalf("bench server: %v", err)
	}
	if err := json.Unmarshal(line, &info); err != nil {
		b.Fatalf("bench server said %q: %v", line, err)
	}
	return info, finish
}

// peak samples the Go heap while a function runs and reads the process's
// peak RSS (VmHWM, reset beforehand through /proc/self/clear_refs).
type peak struct {
	stop       chan struct{}
	wg         sync.WaitGroup
	heap, live uint64
	baseRSS    float64
}

func startPeak() *peak {
	// Return what earlier phases freed to the OS, so VmHWM restarts from
	// this process's baseline.
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // resets VmHWM to the current RSS
	p := &peak{stop: make(chan struct{}), baseRSS: procStatus("VmRSS:")}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	p.wg.Go(func() {
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			p.heap = max(p.heap, s[0].Value.Uint64())
			p.live = max(p.live, s[1].Value.Uint64())
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	})
	return p
}

// end returns the peak heap (objects, live and not yet swept), the peak
// live heap measured by the last GC, and the peak RSS, in MiB.
func (p *peak) end() (heap, live, rss float64) {
	close(p.stop)
	p.wg.Wait()
	return float64(p.heap) / (1 << 20), float64(p.live) / (1 << 20), procStatus("VmHWM:") / (1 << 20)
}

// procStatus reads a size field of /proc/self/status, in bytes.
func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024
		}
	}
	return 0
}

// BenchmarkBackupStreaming backs up 128 MiB and 512 MiB databases to the
// local S3 store and reports, measured in the same run: the worker's
// throughput, the raw throughput of Maintenance.Snapshot into io.Discard
// from the same member, their ratio, and the worker's peak Go heap and RSS.
// Run it with: go test -run '^$' -bench BackupStreaming -benchtime 1x ./workers/backup
func BenchmarkBackupStreaming(b *testing.B) {
	if testing.Short() {
		b.Skip("fills etcd with up to 512 MiB")
	}
	for _, mib := range []int{128, 512} {
		b.Run(fmt.Sprintf("db=%dMiB", mib), func(b *testing.B) {
			info, finish := startBenchServer(b, mib)
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM([]byte(info.CA))
			pair, err := tls.X509KeyPair([]byte(info.Cert), []byte(info.Key))
			if err != nil {
				b.Fatal(err)
			}
			tlsCfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
			s3c := s3.New(s3.Options{
				Region: s3store.Region, BaseEndpoint: aws.String(info.S3URL), UsePathStyle: true,
				Credentials: credentials.NewStaticCredentialsProvider("bench", "bench-secret", ""),
			})
			w := backup.New(backup.Config{Bucket: bucket, Prefix: prefix},
				backup.Deps{Peers: etcdconn.StaticPeers{info.Endpoint}, Dialer: etcdconn.As[backup.Etcd]{Dialer: etcdconn.Dialer{TLS: tlsCfg, SnapshotBuffers: true}}, S3: s3c})
			up := tm.New(s3c, func(o *tm.Options) {
				o.PartSizeBytes, o.MultipartUploadThreshold = backup.DefaultPartSize, backup.DefaultPartSize
				o.Concurrency = backup.DefaultConcurrency
				o.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmSha256
			})
			ctx := context.Background()

			tuned, err := etcdconn.SnapshotDialOptions()
			if err != nil {
				b.Fatal(err)
			}
			var rawSecs, tunedSecs, workerSecs, storeSecs float64
			var rawCPU, rawServerCPU, workerCPU, workerServerCPU float64
			var bytes, uploaded int64
			var heap, live, rss, base float64
			b.ResetTimer()
			for range b.N {
				// The baseline: Maintenance.Snapshot into io.Discard
				// with a default client; and the same read with the client
				// settings the worker uses (etcdconn.SnapshotDialOptions), so the
				// worker's own overhead shows apart from that tuning.
				n, secs, cpu, scpu := rawRead(b, "raw", info, tlsCfg)
				rawSecs, rawCPU, rawServerCPU = rawSecs+secs, rawCPU+cpu, rawServerCPU+scpu
				_, secs, _, _ = rawRead(b, "raw-tuned", info, tlsCfg, tuned...)
				tunedSecs += secs

				p := startPeak()
				self0, server0 := cpuSecs(info.PID)
				start := time.Now()
				var out backup.Out
				pprof.Do(ctx, pprof.Labels("phase", "worker"), func(ctx context.Context) {
					out, err = w.Backup(ctx, backup.In{ClusterName: cluster})
				})
				workerSecs += time.Since(start).Seconds()
				self1, server1 := cpuSecs(info.PID)
				workerCPU, workerServerCPU = workerCPU+self1-self0, workerServerCPU+server1-server0
				h, l, r := p.end()
				heap, live, rss, base = max(heap, h), max(live, l), max(rss, r), max(base, p.baseRSS/(1<<20))
				if err != nil {
					b.Fatal(err)
				}
				if out.Bytes != n {
					b.Fatalf("worker streamed %d bytes, raw read %d", out.Bytes, n)
				}
				bytes += n

				// The store's own ceiling: the same bytes from memory through
				// the same transfer manager settings, no etcd involved.
				start = time.Now()
				if _, err := up.UploadObject(ctx, &tm.UploadObjectInput{Bucket: aws.String(bucket), Key: aws.String("store-only"), Body: io.LimitReader(zeros{}, n)}); err != nil {
					b.Fatal(err)
				}
				storeSecs += time.Since(start).Seconds()
				uploaded += 2 * n
			}
			b.StopTimer()
			if st := finish(); st.BytesDiscarded != uploaded || st.BytesVerified != uploaded || st.ChecksumsVerified != st.PartsDiscarded || st.UploadsCompleted != int64(2*b.N) {
				b.Fatalf("the store verified %+v, want all %d bytes uploaded in %d uploads checked", st, uploaded, 2*b.N)
			}
			mb := float64(bytes) / (1 << 20)
			b.ReportMetric(mb/workerSecs, "MiB/s")
			b.ReportMetric(mb/rawSecs, "raw-MiB/s")
			b.ReportMetric(100*rawSecs/workerSecs, "%-of-raw")
			b.ReportMetric(mb/tunedSecs, "raw-tuned-MiB/s")
			b.ReportMetric(100*tunedSecs/workerSecs, "%-of-raw-tuned")
			b.ReportMetric(mb/storeSecs, "store-only-MiB/s")
			b.ReportMetric(heap, "peak-heap-MiB")
			b.ReportMetric(live, "peak-live-heap-MiB")
			b.ReportMetric(rss, "peak-RSS-MiB")
			b.ReportMetric(base, "baseline-RSS-MiB")
			// CPU per MiB, of this process and of the servers' (etcd, and
			// the store verifying parts while the worker runs).
			b.ReportMetric(1000*rawCPU/mb, "raw-CPU-ms/MiB")
			b.ReportMetric(1000*rawServerCPU/mb, "raw-server-CPU-ms/MiB")
			b.ReportMetric(1000*workerCPU/mb, "worker-CPU-ms/MiB")
			b.ReportMetric(1000*workerServerCPU/mb, "worker-server-CPU-ms/MiB")
			b.ReportMetric(float64(info.DBBytes)/(1<<20), "db-MiB")
		})
	}
}

// rawRead reads one snapshot into io.Discard with a client of its own,
// under the pprof label phase=<phase> (go test -cpuprofile, then pprof
// -tagfocus phase=worker shows one phase). It returns the bytes, the wall
// seconds and this process's and the server child's CPU seconds.
func rawRead(b *testing.B, phase string, info benchServerInfo, tlsCfg *tls.Config, opts ...grpc.DialOption) (n int64, secs, cpu, serverCPU float64) {
	b.Helper()
	pprof.Do(context.Background(), pprof.Labels("phase", phase), func(ctx context.Context) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{info.Endpoint}, TLS: tlsCfg, Logger: zap.NewNop(), DialOptions: opts})
		if err != nil {
			b.Fatal(err)
		}
		defer cli.Close()
		self0, server0 := cpuSecs(info.PID)
		start := time.Now()
		snap, err := cli.SnapshotWithVersion(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n, err = io.Copy(io.Discard, snap.Snapshot); err != nil {
			b.Fatal(err)
		}
		secs = time.Since(start).Seconds()
		self1, server1 := cpuSecs(info.PID)
		cpu, serverCPU = self1-self0, server1-server0
	})
	return n, secs, cpu, serverCPU
}

// cpuSecs returns the CPU time (user and system) used so far by this
// process and by the server child, whose etcd serves the snapshot in both
// phases and whose store verifies parts in the worker's. On a loaded
// machine CPU per MiB is steadier than wall-clock throughput, and it shows
// what the worker costs beyond the raw read.
func cpuSecs(child int) (self, server float64) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	self = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	b, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat")
	if err != nil {
		return self, 0
	}
	// Fields after the parenthesised command: utime and stime are the
	// 12th and 13th, in clock ticks (100 per second on Linux).
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) > 12 {
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		server = (ut + st) / 100
	}
	return self, server
}

// zeros is an endless, free source of bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
