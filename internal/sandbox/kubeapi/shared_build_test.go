package kubeapi

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// TestToolModuleCompilesTheSameVersionsAsCpwarden: kube-apiserver is built
// from its own module (tools/kube-apiserver) with cpwarden's build flags, so
// that on a fresh machine the packages both compile (k8s.io/api,
// apimachinery, client-go, the etcd client, gRPC, x/net, x/sys, ...) are
// compiled once and shared through the build cache: `make demo` builds
// both, and one version apart in x/sys recompiles nearly everything a
// second time (measured: minutes). Every module whose packages both builds
// compile must be at the same version in both; the fix is
// `go get <module>@<version>` in whichever module is behind.
func TestToolModuleCompilesTheSameVersionsAsCpwarden(t *testing.T) {
	if testing.Short() {
		t.Skip("lists two module graphs with the go command")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	ours := compiledModules(t, root, "./cmd/cpwarden", "./workers/bootstrap")
	tool := compiledModules(t, filepath.Join(root, "tools", "kube-apiserver"), "k8s.io/kubernetes/cmd/kube-apiserver")
	var shared, differ []string
	for mod, v := range ours {
		tv, ok := tool[mod]
		if !ok {
			continue
		}
		shared = append(shared, mod)
		if tv != v {
			differ = append(differ, mod+": cpwarden "+v+", tools/kube-apiserver "+tv)
		}
	}
	sort.Strings(differ)
	if len(differ) > 0 {
		t.Fatalf("modules compiled by both builds at different versions (the build cache cannot share them):\n  %s", strings.Join(differ, "\n  "))
	}
	// The check means something only if the builds do share modules.
	for _, want := range []string{"k8s.io/api", "k8s.io/client-go", "golang.org/x/sys", "google.golang.org/grpc"} {
		if _, ok := ours[want]; !ok {
			t.Errorf("%s is not compiled into cpwarden any more: revisit this test", want)
		} else if _, ok := tool[want]; !ok {
			t.Errorf("%s is not compiled into kube-apiserver: revisit this test", want)
		}
	}
	t.Logf("%d modules compiled by both, all at the same version", len(shared))
}

// compiledModules maps the path of every module that provides a package of
// pkgs' builds (for linux, without cgo, as every build here is) to its
// version, or to the module and version that replace it.
func compiledModules(t *testing.T, dir string, pkgs ...string) map[string]string {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{with .Module}}{{$p := .Path}}{{.Path}} {{with .Replace}}{{if ne .Path $p}}{{.Path}}@{{end}}{{.Version}}{{else}}{{.Version}}{{end}}{{end}}"}, pkgs...)
	cmd := exec.Command(goCommand(), args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	mods := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		path, version, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && version != "" {
			mods[path] = version
		}
	}
	return mods
}

// goCommand is the go command: go test puts the toolchain that runs the
// test first on PATH.
func goCommand() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}
