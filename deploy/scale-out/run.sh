#!/usr/bin/env bash
# The chat sample scaled out, end to end, on loopback: Redis, three chat servers (samples/TinyProto.Samples.Chat with
# --redis and --proxy-from) and HAProxy in front of them (mode tcp, send-proxy-v2, health checks), then chat members
# through HAProxy (deploy/scale-out/ChatCheck) that check:
#   fanout       a line from a member on one server reaches the members on every server, once and in order; joins and
#                leaves cross servers; each server saw each member's own address (PROXY v2), not HAProxy's
#   rolling      each server in turn is drained (SIGTERM) and started again while members send: no line whose
#                TransmitAsync completed is lost for a member that stayed connected
#   connections  many members join at once: the join rate and the servers' memory
# and prints the figures (RESULT lines) with the host and date. Stops everything it started, whatever happens.
#
# Usage: deploy/scale-out/run.sh [--quick] [--no-build] [--keep DIR] [--fanout-rate R] [--pipelined-rate R] [--only PHASE]
#   --quick     shorter runs (CI): about a minute
#   --fanout-rate R     lines a second each lock-step fanout member sends (default 40)
#   --pipelined-rate R  lines a second each pipelined fanout member sends (default 400; --quick 200)
#   --only PHASE     run one phase: fanout, rolling or connections
#   --no-build  use the Release builds already there (.ci/run built the solution)
#   --keep DIR  keep the logs and the HAProxy configuration in DIR
# Installs haproxy and redis-server with apt-get when missing. Exit codes: 0 passed, 1 failed, 3 skipped (they are
# missing and could not be installed: said on the last line, never a silent pass).
set -uo pipefail
cd "$(dirname "$0")/../.."

quick=false
build=true
keep=""
fanout_rate=40
pipelined_rate=""
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=true ;;
    --no-build) build=false ;;
    --keep) keep="${2:?--keep needs a directory}"; shift ;;
    --fanout-rate) fanout_rate="${2:?--fanout-rate needs a number}"; shift ;;
    --pipelined-rate) pipelined_rate="${2:?--pipelined-rate needs a number}"; shift ;;
    --only) only="${2:?--only needs a phase}"; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "scale-out: $*"; }

# What it needs, from Debian's packages when missing.
missing=()
[ -x /usr/sbin/haproxy ] || missing+=(haproxy)
[ -x /usr/bin/redis-server ] || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo_if_needed=""
  [ "$(id -u)" -eq 0 ] || sudo_if_needed="sudo -n"
  if command -v apt-get >/dev/null 2>&1 && $sudo_if_needed apt-get update -qq >/dev/null 2>&1 \
      && $sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
    say "installed ${missing[*]}"
  else
    say "SKIPPED: ${missing[*]} not installed, and apt-get could not install them (no apt-get, no root, or no network)"
    exit 3
  fi
fi

chat=samples/TinyProto.Samples.Chat/bin/Release/net10.0/TinyProto.Samples.Chat
check=deploy/scale-out/ChatCheck/bin/Release/net10.0/TinyProto.ScaleOut.ChatCheck
if $build; then
  for project in samples/TinyProto.Samples.Chat deploy/scale-out/ChatCheck; do
    dotnet build "$project" -c Release -v quiet -nologo >/tmp/scale-out-build.log 2>&1 || { cat /tmp/scale-out-build.log; say "FAILED: dotnet build $project"; exit 1; }
  done
fi
[ -x "$chat" ] && [ -x "$check" ] || { say "FAILED: $chat or $check is not built (run without --no-build)"; exit 1; }

