#!/usr/bin/env bash
# Runs the load tool (ours), the C reference peer rawpeer and the bare .NET peers (BarePeer) side by side on this
# machine and appends the results to artifacts/perf/results.txt, one "RESULT label=... row=... key=value ..." line
# per row.
# benchmarks/chart.py turns that file into docs/perf-chart.svg and a Markdown table.
#
# Usage: benchmarks/measure.sh [--quick]
#   --quick   tiny counts, one repeat: a smoke check of the whole path, not numbers to publish
#
# Environment knobs (defaults in brackets; --quick lowers the counts):
#   RAWPEER_SRC     rawpeer.c, relative to the repo root or absolute [../shared/tools/rawpeer.c];
#                   missing -> the rawpeer, interop and placement rows are skipped
#   REPEATS         runs per lock-step pair (interleaved ours/rawpeer) and per one-way row; the median (by msg/s) is kept [3]
#   COUNT_0 COUNT_64 COUNT_4096 COUNT_65536 COUNT_1048576
#                   lock-step echo round trips per run, by payload size [30000 30000 20000 5000 1500]
#   INTEROP_COUNT   round trips of the 64 B interop rows [30000]
#   ONEWAY_COUNT    one-way 64 B messages (lock-step and pipelined rows) [200000]
#   BATCH_COUNT     one-way 64 B messages of the pipelined row sent in batches of 1000 (TransmitManyAsync) [5000000]
#   STREAM_SIZE     size of the one streamed message [0xF0FFFFFF]
#   IDLE_CONNECTIONS IDLE_SECONDS   the idle row [10000 10]
#   MULTI_CONNECTIONS MULTI_SECONDS the many-connections echo row [100 3]
#   PLACEMENT_COUNT round trips of each 64 B echo run of the placement rows (every peer at both ends: ours, the
#                   Python original, bare blocking and async .NET, rawpeer; placements quiet, one-cpu, busy) [20000]
#   SWITCH_BASE_COUNT round trips of the short run whose context switches are subtracted (start-up, JIT) [1000]
#   PLACEMENT_WARMUP unmeasured round trips our client makes first in each placement run (JIT tiering) [40000]
#   PYPEER_DIR      the Python original's folder [../shared/peers/python-tinyproto-3.0]; missing -> no Python rows
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "measure.sh: unknown argument '$arg' (only --quick)" >&2; exit 2 ;;
  esac
done

if [[ $QUICK == 1 ]]; then
  REPEATS=${REPEATS:-1}
  COUNT_0=${COUNT_0:-2000}; COUNT_64=${COUNT_64:-2000}; COUNT_4096=${COUNT_4096:-2000}
  COUNT_65536=${COUNT_65536:-500}; COUNT_1048576=${COUNT_1048576:-100}
  INTEROP_COUNT=${INTEROP_COUNT:-2000}; ONEWAY_COUNT=${ONEWAY_COUNT:-20000}; BATCH_COUNT=${BATCH_COUNT:-200000}
  IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-1000}; IDLE_SECONDS=${IDLE_SECONDS:-4}
  MULTI_SECONDS=${MULTI_SECONDS:-1}
  PLACEMENT_COUNT=${PLACEMENT_COUNT:-2000}; SWITCH_BASE_COUNT=${SWITCH_BASE_COUNT:-500}; PLACEMENT_WARMUP=${PLACEMENT_WARMUP:-500}
else
  REPEATS=${REPEATS:-3}
  COUNT_0=${COUNT_0:-30000}; COUNT_64=${COUNT_64:-30000}; COUNT_4096=${COUNT_4096:-20000}
  COUNT_65536=${COUNT_65536:-5000}; COUNT_1048576=${COUNT_1048576:-1500}
  INTEROP_COUNT=${INTEROP_COUNT:-30000}; ONEWAY_COUNT=${ONEWAY_COUNT:-200000}; BATCH_COUNT=${BATCH_COUNT:-5000000}
  IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}; IDLE_SECONDS=${IDLE_SECONDS:-10}
  MULTI_SECONDS=${MULTI_SECONDS:-3}
  PLACEMENT_COUNT=${PLACEMENT_COUNT:-20000}
