# shellcheck shell=bash
# Sourced by the tool scripts (tools/demo.sh, tools/kube-apiserver/build.sh,
# tools/rie/build.sh): the settings of their Go builds and the progress
# lines they print, so that a first build is never a silent five minutes.

# The compiler allocates heavily: collecting garbage an eighth as often cuts
# the CPU time of a first build by about a quarter (client-go, the S3 and
# etcd clients from scratch: 141 s at the default GOGC=100, 119 s at 400,
# 105 s at 800). The soft limit keeps the largest compile (the EC2 client,
# 3.2 GB at the default, 6 GB at 800 unbounded) near 4 GiB. Only the
# builds get these settings; set GOGC/GOMEMLIMIT to override them. They
# change how fast the compiler runs, not what it produces.
build_env=(GOGC="${GOGC:-800}" GOMEMLIMIT="${GOMEMLIMIT:-4GiB}")

# build_with_progress WHAT TOTAL COMMAND...: runs a go build or install
# given -v, which prints a package's name as it compiles it; every 20 s a
# line says how many of at most TOTAL packages it compiled (TOTAL may be
# empty when unknown). Afterwards it shows the compiler's messages
# (file:line: ... and their "# package" headers) and returns the command's
# status.
build_with_progress() {
  local what="$1" total="$2"; shift 2
  local start=$SECONDS next=20 log status=0 of=""
  [[ -n "$total" ]] && of=" of at most $total"
  log="$(mktemp)"
  "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (( SECONDS - start >= next )); then
      next=$((next + 20))
      echo "  … $what: $(grep -cv ':' "$log")$of packages compiled ($((SECONDS - start))s)"
    fi
  done
  wait "$pid" || status=$?
  grep -E '^#|:' "$log" | grep -v '^go: downloading ' | sed 's/^/  | /' || true
  rm -f "$log"
  return "$status"
}
