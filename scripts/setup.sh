#!/usr/bin/env bash
# The README's first command: install, build, fetch the default model, and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh release
model=$(scripts/fetch_model.sh)
build/release/kiln run "$model" -p "The three primary colors are" -n 48 --temp 0
