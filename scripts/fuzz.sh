#!/usr/bin/env bash
# Runs every libFuzzer target in fuzz/ for SECONDS each (default 30), under ASan + UBSan,
# from its seed corpora: the generated seeds (fuzz/make_corpus.py), the committed ones
# (fuzz/corpus/<target>/) and the regressions (fuzz/regressions/<target>/, first replayed
# one by one). Fails if any target crashes, leaks, times out on an input or breaks a property;
# the input that did it is left in the work directory it names (kept on failure).
# docs/fuzzing.md says more, and how to run one target by hand.
#
# Usage: scripts/fuzz.sh [SECONDS]   (env: KILN_FUZZ_JOBS, parallel targets, default 1;
#        KILN_FUZZ_TARGETS, the targets to run, space-separated names, default all;
#        KILN_FUZZ_BIN, a folder of targets built earlier, used as they are (a long run
#        then does not rebuild from a working tree that keeps changing);
#        KILN_FUZZ_TOKENIZER_GGUFS, model files whose vocabularies tokenizer_fuzz adds)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
bin="${KILN_FUZZ_BIN:-build/fuzz/fuzz}"
[ -n "${KILN_FUZZ_BIN:-}" ] || scripts/build.sh fuzz
work="$(mktemp -d "${TMPDIR:-/tmp}/kiln-fuzz.XXXXXX")"
python3 fuzz/make_corpus.py "$work/seeds"

# The largest input each target tries: the seeds' sizes and a little room.
max_len() {
  case "$1" in
    gguf_model_fuzz) echo 32768 ;;
    jinja_fuzz | structured_fuzz | api_request_fuzz) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

run_target() {
  local target="$1" name
  name="$(basename "$target")"
  local corpus="$work/corpus/$name" log="$work/$name.log"
  mkdir -p "$corpus" "$work/artifacts"
  local dirs=("$corpus")
  for d in "$work/seeds/$name" "fuzz/corpus/$name" "fuzz/regressions/$name"; do
    [ -d "$d" ] && dirs+=("$d")
  done
  local common=(-timeout=20 -rss_limit_mb=2560 -max_len="$(max_len "$name")"
                -artifact_prefix="$work/artifacts/$name-")
  # gguf_model_fuzz writes every input to a file under $TMPDIR (File::open takes a path); on
  # a disk it runs half the executions per CPU-second and waits on I/O besides: use memory.
  local tmp="${TMPDIR:-/tmp}"
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then tmp=/dev/shm; fi
  if [ -d "fuzz/regressions/$name" ] && [ -n "$(ls -A "fuzz/regressions/$name")" ]; then
    if ! TMPDIR="$tmp" "$target" "${common[@]}" "fuzz/regressions/$name"/* >"$log.replay" 2>&1; then
      echo "FAIL $name: a regression input fails again ($log.replay)"; tail -30 "$log.replay"
      return 1
    fi
  fi
  if TMPDIR="$tmp" "$target" "${common[@]}" -max_total_time="$seconds" -print_final_stats=1 "${dirs[@]}" \
      >"$log" 2>&1; then
    local runs cov
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)"
    cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)"
    echo "ok   $name: ${runs:-?} executions in ${seconds}s, coverage ${cov:-?} edges"
  else
    echo "FAIL $name ($log); the input is in $work/artifacts/"
    grep -m1 -A40 -E "ERROR: |fuzz property violated|runtime error" "$log" || tail -40 "$log"
    return 1
  fi
}

failed=0
pids=()
jobs="${KILN_FUZZ_JOBS:-1}"
for target in "$bin"/*_fuzz; do
  if [ -n "${KILN_FUZZ_TARGETS:-}" ] && [[ " $KILN_FUZZ_TARGETS " != *" $(basename "$target") "* ]]; then
    continue
  fi
  if [ "$jobs" -gt 1 ]; then
    run_target "$target" &
    pids+=($!)
    if [ "${#pids[@]}" -ge "$jobs" ]; then wait "${pids[0]}" || failed=1; pids=("${pids[@]:1}"); fi
  else
    run_target "$target" || failed=1
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
if [ "$failed" -ne 0 ]; then
  echo "fuzzing found a failure; inputs and logs are in $work"
  exit 1
fi
rm -rf "$work"
