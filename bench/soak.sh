#!/usr/bin/env bash
# The soak test: mixed traffic against one `kiln serve`, then the invariants (bench/soak.py
# says which). CI runs two minutes of it (tests/e2e/test_soak.py); docs/operations.md
# records a one-hour run.
#
# Usage: bench/soak.sh [--duration SECONDS] [--model PATH] [--json FILE] [...]
#        (bench/soak.sh --help lists the rest; KILN_BIN and KILN_MODEL are the defaults)
set -euo pipefail
exec python3 "$(dirname "$0")/soak.py" "$@"