fi
STREAM_SIZE=${STREAM_SIZE:-0xF0FFFFFF}
MULTI_CONNECTIONS=${MULTI_CONNECTIONS:-100}
RAWPEER_SRC=${RAWPEER_SRC:-../shared/tools/rawpeer.c}
SIZES=(0 64 4096 65536 1048576)

OUT=artifacts/perf                 # artifacts/ is git-ignored
RESULTS=$OUT/results.txt
LOG=$OUT/measure.log               # every tool's full output, for when a row fails
TOOL_DIR=$OUT/loadtest
TOOL=$TOOL_DIR/TinyProto.Async.LoadTest
BARE_DIR=$OUT/barepeer
BARE=$BARE_DIR/TinyProto.Async.BarePeer
RAWPEER=$OUT/rawpeer
mkdir -p "$OUT"
: > "$LOG"

PIDS=()
# Command prefixes for the servers and clients started from here on (the placement rows pin them with taskset).
SERVER_PREFIX=()
CLIENT_PREFIX=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "measure: $*" >&2; }
fail() { say "error: $*"; say "see $LOG"; exit 1; }

# ---- build -------------------------------------------------------------------------------------------
say "publishing the load tool (Release) to $TOOL_DIR"
dotnet publish benchmarks/TinyProto.Async.LoadTest -c Release -o "$TOOL_DIR" --nologo -v quiet >>"$LOG" 2>&1 \
  || fail "dotnet publish failed"
say "publishing the bare .NET peers (Release) to $BARE_DIR"
dotnet publish benchmarks/TinyProto.Async.BarePeer -c Release -o "$BARE_DIR" --nologo -v quiet >>"$LOG" 2>&1 \
  || fail "dotnet publish of the bare peers failed"

