#!/usr/bin/env bash
# The test command: every unit, property and integration test.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked "$@"
