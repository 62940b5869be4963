#!/usr/bin/env bash
# Runs the States Language benchmark on cpwarden's engine (internal/asl, via BenchmarkExecution in this module) and on
# aws-local-stepfunctions (bench.mjs) in one go, on the same definition (internal/asl/testdata/bench.asl.json) with
# the same in-process task handlers, and prints executions per second of each and the ratio. The issue's target is
# a ratio of at least 50.
#
# The two engines take turns for a few rounds and each one's best round counts: on a shared machine (CI, several
# developers on two cores) a round can lose most of its time to other work, and alternating exposes both engines
# to the same conditions. Executions per CPU second (whole process, garbage collection included) are printed
# beside executions per wall-clock second because they vary less with load.
#
# Usage: bench/asl/run.sh [seconds per engine per round, default 3] [rounds, default 3]
# Needs Go and Node (20 or later) with npm; the first run installs aws-local-stepfunctions from package-lock.json.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-3}
rounds=${2:-3}

if [ ! -d node_modules/aws-local-stepfunctions ]; then
	npm ci --no-audit --no-fund >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/aslbench.test" .
"$tmp/aslbench.test" -test.run '^TestBenchmarkDefinitionSucceeds$' >/dev/null

# metric prints the number that precedes the unit $2 in the line $1.
metric() { awk -v unit="$2" '{ for (i = 2; i <= NF; i++) if ($i == unit) { print $(i - 1); exit } }' <<<"$1"; }
# max prints the larger of two numbers.
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }

go_wall=0 go_cpu=0 node_wall=0 node_cpu=0
for round in $(seq "$rounds"); do
	go_line=$("$tmp/aslbench.test" -test.run '^$' -test.bench '^BenchmarkExecution$' -test.benchtime "${secs}s" | grep '^BenchmarkExecution')
	node_line=$(node bench.mjs "$secs")
	echo "round $round: $go_line"
	echo "round $round: $node_line"
	go_wall=$(max "$go_wall" "$(metric "$go_line" executions/s)")
	go_cpu=$(max "$go_cpu" "$(metric "$go_line" executions/cpu-s)")
	node_wall=$(max "$node_wall" "$(metric "$node_line" executions/s)")
	node_cpu=$(max "$node_cpu" "$(metric "$node_line" executions/cpu-s)")
done

awk -v gw="$go_wall" -v gc="$go_cpu" -v nw="$node_wall" -v nc="$node_cpu" -v rounds="$rounds" 'BEGIN {
	printf "best of %d rounds            executions/s   executions/cpu-s\n", rounds
	printf "%-26s %14.0f %18.0f\n", "cpwarden internal/asl", gw, gc
	printf "%-26s %14.0f %18.0f\n", "aws-local-stepfunctions", nw, nc
	printf "%-26s %13.1fx %17.1fx   (target: 50x)\n", "ratio", gw / nw, (nc > 0 ? gc / nc : 0)
}'
