#!/usr/bin/env bash
# Compares two builds of the library side by side: 64 B lock-step echo over loopback with the load tool of each
# (its own server and client), rounds interleaved A, B, A, B, ..., and prints per run the rate and the context
# switches per round trip of each side.
#
# Usage: benchmarks/ab-switches.sh DIR_A DIR_B [ROUNDS] [COUNT]
#   DIR_A, DIR_B  checkouts of this repository (e.g. a `git worktree` of the commit before a change, and this one)
#   ROUNDS        interleaved rounds [3]
#   COUNT         measured round trips per run [30000]
#
# Context switches are voluntary + nonvoluntary, summed over every thread of each process's whole life
# (/usr/bin/time), threads that ended included: a run of COUNT + 2000 round trips minus a run of 2000 (start-up and
# JIT cancel out), divided by COUNT, for the server and the client alike.
# Measure with nothing else running: no builds, no tests.
set -euo pipefail

[[ $# -ge 2 ]] || { sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 2; }
A=$(cd "$1" && pwd)
B=$(cd "$2" && pwd)
ROUNDS=${3:-3}
COUNT=${4:-30000}
SMALL=2000
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT

publish() {
  dotnet publish "$1/benchmarks/TinyProto.Async.LoadTest/TinyProto.Async.LoadTest.csproj" -c Release -o "$2" >"$OUT/publish.log" 2>&1 \
    || { cat "$OUT/publish.log"; exit 1; }
}
publish "$A" "$OUT/a"
publish "$B" "$OUT/b"

# lifetime TOOL N: the build's server and client, each under /usr/bin/time, N round trips; prints
# "SERVER_SWITCHES CLIENT_SWITCHES RESULT-LINE". Counted over each process's whole life, so threads that ended
# (a connection's reader thread ends with it) are in.
lifetime() {
  /usr/bin/time -f "TIME %w %c" -o "$OUT/server-time.txt" "$1" server --port 0 >"$OUT/server.out" 2>/dev/null &
  local timer=$!
  local port=""
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$OUT/server.out" | head -1)
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { echo "the server of $1 did not start" >&2; exit 1; }
  local line
  line=$(/usr/bin/time -f "TIME %w %c" -o "$OUT/client-time.txt" "$1" client --port "$port" --mode echo --size 64 --count "$2" 2>/dev/null | tail -1)
  pkill -TERM -P "$timer" 2>/dev/null || true
  wait "$timer" 2>/dev/null || true
  echo "$(awk '/^TIME/ { print $2 + $3 }' "$OUT/server-time.txt") $(awk '/^TIME/ { print $2 + $3 }' "$OUT/client-time.txt") $line"
}

echo "host: $(uname -n), $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'); A=$A ($(git -C "$A" rev-parse --short HEAD)) B=$B ($(git -C "$B" rev-parse --short HEAD))"
for round in $(seq "$ROUNDS"); do
  for side in a b; do
    tool=$OUT/$side/TinyProto.Async.LoadTest
    read -r s0 c0 _ < <(lifetime "$tool" "$SMALL")
    read -r s1 c1 result < <(lifetime "$tool" $((COUNT + SMALL)))
    rate=$(sed -n 's/.*msg_per_s=\([0-9.]*\).*/\1/p' <<<"$result")
    awk -v side="$side" -v round="$round" -v rate="$rate" -v n="$COUNT" -v cs=$((c1 - c0)) -v ss=$((s1 - s0)) \
      'BEGIN { printf "RESULT build=%s round=%d rt_per_s=%.0f server_switches_per_rt=%.2f client_switches_per_rt=%.2f\n", side, round, rate, ss / n, cs / n }'
  done
done
