#!/usr/bin/env bash
# The long soak (test/TinyProto.Async.Tests/Faults/SoakTests.cs): many clients x many checksummed messages each way,
# lock-step and pipelined, through the fault-injecting proxy; prints its figures (for docs/reliability.md) and exits
# with the test's result. CI runs the short one (50 x 150) as part of the suite.
# Usage: test/soak.sh [--clients N] [--messages N] [--seed N] [--no-build]
set -uo pipefail
cd "$(dirname "$0")/.."
clients=50
messages=2000
seed=15
build=true
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients="${2:?}"; shift ;;
    --messages) messages="${2:?}"; shift ;;
    --seed) seed="${2:?}"; shift ;;
    --no-build) build=false ;;
    -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if $build; then
  dotnet build test/TinyProto.Async.Tests -c Release -v quiet -nologo >/tmp/soak-build.log 2>&1 || { cat /tmp/soak-build.log; exit 1; }
fi
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
echo "soak: host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC')"
TINYPROTO_SOAK_CLIENTS="$clients" TINYPROTO_SOAK_MESSAGES="$messages" TINYPROTO_SOAK_SEED="$seed" TINYPROTO_SOAK_REPORT="$report" \
  dotnet test test/TinyProto.Async.Tests -c Release --no-build -f net10.0 --filter "FullyQualifiedName~Faults.SoakTests" >/tmp/soak-test.log 2>&1
status=$?
if [ -s "$report" ]; then cat "$report"; else tail -30 /tmp/soak-test.log; fi
[ "$status" -eq 0 ] && echo "soak: OK" || echo "soak: FAILED"
exit "$status"
