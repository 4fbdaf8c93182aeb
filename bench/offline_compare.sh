#!/usr/bin/env bash
# Offline throughput of kiln and llama.cpp on the same GGUF file, measured back to back
# (pp512 / tg128, median of 3 after a warm-up, at 1 and 2 threads), as in docs/benchmarks.md.
# The peer is llama-cpp-python in a venv outside the repo: see bench/peer/README.md.
# Usage: [BUSY=N] [THREADS="1 2"] [KILN_BIN=...] bench/offline_compare.sh [MODEL] [PEER_PYTHON]
#   BUSY=N keeps N busy-looping processes running throughout, to measure a shared host
#   (another program using the cores kiln was told it could have).
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-$(scripts/fetch_model.sh)}"
peer_python="${2:-$HOME/.cache/kiln/peer-venv/bin/python}"
kiln_bin="${KILN_BIN:-build/release/kiln}"
busy_pids=()
trap '[ ${#busy_pids[@]} -eq 0 ] || kill "${busy_pids[@]}" 2>/dev/null || true' EXIT
for _ in $(seq 1 "${BUSY:-0}"); do
  sh -c 'while :; do :; done' &
  busy_pids+=($!)
done
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
     "${BUSY:-0} busy neighbours, kiln $kiln_bin"
echo "# model $model"
for threads in ${THREADS:-1 2}; do
  "$kiln_bin" bench offline "$model" --threads "$threads" --json
  if [ -x "$peer_python" ]; then
    "$peer_python" bench/peer/llama_cpp_bench.py --model "$model" --threads "$threads" 2>/dev/null
  else
    echo "# peer not installed at $peer_python (see bench/peer/README.md)"
  fi
done