work="$(mktemp -d /tmp/tinyproto-scale-out.XXXXXX)"
names=(a b c)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stop_pids() { # PIDFILE...: SIGTERM, then SIGKILL after 5 s
  for pidfile in "$@"; do [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null; done
  for pidfile in "$@"; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
}
cleanup() {
  # HAProxy and the servers first (they drain), Redis last: no server sees its backplane go away.
  stop_pids "$work/haproxy.pid" "$work"/server-*.pid
  stop_pids "$work/redis.pid"
  if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$work"/*.log "$work"/*.cfg "$keep"/ 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

wait_for_line() { # FILE TEXT SECONDS
  for _ in $(seq $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

redis_port="$(free_port)"
/usr/bin/redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --protected-mode no >"$work/redis.log" 2>&1 &
echo $! >"$work/redis.pid"
wait_for_line "$work/redis.log" "Ready to accept connections" 10 || { cat "$work/redis.log"; say "FAILED: redis-server did not start"; exit 1; }

declare -A port
for name in "${names[@]}"; do port[$name]="$(free_port)"; done

start_server() { # NAME
  "$chat" server --port "${port[$1]}" --redis "127.0.0.1:$redis_port" --proxy-from 127.0.0.1 --server-name "$1" --quiet >>"$work/server-$1.log" 2>&1 &
  echo $! >"$work/server-$1.pid"
  wait_for_line "$work/server-$1.log" "listening on 127.0.0.1:${port[$1]}" 20
}
for name in "${names[@]}"; do
  start_server "$name" || { cat "$work/server-$name.log"; say "FAILED: chat server $name did not start"; exit 1; }
done

haproxy_port="$(free_port)"
{
  cat <<CFG
global
    maxconn 8000
defaults
    mode tcp
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    # A connection a draining server refuses is tried again, on another server.
    option redispatch 1
    retries 3
frontend chat
    bind 127.0.0.1:$haproxy_port
    default_backend chat
backend chat
    balance roundrobin
CFG
  for name in "${names[@]}"; do
    echo "    server $name 127.0.0.1:${port[$name]} send-proxy-v2 check inter 500ms fall 1 rise 1"
  done
} >"$work/haproxy.cfg"
/usr/sbin/haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
echo $! >"$work/haproxy.pid"
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$haproxy_port") 2>/dev/null && break; sleep 0.1; done
# Until its first checks passed, HAProxy takes every server for up: give them a moment.
sleep 1.5
kill -0 "$(cat "$work/haproxy.pid")" 2>/dev/null || { cat "$work/haproxy.log"; say "FAILED: haproxy did not start"; exit 1; }

pids() { cat "$work"/server-*.pid "$work/redis.pid" "$work/haproxy.pid" | paste -sd, -; }
say "Redis on $redis_port; servers a, b, c on ${port[a]}, ${port[b]}, ${port[c]}; HAProxy on $haproxy_port"
echo "scale-out: host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "scale-out: versions: $(/usr/sbin/haproxy -v | head -1 | cut -d' ' -f1-3), $(/usr/bin/redis-server --version | cut -d' ' -f1-3), dotnet $(dotnet --version)"

failed=0
case "$only" in ""|fanout|rolling|connections) ;; *) echo "error: --only takes fanout, rolling or connections, not '$only'" >&2; exit 2 ;; esac
if $quick; then fanout_seconds=5; members=9; connections=300; gap=3; else fanout_seconds=15; members=12; connections=1000; gap=5; fi
if [ -z "$pipelined_rate" ]; then if $quick; then pipelined_rate=200; else pipelined_rate=400; fi; fi

phase() { [ -z "$only" ] || [ "$only" = "$1" ]; }
if phase fanout; then
  # Lock-step members (as a Python tinyproto client is): each delivery waits for the member's 0xFF. Pipelined members
  # (RequestPipelining) take them without a round trip each.
  "$check" fanout --port "$haproxy_port" --members "$members" --rate "$fanout_rate" --seconds "$fanout_seconds" --pids "$(pids)" || failed=1
  "$check" fanout --port "$haproxy_port" --members "$members" --rate "$pipelined_rate" --seconds "$fanout_seconds" --pids "$(pids)" --pipelined || failed=1
fi

# Each server saw its members' own addresses: every join it printed came through HAProxy with a PROXY header, and names
# a client port HAProxy did not use (the checker compared each with its own end of the connection).
for name in "${names[@]}"; do
  phase fanout || break
  joins="$(grep -c ' joined from ' "$work/server-$name.log")"
  proxied="$(grep -c ' joined from 127.0.0.1:[0-9]* via 127.0.0.1:[0-9]*$' "$work/server-$name.log")"
  if [ "$joins" -eq 0 ] || [ "$joins" -ne "$proxied" ]; then
    say "FAILED: server $name printed $joins joins, $proxied of them with the client's address from a PROXY header"
    failed=1
  fi
done

rolling_restarts() {
  sleep "$gap"
  for name in "${names[@]}"; do
    pid="$(cat "$work/server-$name.pid")"
    echo "draining server $name (SIGTERM to $pid)"
    kill -TERM "$pid"
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$pid" 2>/dev/null; then echo "server $name did not exit within 10 s"; return 1; fi
    grep -q "^stopping" "$work/server-$name.log" || echo "server $name exited without draining"
    if start_server "$name"; then echo "server $name is back"; else echo "server $name did not start again"; fi
    sleep "$gap"
  done
}
if phase rolling; then
  rolling_restarts | "$check" rolling --port "$haproxy_port" --members "$members" --rate 20 || failed=1
fi
for name in "${names[@]}"; do
  kill -0 "$(cat "$work/server-$name.pid")" 2>/dev/null || { say "FAILED: server $name is not running after its restart"; tail -5 "$work/server-$name.log"; failed=1; }
done

if phase connections; then
  "$check" connections --port "$haproxy_port" --count "$connections" --pids "$(pids)" || failed=1
fi

if grep -q "Lost the backplane" "$work"/server-*.log; then
  say "FAILED: a server lost its Redis connection:"; grep -h "Lost the backplane" "$work"/server-*.log | head -3
  failed=1
fi

if [ "$failed" -eq 0 ]; then say "OK"; else say "FAILED (logs: rerun with --keep DIR)"; fi
exit "$failed"
