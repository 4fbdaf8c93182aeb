#!/usr/bin/env bash
# The README's second command: the whole test suite, as CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
echo "== unit tests (release)"
scripts/build.sh release
ctest --preset release -j "$(nproc)"
echo "== unit tests (asan + ubsan, clang; the same build holds the fuzz targets)"
scripts/build.sh asan
ctest --preset asan -j "$(nproc)"
echo "== reference and end-to-end tests"
export KILN_MODEL="$(scripts/fetch_model.sh)"
export KILN_MODEL_GEMMA3="$(scripts/fetch_models_extra.sh gemma3)"
export KILN_MODEL_QWEN2="$(scripts/fetch_models_extra.sh qwen)"
export KILN_BIN="$PWD/build/release/kiln"
echo "== fuzzing (every libFuzzer target, bounded; docs/fuzzing.md)"
KILN_FUZZ_BIN=build/asan/fuzz \
  KILN_FUZZ_TOKENIZER_GGUFS="$KILN_MODEL:$KILN_MODEL_GEMMA3:$KILN_MODEL_QWEN2" scripts/fuzz.sh 30
python3 -m pytest -q tests/reference tests/e2e