HAVE_RAWPEER=0
case "$RAWPEER_SRC" in /*) RAWPEER_PATH=$RAWPEER_SRC ;; *) RAWPEER_PATH=$ROOT/$RAWPEER_SRC ;; esac
if [[ -f $RAWPEER_PATH ]]; then
  if gcc -O2 -o "$RAWPEER" "$RAWPEER_PATH" >>"$LOG" 2>&1; then
    HAVE_RAWPEER=1
  else
    say "gcc failed on $RAWPEER_PATH: skipping the rawpeer and interop rows"
  fi
else
  say "rawpeer source not found at $RAWPEER_PATH (set RAWPEER_SRC): skipping the rawpeer and interop rows"
fi

{
  echo "# run $(date -u +%Y-%m-%dT%H:%M:%SZ) host=$(hostname) cpus=$(nproc) quick=$QUICK repeats=$REPEATS dotnet=$(dotnet --version) rawpeer=$HAVE_RAWPEER"
} >> "$RESULTS"

# ---- helpers -----------------------------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

# start_ours_server NAME [--sink]: starts our server on port 0; sets SERVER_PID and SERVER_PORT.
start_ours_server() {
  local name=$1; shift
  local out=$OUT/server-$name.out
  : > "$out"
  "${SERVER_PREFIX[@]}" "$TOOL" server --port 0 "$@" >"$out" 2>>"$LOG" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local i
  for i in $(seq 100); do
    SERVER_PORT=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$out" | head -1)
    [[ -n $SERVER_PORT ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || fail "our server ($name) exited at startup"
    sleep 0.1
  done
  fail "our server ($name) printed no 'listening on' line within 10 s"
}

stop_server() {
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# rawpeer's server takes one connection at a time on a fixed port and exits on any protocol error,
# so (re)start it whenever it is not running. Probing the port by connecting would kill it (it dies
# when a peer closes during the opening), so wait for the listening socket with ss, or just briefly.
ensure_rawpeer_server() {
  if [[ -n ${RAWPEER_PID:-} ]] && kill -0 "$RAWPEER_PID" 2>/dev/null; then
    return 0
  fi
  RAWPEER_PORT=$(free_port)
  "${SERVER_PREFIX[@]}" "$RAWPEER" server "$RAWPEER_PORT" >>"$LOG" 2>&1 &
  RAWPEER_PID=$!
  PIDS+=("$RAWPEER_PID")
  wait_listening "$RAWPEER_PID" "$RAWPEER_PORT" "rawpeer's server"
}

# wait_listening PID PORT NAME: waits up to 10 s for PID to listen on PORT (with ss; without it, 1 s).
wait_listening() {
  local pid=$1 port=$2 name=$3 i
  for i in $(seq 100); do
    if command -v ss >/dev/null; then
      ss -ltn 2>/dev/null | grep -q ":$port " && return 0
    elif (( i > 10 )); then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || fail "$name exited at startup"
    sleep 0.1
  done
  fail "$name is not listening on $port"
}

# ours_client LABEL ROW ARGS...: runs our client, prints its RESULT line with label and row added.
ours_client() {
  local label=$1 row=$2; shift 2
  local output
  echo "## ours client $*" >>"$LOG"
  if ! output=$("${CLIENT_PREFIX[@]}" "$TOOL" client "$@" 2>>"$LOG"); then
    echo "$output" >>"$LOG"
    fail "our client failed: $*"
  fi
  echo "$output" >>"$LOG"
  local line
  line=$(echo "$output" | tail -1)
  [[ $line == RESULT\ * ]] || fail "our client printed no RESULT line: $*"
  echo "RESULT label=$label row=$row ${line#RESULT }"
}

# peer_result LABEL ROW MODE: converts a rawpeer-style line on stdin, "client N x SIZE B in Xs: R msg/s, U us/msg,
# M MB/s", into a RESULT line with the same keys as the load tool's (no percentiles).
peer_result() {
  awk -v label="$1" -v row="$2" -v mode="$3" '
    /^(client|stream) [0-9]+ x [0-9]+ B in / {
      n = $2; size = $4; secs = $7; sub(/s:$/, "", secs); rate = $8; mb = $12
      printf "RESULT label=%s row=%s mode=%s size=%s connections=1 pipelined=false messages=%s seconds=%.3f msg_per_s=%.1f mb_per_s=%.1f p50_us=nan p99_us=nan\n", label, row, mode, size, n, secs, rate, mb
      found = 1
    }
    END { if (!found) exit 1 }'
}

# rawpeer_client LABEL ROW client|stream PORT N SIZE: runs rawpeer's client; prints its RESULT line.
rawpeer_client() {
  local label=$1 row=$2 kind=$3 port=$4 n=$5 size=$6
  local output
  echo "## rawpeer $kind $port $n $size" >>"$LOG"
  output=$("${CLIENT_PREFIX[@]}" "$RAWPEER" "$kind" "$port" "$n" "$size" 2>>"$LOG") || fail "rawpeer $kind failed"
  echo "$output" >>"$LOG"
  local mode=echo
  [[ $kind == stream ]] && mode=oneway
  echo "$output" | peer_result "$label" "$row" "$mode" || fail "cannot parse rawpeer output: $output"
}

# start_bare_server blocking|async: starts a bare .NET peer's echo server; sets BARE_PID and BARE_PORT.
start_bare_server() {
  BARE_PORT=$(free_port)
  "${SERVER_PREFIX[@]}" "$BARE" "$1" server "$BARE_PORT" >>"$LOG" 2>&1 &
  BARE_PID=$!
  PIDS+=("$BARE_PID")
  wait_listening "$BARE_PID" "$BARE_PORT" "the bare $1 peer's server"
}

# bare_client LABEL ROW blocking|async PORT N SIZE: runs a bare .NET peer's client; prints its RESULT line.
bare_client() {
  local label=$1 row=$2 model=$3 port=$4 n=$5 size=$6
  local output
  echo "## bare $model client $port $n $size" >>"$LOG"
  output=$("${CLIENT_PREFIX[@]}" "$BARE" "$model" client "$port" "$n" "$size" 2>>"$LOG") || fail "the bare $model client failed"
  echo "$output" >>"$LOG"
  echo "$output" | peer_result "$label" "$row" echo || fail "cannot parse the bare $model client's output: $output"
}

field() { # field KEY LINE
  echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# median_line: reads RESULT lines on stdin, prints the one with the median msg_per_s.
median_line() {
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^msg_per_s=/) { v = substr($i, 11) } print v "\t" $0 }' \
    | sort -g | awk -F'\t' '{ lines[NR] = $2 } END { print lines[int((NR + 1) / 2)] }'
}

record() {
  echo "$1" | tee -a "$RESULTS"
}

# run_record COMMAND...: runs a *_client function and records its line; a failure stops the script.
run_record() {
  local line
  line=$("$@") || exit 1
  record "$line"
}

# run_record_median COMMAND...: as run_record, REPEATS times; records the run with the median msg/s.
run_record_median() {
  local lines=() line
  for _ in $(seq "$REPEATS"); do
    line=$("$@") || exit 1
    lines+=("$line")
  done
  record "$(printf '%s\n' "${lines[@]}" | median_line)"
}

status_kb() { # status_kb PID FIELD: VmRSS / VmHWM in kB
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo nan
}

cpu_ticks() { # utime + stime of PID, in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# ---- lock-step echo, one connection: ours<->ours vs rawpeer<->rawpeer, interleaved -----------------------
start_ours_server echo
ECHO_PID=$SERVER_PID; ECHO_PORT=$SERVER_PORT
say "lock-step echo, 1 connection, sizes ${SIZES[*]}, $REPEATS repeat(s), ours and rawpeer interleaved"
for size in "${SIZES[@]}"; do
  count_var=COUNT_$size
  count=${!count_var}
  ours_runs=(); raw_runs=()
  for r in $(seq "$REPEATS"); do
    # Alternate which goes first, so slow drift of the machine hits both alike.
    if (( r % 2 == 1 )); then order=(ours rawpeer); else order=(rawpeer ours); fi
    for who in "${order[@]}"; do
      if [[ $who == ours ]]; then
        line=$(ours_client ours echo --port "$ECHO_PORT" --mode echo --size "$size" --count "$count") || exit 1
        ours_runs+=("$line")
      elif [[ $HAVE_RAWPEER == 1 ]]; then
        ensure_rawpeer_server
        line=$(rawpeer_client rawpeer echo client "$RAWPEER_PORT" "$count" "$size") || exit 1
        raw_runs+=("$line")
      fi
    done
  done
  record "$(printf '%s\n' "${ours_runs[@]}" | median_line)"
  if [[ $HAVE_RAWPEER == 1 ]]; then
    record "$(printf '%s\n' "${raw_runs[@]}" | median_line)"
  fi
done

# ---- placements: 64 B lock-step echo, every peer at both ends, with context switches per round trip ----------------
# Three placements: the kernel's own on a quiet machine (quiet), both processes pinned to one CPU (one-cpu), and the
# kernel's own with one CPU-bound process running (busy). Peers: ours, the Python original (if its folder is there),
# the protocol over bare blocking and bare async .NET sockets (BarePeer), rawpeer. Rounds interleave the peers.
# Context switches (voluntary + nonvoluntary, every thread, dead ones included) come from /usr/bin/time around each
# process's whole life: a run of PLACEMENT_COUNT round trips minus a run of SWITCH_BASE_COUNT, per round trip.
SWITCH_BASE_COUNT=${SWITCH_BASE_COUNT:-1000}
# Our client first runs PLACEMENT_WARMUP unmeasured round trips on the same connection, so that both processes' JIT
# tiering is done (on one CPU it takes ~40,000 round trips; before that the rate measures the JIT). They are in the
# base run too, so they cancel out of the switch counts.
PLACEMENT_WARMUP=${PLACEMENT_WARMUP:-40000}
PYPEER_DIR=${PYPEER_DIR:-../shared/peers/python-tinyproto-3.0}
case "$PYPEER_DIR" in /*) PYPEER=$PYPEER_DIR ;; *) PYPEER=$ROOT/$PYPEER_DIR ;; esac
PEERS=(ours)
if [[ -f $PYPEER/py_echo_server.py ]] && command -v python3 >/dev/null; then
  PEERS+=(python)
else
  say "the Python original is not at $PYPEER (set PYPEER_DIR): skipping its rows"
fi
PEERS+=(dotnet-blocking dotnet-async)
[[ $HAVE_RAWPEER == 1 ]] && PEERS+=(rawpeer)

# peer_command PEER server PORT | PEER client PORT N: sets PEER_CMD.
peer_command() {
  local peer=$1 side=$2 port=$3 n=${4:-}
  case "$peer/$side" in
    ours/server) PEER_CMD=("$TOOL" server --port "$port") ;;
    ours/client) PEER_CMD=("$TOOL" client --port "$port" --mode echo --size 64 --count "$n" --warmup "$PLACEMENT_WARMUP") ;;
    python/server) PEER_CMD=(env PYTHONPATH="$PYPEER" python3 "$PYPEER/py_echo_server.py" "$port") ;;
    python/client) PEER_CMD=(env PYTHONPATH="$PYPEER" python3 "$PYPEER/py_echo_client.py" "$port" "$n" 64) ;;
    dotnet-blocking/server) PEER_CMD=("$BARE" blocking server "$port") ;;
    dotnet-blocking/client) PEER_CMD=("$BARE" blocking client "$port" "$n" 64) ;;
    dotnet-async/server) PEER_CMD=("$BARE" async server "$port") ;;
    dotnet-async/client) PEER_CMD=("$BARE" async client "$port" "$n" 64) ;;
    rawpeer/server) PEER_CMD=("$RAWPEER" server "$port") ;;
    rawpeer/client) PEER_CMD=("$RAWPEER" client "$port" "$n" 64) ;;
    *) fail "unknown peer $peer/$side" ;;
  esac
}

# rate_of OUTPUT: round trips per second from any peer's last line (msg_per_s=R, or rawpeer's "R msg/s").
rate_of() {
  local last
  last=$(echo "$1" | tail -1)
  if [[ $last =~ msg_per_s=([0-9.]+) ]]; then echo "${BASH_REMATCH[1]}"
  elif [[ $last =~ \ ([0-9.]+)\ msg/s ]]; then echo "${BASH_REMATCH[1]}"
  else echo nan; fi
}

# lifetime_run PEER N: PEER's server and client, each under /usr/bin/time, N round trips; sets LT_RATE, LT_SERVER_SW,
# LT_CLIENT_SW (context switches over each process's life).
lifetime_run() {
  local peer=$1 n=$2 port tpid output
  port=$(free_port)
  peer_command "$peer" server "$port"
  "${SERVER_PREFIX[@]}" /usr/bin/time -f "TIME %w %c" -o "$OUT/server-time.txt" "${PEER_CMD[@]}" >>"$LOG" 2>&1 &
  tpid=$!
  PIDS+=("$tpid")
  wait_listening "$tpid" "$port" "the $peer server"
  peer_command "$peer" client "$port" "$n"
  echo "## $peer client $n (placement $PLACEMENT)" >>"$LOG"
  output=$("${CLIENT_PREFIX[@]}" /usr/bin/time -f "TIME %w %c" -o "$OUT/client-time.txt" "${PEER_CMD[@]}" 2>>"$LOG") \
    || { echo "$output" >>"$LOG"; fail "the $peer client failed ($n round trips, placement $PLACEMENT)"; }
  echo "$output" >>"$LOG"
  pkill -TERM -P "$tpid" 2>/dev/null || true
  wait "$tpid" 2>/dev/null || true
  LT_RATE=$(rate_of "$output")
  LT_SERVER_SW=$(awk '/^TIME/ { print $2 + $3 }' "$OUT/server-time.txt")
  LT_CLIENT_SW=$(awk '/^TIME/ { print $2 + $3 }' "$OUT/client-time.txt")
}

# placement_row PEER: one measured pair of runs; prints its RESULT line.
placement_row() {
  local peer=$1 base_s base_c
  lifetime_run "$peer" "$SWITCH_BASE_COUNT"
  base_s=$LT_SERVER_SW; base_c=$LT_CLIENT_SW
  lifetime_run "$peer" "$PLACEMENT_COUNT"
  awk -v label="$peer" -v row="placement-$PLACEMENT" -v rate="$LT_RATE" -v n="$PLACEMENT_COUNT" -v n0="$SWITCH_BASE_COUNT" \
      -v s="$((LT_SERVER_SW - base_s))" -v c="$((LT_CLIENT_SW - base_c))" 'BEGIN {
    printf "RESULT label=%s row=%s mode=echo size=64 connections=1 pipelined=false messages=%d seconds=%.3f msg_per_s=%.1f mb_per_s=%.2f p50_us=nan p99_us=nan server_switches_per_rt=%.2f client_switches_per_rt=%.2f\n",
      label, row, n, n / rate, rate, rate * 64 / 1e6, s / (n - n0), c / (n - n0) }'
}

HOG_PID=
start_hog() { sh -c 'while :; do :; done' & HOG_PID=$!; PIDS+=("$HOG_PID"); }
stop_hog() { [[ -n $HOG_PID ]] && kill "$HOG_PID" 2>/dev/null; wait "$HOG_PID" 2>/dev/null || true; HOG_PID=; }

PLACEMENTS=(quiet)
if command -v taskset >/dev/null && (( $(nproc) >= 2 )); then PLACEMENTS+=(one-cpu); else say "no taskset or one CPU: skipping the one-cpu placement"; fi
PLACEMENTS+=(busy)
say "placements ${PLACEMENTS[*]}: 64 B lock-step echo, peers ${PEERS[*]}, $REPEATS round(s) interleaved, $PLACEMENT_COUNT round trips"
for PLACEMENT in "${PLACEMENTS[@]}"; do
  SERVER_PREFIX=(); CLIENT_PREFIX=()
  [[ $PLACEMENT == one-cpu ]] && { SERVER_PREFIX=(taskset -c 0); CLIENT_PREFIX=(taskset -c 0); }
  [[ $PLACEMENT == busy ]] && start_hog
  declare -A runs=()
  for r in $(seq "$REPEATS"); do
    # Rotate the order, so slow drift of the machine hits every peer alike.
    for i in "${!PEERS[@]}"; do
      peer=${PEERS[$(( (i + r) % ${#PEERS[@]} ))]}
      line=$(placement_row "$peer") || exit 1
      runs[$peer]+="$line"$'\n'
    done
  done
  for peer in "${PEERS[@]}"; do
    record "$(printf '%s' "${runs[$peer]}" | sed '/^$/d' | median_line)"
  done
  unset runs
  stop_hog
done
SERVER_PREFIX=(); CLIENT_PREFIX=()

# ---- interop, 64 B: our client <-> rawpeer server, rawpeer client <-> our server -------------------------
if [[ $HAVE_RAWPEER == 1 ]]; then
  say "interop, 64 B lock-step echo"
  a=(); b=()
  for r in $(seq "$REPEATS"); do
    ensure_rawpeer_server
    line=$(ours_client ours-client/rawpeer-server interop --port "$RAWPEER_PORT" --mode echo --size 64 --count "$INTEROP_COUNT") || exit 1
    a+=("$line")
    line=$(rawpeer_client rawpeer-client/ours-server interop client "$ECHO_PORT" "$INTEROP_COUNT" 64) || exit 1
    b+=("$line")
  done
  record "$(printf '%s\n' "${a[@]}" | median_line)"
  record "$(printf '%s\n' "${b[@]}" | median_line)"
fi
stop_server "$ECHO_PID"

# ---- one-way 64 B: lock-step (with rawpeer stream for reference) and pipelined, ours -> ours --sink ------
start_ours_server sink --sink
SINK_PID=$SERVER_PID; SINK_PORT=$SERVER_PORT
say "one-way 64 B, lock-step and pipelined"
run_record_median ours_client ours oneway --port "$SINK_PORT" --mode oneway --size 64 --count "$ONEWAY_COUNT"
if [[ $HAVE_RAWPEER == 1 ]]; then
  ensure_rawpeer_server
  run_record_median rawpeer_client rawpeer oneway stream "$RAWPEER_PORT" "$ONEWAY_COUNT" 64
fi
run_record_median ours_client ours pipelined --port "$SINK_PORT" --mode oneway --size 64 --count "$ONEWAY_COUNT" --pipelined
run_record_median ours_client ours batched --port "$SINK_PORT" --mode oneway --size 64 --count "$BATCH_COUNT" --pipelined --batch 1000
stop_server "$SINK_PID"

# ---- one streamed message of STREAM_SIZE bytes, one-way, with memory of both processes ---------------------
say "one streamed $STREAM_SIZE-byte message, one-way, ours -> ours --sink"
start_ours_server stream --sink
server_rss_before=$(status_kb "$SERVER_PID" VmRSS)
stream_out=$OUT/stream-client.out
"$TOOL" client --port "$SERVER_PORT" --mode oneway --size "$STREAM_SIZE" --count 1 --stream >"$stream_out" 2>>"$LOG" &
client_pid=$!
PIDS+=("$client_pid")
client_hwm=0
# VmHWM is the peak, so the last reading before the client exits is its peak RSS.
while kill -0 "$client_pid" 2>/dev/null; do
  hwm=$(status_kb "$client_pid" VmHWM)
  [[ $hwm =~ ^[0-9]+$ ]] && client_hwm=$hwm
  sleep 0.05
done
wait "$client_pid" || { cat "$stream_out" >>"$LOG"; fail "the streamed message failed"; }
cat "$stream_out" >>"$LOG"
server_rss_after=$(status_kb "$SERVER_PID" VmRSS)
server_hwm_after=$(status_kb "$SERVER_PID" VmHWM)
line=$(tail -1 "$stream_out")
record "RESULT label=ours row=stream ${line#RESULT } client_peak_rss_kb=$client_hwm server_rss_before_kb=$server_rss_before server_rss_after_kb=$server_rss_after server_peak_rss_kb=$server_hwm_after server_peak_growth_kb=$((server_hwm_after - server_rss_before))"
stop_server "$SERVER_PID"

# ---- idle connections: server memory and CPU while they sit there ---------------------------------------
say "idle: $IDLE_CONNECTIONS connections for $IDLE_SECONDS s"
start_ours_server idle
sleep 0.5
idle_rss_before=$(status_kb "$SERVER_PID" VmRSS)
idle_err=$OUT/idle-client.err
idle_out=$OUT/idle-client.out
"$TOOL" client --port "$SERVER_PORT" --mode idle --connections "$IDLE_CONNECTIONS" --duration "$IDLE_SECONDS" >"$idle_out" 2>"$idle_err" &
client_pid=$!
PIDS+=("$client_pid")
# The idle window starts once every connection is open (the client says so on stderr), plus 1 s to settle,
# and ends 1 s before the client starts closing them.
for i in $(seq 600); do
  grep -q '^opened ' "$idle_err" 2>/dev/null && break
  kill -0 "$client_pid" 2>/dev/null || break
  sleep 0.1
done
sleep 1
idle_rss_after=$(status_kb "$SERVER_PID" VmRSS)
cpu0=$(cpu_ticks "$SERVER_PID"); t0=$(date +%s.%N)
window=$(awk -v s="$IDLE_SECONDS" 'BEGIN { w = s - 3; if (w < 0.5) w = 0.5; print w }')
sleep "$window"
cpu1=$(cpu_ticks "$SERVER_PID"); t1=$(date +%s.%N)
wait "$client_pid" || { cat "$idle_out" "$idle_err" >>"$LOG"; fail "the idle client failed (see the 'ulimit -n' hint in $idle_err)"; }
cat "$idle_out" "$idle_err" >>"$LOG"
hz=$(getconf CLK_TCK)
line=$(tail -1 "$idle_out")
record "RESULT label=ours row=idle ${line#RESULT } server_rss_before_kb=$idle_rss_before server_rss_with_connections_kb=$idle_rss_after server_kb_per_connection=$(awk -v a="$idle_rss_after" -v b="$idle_rss_before" -v n="$IDLE_CONNECTIONS" 'BEGIN { printf "%.1f", (a - b) / n }') server_cpu_ms=$(awk -v c="$((cpu1 - cpu0))" -v hz="$hz" 'BEGIN { printf "%.0f", c * 1000 / hz }') idle_window_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
stop_server "$SERVER_PID"

# ---- many connections: aggregate lock-step echo 64 B, MULTI_CONNECTIONS vs 1 ------------------------------
say "lock-step echo 64 B, $MULTI_CONNECTIONS connections vs 1, $MULTI_SECONDS s each"
start_ours_server multi
run_record ours_client ours connections --port "$SERVER_PORT" --mode echo --size 64 --duration "$MULTI_SECONDS" --connections 1
run_record ours_client ours connections --port "$SERVER_PORT" --mode echo --size 64 --duration "$MULTI_SECONDS" --connections "$MULTI_CONNECTIONS"
stop_server "$SERVER_PID"

if grep -q 'error:' "$OUT"/server-*.out "$LOG" 2>/dev/null; then
  say "note: 'error' appears in $LOG or a server's output; check it"
fi
say "done: results appended to $RESULTS; chart with: python3 benchmarks/chart.py"
