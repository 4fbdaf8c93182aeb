#!/usr/bin/env bash
# Speculative decoding, measured side by side (docs/benchmarks.md): single-stream decode
# tokens/s on a code-editing prompt (the answer rewrites the file in the prompt with one
# rename) and an open-chat prompt, with and without n-gram speculation, alternating; then
# serving throughput at 1, 4, 16 and 64 concurrent requests with speculation configured
# (it turns itself off from disable_by_batch_size up) against none.
# With DRAFT=DRAFT.gguf, the draft model instead of n-gram lookup (k = 2, 4, 6), and a
# code-completion prompt (write a module from a description) beside the two others.
# THREADS (default 2) and TOKENS (default 256) set the single-stream runs; SKIP_SINGLE=1 and
# SKIP_SERVING=1 leave a part out.
#   [DRAFT=DRAFT.gguf] bench/speculative/run_bench.sh MODEL [ROUNDS]
set -euo pipefail
model=$1
rounds=${2:-2}
here=$(cd "$(dirname "$0")" && pwd)
kiln=${KILN_BIN:-$here/../../build/release/kiln}
configs=("" '{"method":"ngram","num_speculative_tokens":2}' '{"method":"ngram","num_speculative_tokens":4}' '{"method":"ngram","num_speculative_tokens":6}')
prompts=(code_edit open_chat)
spec='{"method":"ngram","num_speculative_tokens":4}'
if [ -n "${DRAFT:-}" ]; then
  draft() { echo "{\"method\":\"draft_model\",\"model\":\"$DRAFT\",\"num_speculative_tokens\":$1}"; }
  configs=("" "$(draft 2)" "$(draft 4)" "$(draft 6)")
  prompts=(code_complete code_edit open_chat)
  spec=$(draft 4)
fi

if [ "${SKIP_SINGLE:-0}" != 1 ]; then
echo "## single stream (kiln run, greedy, 256 tokens): generation tokens/s"
for prompt in "${prompts[@]}"; do
  for round in $(seq "$rounds"); do
    for cfg in "${configs[@]}"; do
      line=$("$kiln" run "$model" -p "$(cat "$here/${prompt}_prompt.txt")" -n "${TOKENS:-256}" --temp 0 -t "${THREADS:-2}" \
             ${cfg:+--speculative-config "$cfg"} 2>&1 >/dev/null | tail -1)
      echo "$prompt round $round ${cfg:-off}: $line"
    done
  done
done

fi

[ "${SKIP_SERVING:-0}" = 1 ] && exit 0
echo "## serving (kiln bench offline --requests, random 128-token prompts, 64 tokens)"
for c in 1 4 16 64; do
  requests=$(( c < 8 ? 8 : c ))
  for round in $(seq "$rounds"); do
    for cfg in "" "$spec"; do
      line=$("$kiln" bench offline "$model" --requests "$requests" --concurrency "$c" -p 128 -n 64 \
             -t 2 --json ${cfg:+--speculative-config "$cfg"} 2>/dev/null |
             python3 -c 'import json,sys; d=json.load(sys.stdin); print("output tok/s %.2f, tpot p50 %.1f ms" % (d["output_tokens_per_second"], 1e3*d["tpot_seconds"]["p50"]))')
      echo "c=$c round $round ${cfg:-off}: $line"
    done
  done
done
