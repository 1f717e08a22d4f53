#!/usr/bin/env bash
# run.sh: the runs behind `make bench`. Each run's tables go to the results
# file (markdown) under a heading, with the command that made them and the
# machine it ran on. Usage:
#
#   e2e/bench/run.sh KUBEDAG_BINARY RESULTS_FILE
#
# BENCH_LONG=1 adds the long runs (500,000-IP restart, package benchmarks,
# the scale run at 200 nodes and 10,000 pods instead of 50 and 2,500).
# BENCH_SMALL=1 runs every section at a tiny size (what `make test` checks
# through TestRunScript): the tables are sane, the numbers meaningless.
set -euo pipefail

bin=${1:?usage: run.sh KUBEDAG_BINARY RESULTS_FILE}
out=${2:?usage: run.sh KUBEDAG_BINARY RESULTS_FILE}
small=${BENCH_SMALL:-}
long=${BENCH_LONG:-}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
{
  echo "# kubedag benchmark results"
  echo
  echo "Written by \`make bench\` (e2e/bench/run.sh); do not edit by hand, re-run it."
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)')"
  echo "- machine: $(nproc) CPUs ($cpu), $(uname -sr), $(go version 2>/dev/null | awk '{print $3}')"
  echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ -n "$small" ]; then
    echo "- mode: small (BENCH_SMALL=1: sizes too small for the numbers to mean anything)"
  else
    echo "- mode: full${long:+, long runs included (BENCH_LONG=1)}"
  fi
  echo
} >"$tmp"

# run_section TITLE COMMAND...: run COMMAND, append its output with the
# command, the load average at its start and how long it took. Other
# benchmarks (the agent's, the scale run) add their sections with it.
run_section() {
  local title=$1
  shift
  echo "== $title: $*" >&2
  local t0=$SECONDS load res
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  if ! res=$("$@" 2>&1); then
    echo "$res" >&2
    echo "bench section \"$title\" failed" >&2
    exit 1
  fi
  {
    echo "## $title"
    echo
    echo "\`$*\` (load average $load at start; took $((SECONDS - t0)) s)"
    echo
    echo '```'
    echo "$res"
    echo '```'
    echo
  } >>"$tmp"
}

# md_section TITLE COMMAND...: like run_section, for commands that write
# their own Markdown tables: every REPORT in an argument is replaced by a
# file the command writes, and that file is appended (the command's output
# is shown only if it fails).
md_section() {
  local title=$1
  shift
  local t0=$SECONDS load res report a
  local args=()
  report=$(mktemp)
  for a in "$@"; do args+=("${a//REPORT/$report}"); done
  echo "== $title: $*" >&2
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  if ! res=$("${args[@]}" 2>&1); then
    echo "$res" >&2
    echo "bench section \"$title\" failed" >&2
    rm -f "$report"
    exit 1
  fi
  {
    echo "## $title"
    echo
    echo "\`$*\` (load average $load at start; took $((SECONDS - t0)) s)"
    echo
    cat "$report"
    echo
  } >>"$tmp"
  rm -f "$report"
}

# section TITLE ARGS...: a run_section of `kubedag ARGS...`.
section() {
  local title=$1
  shift
  run_section "$title" "$bin" "$@"
}

if [ -n "$small" ]; then
  lat=(--duration 1s --ips 1000 --nodes 2 --poll-interval 500ms --drain 20s)
  section "Tag latency, 5 ms per call" bench --phases latency --rate 200 "${lat[@]}"
  section "Tag latency, high rate, call limit" bench --phases latency --rate 1000 --max-calls-per-second 40 "${lat[@]}"
  section "Tag latency, 200 ms per call" bench --phases latency --rate 20 --fw-latency 200ms "${lat[@]}"
  for n in 1000 5000; do
    section "Throughput and memory, $n IPs" bench --phases throughput --throughput-ips "$n"
  done
  section "Restart, 3000 IPs" bench --phases restart --restart-ips 3000
else
  section "Tag latency at 2,000 changes/s, 5 ms per call" bench --phases latency
  section "Tag latency at 20,000 changes/s, 5 ms per call" bench --phases latency --rate 20000 --duration 5s
  section "Tag latency at 20,000 changes/s, 5 ms per call, 80 calls/s limit" bench --phases latency --rate 20000 --duration 5s --max-calls-per-second 80
  section "Tag latency at 2,000 changes/s, 200 ms per call" bench --phases latency --fw-latency 200ms
  for n in 10000 100000 500000; do
    section "Throughput and memory, $n IPs" bench --phases throughput --throughput-ips "$n"
  done
  section "Restart, 100,000 IPs" bench --phases restart --restart-ips 100000
  section "Restart, 100,000 IPs, no TTL floor marker (baseline)" bench --phases restart --restart-ips 100000 --restart-no-floor
  # The agent and the scale run use the control-plane tools (make tools) and
  # run from the repository root, as make does. The scale run reports what
  # it measured even where changes stayed unacknowledged (-scale.strict=false).
  md_section "Agent memory and CPU, 250 pods on its node" \
    go test -count=1 -run '^$' -bench BenchmarkAgentRSS -benchtime=1x ./e2e/bench/agentbench -args -agentbench.report=REPORT
  if [ -n "$long" ]; then
    md_section "Scale: 200 nodes, 10,000 pods, 500 API writes/s" \
      go test -count=1 -run '^TestScale$' -timeout 90m ./e2e/bench/scale -args -scale.strict=false \
      -scale.nodes=200 -scale.pods=10000 -scale.services=50 -scale.rate=500 -scale.churn=60s -scale.report=REPORT
  else
    md_section "Scale: 50 nodes, 2,500 pods, 500 API writes/s" \
      go test -count=1 -run '^TestScale$' -timeout 60m ./e2e/bench/scale -args -scale.strict=false \
      -scale.nodes=50 -scale.pods=2500 -scale.services=25 -scale.rate=500 -scale.churn=30s -scale.report=REPORT
  fi
  # HA: the whole-system test's kill rounds, many of them, for the
  # distribution of the takeover time (make test kills 3 times).
  run_section "Takeover: kill -9 of the leader 20 times (two aggregator processes, real kube-apiserver)" \
    bash -c 'set -o pipefail; KUBEDAG_HA_KILLS=20 go test -count=1 -run "^TestHAKillAndFreeze$" -timeout 30m -v ./e2e/system | grep -E "ha_test.go|^(--- |ok|FAIL)"'
  if [ -n "$long" ]; then
    section "Restart, 500,000 IPs" bench --phases restart --restart-ips 500000
    run_section "Package benchmarks" go test -run '^$' -bench . -benchmem -benchtime=100x \
      ./aggregator/push ./aggregator/store ./aggregator/diff ./userid ./userid/panossim
  fi
fi

mkdir -p "$(dirname "$out")"
mv "$tmp" "$out"
trap - EXIT
echo "results written to $out" >&2
