#!/usr/bin/env bash
# The test command: every unit, property and integration test, then one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

cargo test --locked "$@" 2>&1 | tee "$log"

# Sum cargo's per-binary "test result:" lines into one closing line.
awk '/^test result:/ { p += $4; f += $6; s += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' \
  <(sed 's/;//g' "$log")
