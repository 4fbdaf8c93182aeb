#!/usr/bin/env bash
# The serving engine under load (docs/benchmarks.md, "Serving engine"): output tokens/s at
# concurrency 1 vs 16, time to first token with a 1,000-token shared prefix with prefix
# caching on vs off, and the KV memory held but unused. Run on a quiet machine.
# Usage: bench/engine_bench.sh [MODEL] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-$(scripts/fetch_model.sh)}"
threads="${2:-2}"
kiln="${KILN_BIN:-build/release/kiln}"
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# model $model, $threads threads"
run() { echo "## $*"; "$kiln" bench offline "$model" -t "$threads" --kv-cache-memory 2GiB "$@"; }
# Random 128-token prompts, 128 output tokens, lengths +-50%.
run --requests 16 --concurrency 1 -p 128 -n 128 --length-spread 0.5
run --requests 64 --concurrency 16 -p 128 -n 128 --length-spread 0.5
# 16 requests at once sharing a 1,000-token prefix, each with 32 tokens of its own.
run --requests 16 --concurrency 16 --shared-prefix-tokens 1000 -p 32 -n 32
run --requests 16 --concurrency 16 --shared-prefix-tokens 1000 -p 32 -n 32 --no-prefix-caching
