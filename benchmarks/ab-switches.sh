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
# Context switches are voluntary + nonvoluntary, summed over every thread:
#   server: /proc/PID/task/*/status before and after the client's run (its 200 warm-up round trips included);
#   client: /usr/bin/time's totals of a run of COUNT + 2000 round trips minus those of a run of 2000 (start-up and
#           JIT cancel out), divided by COUNT.
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

switches_of_pid() {
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }'
}

# client_run TOOL PORT N: prints "SWITCHES RESULT-LINE".
client_run() {
  local line
  line=$(/usr/bin/time -f "TIME %w %c" "$1" client --port "$2" --mode echo --size 64 --count "$3" 2>"$OUT/time.txt" | tail -1)
  local t
  t=$(awk '/^TIME/ { print $2 + $3 }' "$OUT/time.txt")
  echo "$t $line"
}

echo "host: $(uname -n), $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'); A=$A ($(git -C "$A" rev-parse --short HEAD)) B=$B ($(git -C "$B" rev-parse --short HEAD))"
for round in $(seq "$ROUNDS"); do
  for side in a b; do
    tool=$OUT/$side/TinyProto.Async.LoadTest
    "$tool" server --port 0 >"$OUT/server.out" 2>/dev/null &
    server=$!
    port=""
    for _ in $(seq 100); do
      port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$OUT/server.out" | head -1)
      [[ -n $port ]] && break
      sleep 0.1
    done
    [[ -n $port ]] || { echo "server $side did not start" >&2; exit 1; }

    read -r small_sw _ < <(client_run "$tool" "$port" "$SMALL")
    before=$(switches_of_pid "$server")
    read -r big_sw result < <(client_run "$tool" "$port" $((COUNT + SMALL)))
    after=$(switches_of_pid "$server")
    kill -TERM "$server"; wait "$server" 2>/dev/null || true

    rate=$(sed -n 's/.*msg_per_s=\([0-9.]*\).*/\1/p' <<<"$result")
    awk -v side="$side" -v round="$round" -v rate="$rate" -v n="$COUNT" -v total=$((COUNT + SMALL + 200)) \
        -v cs=$((big_sw - small_sw)) -v ss=$((after - before)) \
      'BEGIN { printf "RESULT build=%s round=%d rt_per_s=%.0f server_switches_per_rt=%.2f client_switches_per_rt=%.2f\n", side, round, rate, ss / total, cs / n }'
  done
done
