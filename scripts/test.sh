#!/usr/bin/env bash
# The test command: every unit, property and integration test (cargo test), then the
# black-box conformance runner against the release binary (SKIP_CONFORMANCE=1 skips it),
# then one summary line of everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/roster/target}"

log=$(mktemp)
trap 'rm -f "$log"' EXIT

cargo test --locked "$@" 2>&1 | tee "$log"

# Sum cargo's per-binary "test result:" lines.
read -r passed failed skipped < <(sed 's/;//g' "$log" | awk '/^test result:/ { p += $4; f += $6; s += $8 }
     END { printf "%d %d %d\n", p, f, s }')
echo "cargo-test: $passed passed, $failed failed, $skipped skipped"

if [ "${SKIP_CONFORMANCE:-0}" != 1 ]; then
    rc=0
    conformance-tests/run.sh > "$log" || rc=$?
    cat "$log"
    line=$(grep -E '^conformance: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1 || true)
    if [ -z "$line" ]; then
        echo "conformance runner printed no summary" >&2
        exit 1
    fi
    read -r p f s < <(echo "$line" | sed -E 's/^conformance: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/')
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    echo "tests: $passed passed, $failed failed, $skipped skipped"
    exit "$rc"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
