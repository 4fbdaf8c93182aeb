#!/usr/bin/env bash
# The README's main command: install, build, fetch the default model, and serve it over
# HTTP (OpenAI- and Anthropic-compatible, docs/api.md) on 127.0.0.1:8080 until Ctrl-C.
# Extra arguments go to `kiln serve` (e.g. --port 9000 --api-key KEY).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh release
model=$(scripts/fetch_model.sh)
exec build/release/kiln serve "$model" --served-model-name smollm2 "$@"
