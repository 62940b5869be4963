// Package coldstart measures the cold start of cpwarden's Lambda binary
// under the Runtime Interface Emulator against a minimal aws-lambda-go
// function (bench/coldstart/floor) built with the same flags, in the same
// run, and the size of the deployment zip `make package` ships. A third
// function, bench/coldstart/libfloor, is the floor linked with every library
// the bootstrap imports: its cold start is the libraries' share (Go runs
// every linked package's initialisation before main), the bootstrap's above
// it cpwarden's own.
//
//	go test -run '^$' -bench . -benchtime 10x ./bench/coldstart
//
// Targets (issue 11): the bootstrap's init within 1.25x of libfloor (the floor linked
// with the libraries the workers must use; per-handler binaries are not
// wanted); zip under 25 MiB. init-x-floor stays reported for reference.
package coldstart

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cpwarden/cpwarden/internal/sandbox/rie"

	"github.com/cpwarden/cpwarden/internal/sandbox/proc"
)

const (
	floorPackage    = "github.com/cpwarden/cpwarden/bench/coldstart/floor"
	libFloorPackage = "github.com/cpwarden/cpwarden/bench/coldstart/libfloor"
)

func build(b *testing.B, opts rie.BuildOptions) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	p, err := rie.Build(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// coldStart is one function's cold start:
//   - Init is the runtime's init as the emulator logs it: from starting the
//     process to its first request for work (the REPORT line's "Init
//     Duration" is no use: this emulator measures only the hand-off, ~0.05 ms);
//   - ColdInvoke runs from sending the first invocation to its answer: the
//     process start, its init and the invocation, what a caller waits for;
//   - FirstResponse adds the emulator's own start before that.
type coldStart struct {
	Init, ColdInvoke, FirstResponse time.Duration
}

func measure(b *testing.B, opts rie.Options, payload string) coldStart {
	b.Helper()
	start := time.Now()
	f, err := rie.Start(context.Background(), opts)
	if errors.Is(err, rie.ErrNotInstalled) {
		b.Skip(rie.InstallHint)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer f.Stop()
	invoke := time.Now()
	_, err = f.Invoke(context.Background(), []byte(payload))
	first := time.Since(start)
	cold := time.Since(invoke)
	var fe *rie.FunctionError
	if err != nil && !errors.As(err, &fe) {
		b.Fatal(err)
	}
	inits := f.Inits()
	if len(inits) != 1 || inits[0].Status != "success" {
		b.Fatalf("inits = %+v, want one successful init", inits)
	}
	return coldStart{Init: inits[0].Duration, ColdInvoke: cold, FirstResponse: first}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkColdStart alternates the floor and the bootstrap in each
// iteration, so both see the same machine load, and reports medians and
// their ratios. The bootstrap runs complete-lifecycle on an empty input (an
// Input.Invalid answer: no network), so the first response measures the
// binary, not a dependency; every handler runs the same init.
func BenchmarkColdStart(b *testing.B) {
	checkLibFloor(b)
	floor := build(b, rie.BuildOptions{Package: floorPackage, Output: filepath.Join(proc.BinDir(), "coldstart-floor-linux-amd64")})
	libFloor := build(b, rie.BuildOptions{Package: libFloorPackage, Output: filepath.Join(proc.BinDir(), "coldstart-libfloor-linux-amd64")})
	boot := build(b, rie.BuildOptions{})
	env := map[string]string{
		"CLUSTER_NAME": "bench", "LOG_LEVEL": "info",
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
		"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
	}
	probeEnv := map[string]string{
		"CONTROL_PLANE_ASG": "bench-cp", "ETCD_TLS_SECRET_ARN": "arn:etcd", "KUBE_SECRET_ARN": "arn:kube", "BACKUP_BUCKET": "bench",
	}
	for k, v := range env {
		probeEnv[k] = v
	}
	var floorInit, libInit, bootInit, probeInit, floorCold, bootCold, floorFirst, bootFirst []time.Duration
	b.ResetTimer()
	for b.Loop() {
		f := measure(b, rie.Options{Bootstrap: floor, Handler: "floor"}, `{"a":1}`)
		l := measure(b, rie.Options{Bootstrap: libFloor, Handler: "libfloor"}, `{"a":1}`)
		libInit = append(libInit, l.Init)
		c := measure(b, rie.Options{Bootstrap: boot, Handler: "complete-lifecycle", Env: env}, `{}`)
		p := measure(b, rie.Options{Bootstrap: boot, Handler: "health-probe", Env: probeEnv}, `{}`)
		floorInit, floorCold, floorFirst = append(floorInit, f.Init), append(floorCold, f.ColdInvoke), append(floorFirst, f.FirstResponse)
		bootInit, bootCold, bootFirst = append(bootInit, c.Init), append(bootCold, c.ColdInvoke), append(bootFirst, c.FirstResponse)
		probeInit = append(probeInit, p.Init)
	}
	b.StopTimer()
	b.ReportMetric(ms(median(floorInit)), "floor-init-ms")
	b.ReportMetric(ms(median(bootInit)), "bootstrap-init-ms")
	b.ReportMetric(ms(median(probeInit)), "probe-init-ms")
	b.ReportMetric(ms(median(bootInit))/ms(median(floorInit)), "init-x-floor")
	b.ReportMetric(ms(median(libInit)), "libfloor-init-ms")
	b.ReportMetric(ms(median(libInit))/ms(median(floorInit)), "libfloor-init-x-floor")
	b.ReportMetric(ms(median(bootInit))/ms(median(libInit)), "init-x-libfloor")
	b.ReportMetric(ms(median(floorCold)), "floor-cold-invoke-ms")
	b.ReportMetric(ms(median(bootCold)), "bootstrap-cold-invoke-ms")
	b.ReportMetric(ms(median(bootCold))/ms(median(floorCold)), "cold-invoke-x-floor")
	b.ReportMetric(ms(median(floorFirst)), "floor-first-ms")
	b.ReportMetric(ms(median(bootFirst)), "bootstrap-first-ms")
	b.ReportMetric(ms(median(bootFirst))/ms(median(floorFirst)), "first-x-floor")
}

// checkLibFloor fails the benchmark when bench/coldstart/libfloor no longer
// links exactly the external packages cpwarden's own packages in the
// bootstrap import, so that its cold start stays the libraries' share.
func checkLibFloor(b *testing.B) {
	b.Helper()
	external := func(args ...string) []string {
		cmd := exec.Command("go", append([]string{"list", "-deps", "-f", "{{if and .Module (eq .Module.Path \"github.com/cpwarden/cpwarden\")}}{{join .Imports \"\\n\"}}{{end}}"}, args...)...)
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("go list %v: %v", args, err)
		}
		var pkgs []string
		for _, p := range strings.Split(string(out), "\n") {
			first, _, _ := strings.Cut(p, "/")
			if strings.Contains(first, ".") && !strings.HasPrefix(p, "github.com/cpwarden/cpwarden") {
				pkgs = append(pkgs, p)
			}
		}
		slices.Sort(pkgs)
		return slices.Compact(pkgs)
	}
	boot, lib := external("github.com/cpwarden/cpwarden/workers/bootstrap"), external(libFloorPackage)
	if !slices.Equal(boot, lib) {
		b.Fatalf("libfloor imports\n  %s\nbut the bootstrap's packages import\n  %s\nupdate bench/coldstart/libfloor", strings.Join(lib, "\n  "), strings.Join(boot, "\n  "))
	}
}

// BenchmarkZipSize builds the release binary (linux/arm64, as `make
// package`) and reports the size of its deployment zip, and the floor's.
// The first run compiles every dependency for arm64: minutes.
func BenchmarkZipSize(b *testing.B) {
	boot := build(b, rie.BuildOptions{GOARCH: "arm64"})
	floor := build(b, rie.BuildOptions{Package: floorPackage, GOARCH: "arm64", Output: filepath.Join(proc.BinDir(), "coldstart-floor-linux-arm64")})
	var bootZip, floorZip int
	for b.Loop() {
		bootZip = zipSize(b, boot)
		floorZip = zipSize(b, floor)
	}
	st, err := os.Stat(boot)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(bootZip)/(1<<20), "zip-MiB")
	b.ReportMetric(float64(bootZip)/(25<<20), "zip-x-limit")
	b.ReportMetric(float64(st.Size())/(1<<20), "binary-MiB")
	b.ReportMetric(float64(floorZip)/(1<<20), "floor-zip-MiB")
}

// zipSize zips the binary as `make package` does (one executable file
// named bootstrap, deflate at the best compression) and returns the size.
func zipSize(b *testing.B, bin string) int {
	b.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	return buf.Len()
}
