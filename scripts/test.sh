#!/usr/bin/env bash
# The test command: every unit, property and integration test (cargo test) on SQLite and on
# PostgreSQL, then the black-box conformance runner against the release binary on both
# (SKIP_CONFORMANCE=1 skips it), then the admin console's end-to-end suite in headless Chromium
# (SKIP_CONSOLE=1 skips it), then one summary line of everything.
#
# One build serves all of it: the tests are built in the release profile, so the binary the
# conformance suites run is the one `cargo build --release` (or `cargo run --release`) made,
# in cargo's own ./target unless CARGO_TARGET_DIR says otherwise.
#
# PostgreSQL: ROSTER_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432); tests make and
# drop their own databases there. When nothing listens there the PostgreSQL part is skipped and
# said so, unless ROSTER_REQUIRE_POSTGRES=1 (as in .ci/run), which makes it a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export ROSTER_TEST_POSTGRES="${ROSTER_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"

postgres_reachable() {
    local hostport host port
    hostport=${ROSTER_TEST_POSTGRES#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
    host=${hostport%:*}; port=${hostport##*:}
    [ "$host" = "$hostport" ] && port=5432
    (exec 3<>"/dev/tcp/$host/$port") 2> /dev/null
}

skip=()
if [ "${ROSTER_SKIP_POSTGRES:-0}" = 1 ] || ! postgres_reachable; then
    if [ "${ROSTER_REQUIRE_POSTGRES:-0}" = 1 ]; then
        echo "PostgreSQL is required (ROSTER_REQUIRE_POSTGRES=1) but not reachable at $ROSTER_TEST_POSTGRES" >&2
        exit 1
    fi
    echo "PostgreSQL is not reachable at $ROSTER_TEST_POSTGRES: the PostgreSQL part is skipped"
    export ROSTER_SKIP_POSTGRES=1
    skip=(--skip postgres)
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

cargo test --release --locked "$@" -- ${skip[@]+"${skip[@]}"} 2>&1 | tee "$log"

# Sum cargo's per-binary "test result:" lines.
read -r passed failed skipped < <(sed 's/;//g' "$log" | awk '/^test result:/ { p += $4; f += $6; s += $8 }
     END { printf "%d %d %d\n", p, f, s }')
echo "cargo-test: $passed passed, $failed failed, $skipped skipped"

status=0
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
    [ "$rc" = 0 ] || status=$rc
fi

# The admin console end to end in headless Chromium (console-tests/run.sh; SKIP_CONSOLE=1 skips
# it). Without /usr/bin/chromium it counts as one skipped, unless ROSTER_REQUIRE_BROWSER=1.
if [ "${SKIP_CONSOLE:-0}" != 1 ]; then
    rc=0
    console-tests/run.sh > "$log" || rc=$?
    cat "$log"
    line=$(grep -E '^console: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1 || true)
    if [ -z "$line" ]; then
        echo "console runner printed no summary" >&2
        exit 1
    fi
    read -r p f s < <(echo "$line" | sed -E 's/^console: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/')
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    [ "$rc" = 0 ] || status=$rc
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
