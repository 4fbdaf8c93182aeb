#!/usr/bin/env bash
# Offline throughput of kiln and llama.cpp on the same GGUF files, alternating runs
# (pp512 / tg128, llama-bench's method: random tokens, median of 3 after a warm-up).
# The peer is llama.cpp's own llama-bench, built outside the repo (bench/peer/README.md).
# Prints one line per (model, round, threads) with both engines and the ratios, so the
# noise of a shared host shows as the spread between rounds.
# Usage: [ROUNDS=2] [THREADS="2"] [BUSY=N] [KILN_BIN=...] [LLAMA_BENCH=...] \
#          bench/offline_compare.sh MODEL...
#   BUSY=N keeps N busy-looping processes running throughout, to measure a shared host
#   (another program using the cores kiln was told it could have).
set -euo pipefail
cd "$(dirname "$0")/.."
kiln_bin="${KILN_BIN:-build/release/kiln}"
llama_bench="${LLAMA_BENCH:-$HOME/.cache/kiln/peer-src/llama_cpp_python-0.3.36/vendor/llama.cpp/build-native/bin/llama-bench}"
[ $# -gt 0 ] || set -- "$(scripts/fetch_model.sh)"
[ -x "$llama_bench" ] || { echo "llama-bench not found at $llama_bench (see bench/peer/README.md)" >&2; exit 2; }
busy_pids=()
trap '[ ${#busy_pids[@]} -eq 0 ] || kill "${busy_pids[@]}" 2>/dev/null || true' EXIT
for _ in $(seq 1 "${BUSY:-0}"); do
  sh -c 'while :; do :; done' &
  busy_pids+=($!)
done
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg), ${BUSY:-0} busy neighbours, kiln $kiln_bin"
printf '%-44s %5s %3s | %9s %9s %6s | %8s %8s %6s\n' model round thr "kiln pp" "llama pp" ratio \
       "kiln tg" "llama tg" ratio
for model in "$@"; do
  for round in $(seq 1 "${ROUNDS:-2}"); do
    for threads in ${THREADS:-2}; do
      kiln=$("$kiln_bin" bench offline "$model" --threads "$threads" --json)
      peer=$("$llama_bench" -m "$model" -t "$threads" -p 512 -n 128 -r 3 -o jsonl 2>/dev/null)
      python3 - "$model" "$round" "$threads" "$kiln" "$peer" <<'PY'
import json, os, sys
model, rnd, thr, kiln, peer = sys.argv[1:]
k = json.loads(kiln)
pp = tg = 0.0
for line in peer.splitlines():
    d = json.loads(line)
    if d["n_prompt"]: pp = d["avg_ts"]
    else: tg = d["avg_ts"]
print(f"{os.path.basename(model)[:44]:<44} {rnd:>5} {thr:>3} | {k['pp512_tps']:9.1f} {pp:9.1f} "
      f"{k['pp512_tps'] / pp:5.2f}x | {k['tg128_tps']:8.1f} {tg:8.1f} {k['tg128_tps'] / tg:5.2f}x")
PY
    done
  done
done
