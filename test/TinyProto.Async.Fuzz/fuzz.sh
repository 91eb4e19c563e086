#!/usr/bin/env bash
# Coverage-guided fuzzing with AFL++ and SharpFuzz of a whole connection (--target connection, ConnectionTarget.cs)
# or of the frame codec and the PROXY header reader (--target codec, CodecTarget.cs): builds the target, instruments
# TinyProto.Async.dll with the sharpfuzz tool, runs afl-fuzz from the corpus kept here (corpus/TARGET, plus the seeds
# from the wire vectors, seeds.py) for a given time, and reports what it ran and found. A crash or hang fails, and is
# copied to findings/ with the command that replays it. --update-corpus replaces corpus/TARGET with the minimised
# queue (afl-cmin). Installs afl++ (apt-get) and the SharpFuzz tool (dotnet tool) when missing; exits 3, saying so,
# where it cannot.
# Usage: test/TinyProto.Async.Fuzz/fuzz.sh [--target connection|codec] [--seconds N] [--update-corpus] [--no-build]
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds=60
target_name=connection
update=false
build=true
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift ;;
    --target) target_name="${2:?--target needs connection or codec}"; shift ;;
    --update-corpus) update=true ;;
    --no-build) build=false ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
say() { echo "fuzz ($target_name): $*"; }
case "$target_name" in connection|codec) ;; *) echo "error: --target takes connection or codec, not '$target_name'" >&2; exit 2 ;; esac
corpus="$here/corpus/$target_name"
export TINYPROTO_FUZZ_TARGET="$target_name"

if ! command -v afl-fuzz >/dev/null 2>&1; then
  sudo_if_needed=""
  [ "$(id -u)" -eq 0 ] || sudo_if_needed="sudo -n"
  if command -v apt-get >/dev/null 2>&1 && $sudo_if_needed apt-get update -qq >/dev/null 2>&1 \
      && $sudo_if_needed apt-get install -y -qq afl++ >/dev/null 2>&1; then
    say "installed afl++"
  else
    say "SKIPPED: afl++ is not installed and apt-get could not install it"
    exit 3
  fi
fi
tools="$root/artifacts/tools"
if [ ! -x "$tools/sharpfuzz" ]; then
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools" >/dev/null 2>&1 \
    || { say "SKIPPED: the SharpFuzz tool (dotnet tool SharpFuzz.CommandLine 2.3.0) could not be installed"; exit 3; }
fi

if $build; then
  dotnet build "$here" -c Release -v quiet -nologo >/tmp/fuzz-build.log 2>&1 || { cat /tmp/fuzz-build.log; say "FAILED: build"; exit 1; }
fi
# Not under /tmp: afl-cmin refuses to work there.
mkdir -p "$root/artifacts"
work="$(mktemp -d "$root/artifacts/fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -r "$here/bin/Release/net10.0" "$work/bin"
# Only the library is instrumented: the coverage AFL++ follows is the library's.
"$tools/sharpfuzz" "$work/bin/TinyProto.Async.dll" >"$work/instrument.log" 2>&1 || { cat "$work/instrument.log"; say "FAILED: sharpfuzz could not instrument TinyProto.Async.dll"; exit 1; }
mkdir -p "$work/in"
python3 "$here/seeds.py" "$work/in" "$target_name"
cp "$corpus"/* "$work/in/" 2>/dev/null

export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
target=("$(command -v dotnet)" "$work/bin/TinyProto.Async.Fuzz.dll")
say "afl-fuzz for $seconds s from $(ls "$work/in" | wc -l) inputs; host: $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
afl-fuzz -i "$work/in" -o "$work/out" -t 10000 -m none -V "$seconds" -- "${target[@]}" >"$work/afl.log" 2>&1
status=$?
stats="$work/out/default/fuzzer_stats"
if [ ! -f "$stats" ]; then
  tail -30 "$work/afl.log"
  say "FAILED: afl-fuzz did not run (exit $status)"
  exit 1
fi
value() { sed -n "s/^$1 *: *//p" "$stats"; }
say "ran $(value execs_done) inputs in $(value run_time) s ($(value execs_per_sec)/s); corpus $(value corpus_count) entries, edges found $(value edges_found); crashes $(value saved_crashes), hangs $(value saved_hangs)"

found=0
for kind in crashes hangs; do
  for input in "$work/out/default/$kind"/id:*; do
    [ -f "$input" ] || continue
    mkdir -p "$here/findings"
    name="$target_name-$kind-$(sha1sum "$input" | cut -c1-12)"
    cp "$input" "$here/findings/$name"
    say "FOUND ($kind): test/TinyProto.Async.Fuzz/findings/$name; replay: dotnet test/TinyProto.Async.Fuzz/bin/Release/net10.0/TinyProto.Async.Fuzz.dll $target_name test/TinyProto.Async.Fuzz/findings/$name"
    found=1
  done
done

if $update; then
  afl-cmin -i "$work/out/default/queue" -o "$work/min" -t 10000 -m none -- "${target[@]}" >"$work/cmin.log" 2>&1 \
    || { tail -20 "$work/cmin.log"; say "FAILED: afl-cmin"; exit 1; }
  rm -f "$corpus"/*
  mkdir -p "$corpus"
  for input in "$work/min"/*; do cp "$input" "$corpus/$(sha1sum "$input" | cut -c1-16)"; done
  say "corpus/$target_name now holds $(ls "$corpus" | wc -l) inputs (minimised from $(value corpus_count))"
fi

[ "$found" -eq 0 ] && say "OK" || say "FAILED: see findings/ above"
exit "$found"
