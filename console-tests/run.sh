#!/usr/bin/env bash
# End-to-end tests of the admin console (/console/, docs/console.md) in a real headless
# Chromium: Debian's /usr/bin/chromium driven by Python Playwright, axe-core from npm for the
# accessibility check. Each backend gets a fresh release binary server on a free loopback port
# with a fresh database, seeded through the CLI, the admin API and SCIM.
#
#   console-tests/run.sh
#
# Environment:
#   ROSTER_BIN        use this binary instead of building one (`cargo build --release --locked`)
#   CARGO_TARGET_DIR  build folder (default: cargo's own, ./target)
#   LOG_DIR           logs, JUnit XML and server logs (default ${TMPDIR:-/tmp}/roster-console-logs);
#                     screenshots of every page visited in $LOG_DIR/console/BACKEND/
#   CHROMIUM          the browser (default /usr/bin/chromium)
#   ROSTER_REQUIRE_BROWSER=1   a missing browser is a failure (as in .ci/run), not a skip
#   PYTEST_ARGS       extra pytest arguments, shell-quoted, e.g. PYTEST_ARGS='-k "sign_in or csrf"'
#   PYTEST_TIMEOUT    seconds before one backend's pytest run is stopped (default 600)
#   BUILD_TIMEOUT     seconds the release build may take (default 3600)
#   ROSTER_BACKENDS   backends to run on (default: "sqlite postgres", postgres only when
#                     reachable; ROSTER_REQUIRE_POSTGRES=1 makes an unreachable one a failure)
#   ROSTER_TEST_POSTGRES  PostgreSQL server for fresh databases (default postgres://postgres@127.0.0.1:5432)
#
# Output: one line per backend, then "console: N passed, M failed, K skipped".
# Exit status: 0 only when every part ran and nothing failed (or the browser is missing and
# not required: then one skipped).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/roster-console"
VENV="$CACHE_DIR/venv"
AXE_VERSION=4.14.1
AXE_JS="$CACHE_DIR/node_modules/axe-core/axe.min.js"
LOG_DIR="${LOG_DIR:-${TMPDIR:-/tmp}/roster-console-logs}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
PYTHON="${PYTHON:-python3}"
export PYTHONDONTWRITEBYTECODE=1

mkdir -p "$LOG_DIR"

TOTAL_P=0 TOTAL_F=0 TOTAL_S=0
BROKEN=0  # parts that could not run

report() {  # report PART PASSED FAILED SKIPPED
    echo "$1${BACKEND:+ ($BACKEND)}: $2 passed, $3 failed, $4 skipped"
    TOTAL_P=$((TOTAL_P + $2)) TOTAL_F=$((TOTAL_F + $3)) TOTAL_S=$((TOTAL_S + $4))
}

incomplete() {  # incomplete PART REASON: a part that did not run to its end
    echo "$1: $2" >&2
    BROKEN=$((BROKEN + 1))
}

broken() {  # broken PART REASON: a part that could not run counts as one failure
    incomplete "$1" "could not run: $2"
    report "$1" 0 1 0
}

finish() {
    echo "console: $TOTAL_P passed, $TOTAL_F failed, $TOTAL_S skipped"
    if [ "$TOTAL_F" -ne 0 ] || [ "$BROKEN" -ne 0 ]; then
        exit 1
    fi
    exit 0
}

# --- the browser --------------------------------------------------------------------------------

if [ ! -x "$CHROMIUM" ]; then
    if [ "${ROSTER_REQUIRE_BROWSER:-0}" = 1 ]; then
        broken browser "no browser at $CHROMIUM (apt-get install chromium chromium-driver)"
        finish
    fi
    echo "console: skipped: no browser at $CHROMIUM (apt-get install chromium chromium-driver)" >&2
    TOTAL_S=1
    finish
fi

# --- servers and cleanup ------------------------------------------------------------------------

SERVER_PIDS=()
TEMP_DIRS=()
PG_DATABASES=()
PG_SERVER="${ROSTER_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
BACKEND=""

stop_server() {  # stop_server PID
    local pid=$1
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local pid dir db
    for pid in ${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}; do
        stop_server "$pid"
    done
    for dir in ${TEMP_DIRS[@]+"${TEMP_DIRS[@]}"}; do
        rm -rf "$dir"
    done
    for db in ${PG_DATABASES[@]+"${PG_DATABASES[@]}"}; do
        if command -v psql > /dev/null; then
            timeout 30 psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null 2>&1 || true
        fi
    done
}

postgres_reachable() {  # is something listening where PG_SERVER points?
    local hostport host port
    hostport=${PG_SERVER#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
    host=${hostport%:*}; port=${hostport##*:}
    [ "$host" = "$hostport" ] && port=5432
    (exec 3<>"/dev/tcp/$host/$port") 2> /dev/null
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    "$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

healthy() {  # healthy URL: true when URL answers 200
    "$PYTHON" -c 'import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)' "$1" 2>/dev/null
}

roster() {  # roster ARGS...: the binary on this backend's database, bounded in time
    timeout 60 "$ROSTER_BIN" --database "$SERVER_DB_URL" "$@"
}

# start_server: a fresh temp dir and database, the accounts and their tokens, `roster serve` on
# a free port, then the seed. Sets SERVER_URL, SERVER_DB_URL, SERVER_PID and exports what the
# tests read. Returns non-zero (with the reason on stderr) when any of it fails.
start_server() {
    local dir port setup_log="$LOG_DIR/$BACKEND.setup.log" server_log="$LOG_DIR/$BACKEND.server.log"
    dir=$(mktemp -d "${TMPDIR:-/tmp}/roster-console.XXXXXX") || return 1
    TEMP_DIRS+=("$dir")
    if [ "$BACKEND" = postgres ]; then
        local db="roster_console_$(date +%s)_$RANDOM"
        PG_DATABASES+=("$db")
        SERVER_DB_URL="$PG_SERVER/$db"
    else
        SERVER_DB_URL="sqlite://$dir/roster.db"
    fi
    : > "$setup_log"
    {
        # acme is the account under test; globex holds an email acme then tries to use
        roster account create acme &&
        roster account create globex &&
        ROSTER_SCIM_TOKEN=$(roster token create --account acme --name okta-prod) &&
        ROSTER_OTHER_SCIM_TOKEN=$(roster token create --account globex --name globex-idp) &&
        ROSTER_ADMIN_TOKEN=$(roster admin-token create --account acme) &&
        ROSTER_AUDITOR_TOKEN=$(roster admin-token create --account acme --role auditor) &&
        roster licenses set --account acme --product meeting --seats 2 &&
        roster licenses set --account acme --product webinar --seats 1
    } >> "$setup_log" 2>&1 || { echo "$BACKEND: setup through the CLI failed, see $setup_log" >&2; return 1; }
    export ROSTER_SCIM_TOKEN ROSTER_OTHER_SCIM_TOKEN ROSTER_ADMIN_TOKEN ROSTER_AUDITOR_TOKEN
    port=$(free_port) || return 1
    "$ROSTER_BIN" --database "$SERVER_DB_URL" serve --listen "127.0.0.1:$port" --rate-limit 100000 --webhook-allow-private > "$server_log" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    SERVER_URL="http://127.0.0.1:$port"
    local up=0
    for _ in $(seq 300); do  # 30 s
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "$BACKEND: roster serve exited before it was ready; last lines of $server_log:" >&2
            tail -n 20 "$server_log" >&2
            return 1
        fi
        if healthy "$SERVER_URL/healthz"; then up=1; break; fi
        sleep 0.1
    done
    if [ "$up" != 1 ]; then
        echo "$BACKEND: /healthz did not answer 200 within 30 s; last lines of $server_log:" >&2
        tail -n 20 "$server_log" >&2
        return 1
    fi
    echo "$BACKEND: roster serving on $SERVER_URL (database $SERVER_DB_URL, log $server_log)" >&2
    export ROSTER_URL="$SERVER_URL" ROSTER_DATABASE_URL="$SERVER_DB_URL" ROSTER_ACCOUNT=acme
    export ROSTER_SEED="$LOG_DIR/$BACKEND.seed.json"
    if ! timeout 120 "$VENV/bin/python" "$HERE/seed.py" "$ROSTER_SEED" >> "$setup_log" 2>&1; then
        echo "$BACKEND: seeding through SCIM and the admin API failed, see $setup_log" >&2
        return 1
    fi
}

# --- tools: the venv (Playwright, pytest) and axe-core ------------------------------------------

setup_tools() {
    local req="$HERE/requirements.txt" stamp="$VENV/.roster-requirements"
    if [ ! -x "$VENV/bin/python" ]; then
        mkdir -p "$CACHE_DIR"
        "$PYTHON" -m venv "$VENV" || return 1
    fi
    # reinstall only when requirements.txt changed since the last install; Playwright drives
    # Debian's Chromium, so its own browser download (`playwright install`) is never run
    if [ ! -f "$stamp" ] || ! cmp -s "$req" "$stamp"; then
        timeout 600 "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req" || return 1
        cp "$req" "$stamp"
    fi
    if [ ! -f "$AXE_JS" ] || [ "$(cat "$CACHE_DIR/.axe-version" 2>/dev/null)" != "$AXE_VERSION" ]; then
        command -v npm > /dev/null || { echo "npm is needed for axe-core" >&2; return 1; }
        timeout 300 npm install --prefix "$CACHE_DIR" --no-audit --no-fund --no-save \
            "axe-core@$AXE_VERSION" || return 1
        [ -f "$AXE_JS" ] || return 1
        echo "$AXE_VERSION" > "$CACHE_DIR/.axe-version"
    fi
}

if ! setup_tools > "$LOG_DIR/tools.log" 2>&1; then
    broken tools "could not set up $VENV or axe-core, see $LOG_DIR/tools.log"
    finish
fi
export AXE_JS CHROMIUM

# --- the binary ---------------------------------------------------------------------------------

if [ -z "${ROSTER_BIN:-}" ]; then
    echo "== cargo build --release --locked (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)" >&2
    if ! (cd "$REPO" && timeout "${BUILD_TIMEOUT:-3600}" cargo build --release --locked) >&2; then
        broken build "cargo build --release failed"
        finish
    fi
    ROSTER_BIN="$CARGO_TARGET_DIR/release/roster"
fi
case $ROSTER_BIN in
    */*) ;;
    *) ROSTER_BIN=$(command -v "$ROSTER_BIN" || echo "$ROSTER_BIN") ;;
esac
if [ ! -x "$ROSTER_BIN" ] || [ -d "$ROSTER_BIN" ]; then
    broken build "no executable at $ROSTER_BIN"
    finish
fi
# absolute, because pytest runs from this folder
ROSTER_BIN="$(cd "$(dirname "$ROSTER_BIN")" && pwd)/$(basename "$ROSTER_BIN")"
export ROSTER_BIN

# --- the suite, once per backend ----------------------------------------------------------------

run_pytest() {
    local junit="$LOG_DIR/$BACKEND.junit.xml" rc counts extra=()
    if ! start_server; then
        broken console "server did not start"
        return
    fi
    export SHOT_DIR="$LOG_DIR/console/$BACKEND"
    rm -rf "$SHOT_DIR"
    mkdir -p "$SHOT_DIR"
    # PYTEST_ARGS is shell-quoted by the caller, so let the shell split it
    eval "extra=(${PYTEST_ARGS:-})"
    rm -f "$junit"
    set +e
    (cd "$HERE" && timeout -k 10 "${PYTEST_TIMEOUT:-600}" "$VENV/bin/python" -m pytest -q \
        -p no:cacheprovider --junitxml="$junit" ${extra[@]+"${extra[@]}"} 2>&1) \
        | tee "$LOG_DIR/$BACKEND.pytest.log" >&2
    rc=${PIPESTATUS[0]}
    set -e
    stop_server "$SERVER_PID"
    if [ ! -s "$junit" ]; then
        broken console "pytest exited $rc without a report, see $LOG_DIR/$BACKEND.pytest.log"
        return
    fi
    if ! counts=$("$VENV/bin/python" - "$junit" 2>> "$LOG_DIR/$BACKEND.pytest.log" <<'EOF'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
n = f = e = s = 0
for su in suites:
    n += int(su.get("tests", 0)); f += int(su.get("failures", 0))
    e += int(su.get("errors", 0)); s += int(su.get("skipped", 0))
print(n - f - e - s, f + e, s)
EOF
    ); then
        broken console "unreadable report $junit"
        return
    fi
    local p f s
    read -r p f s <<< "$counts"
    case $rc in
        0|1) ;;
        5) incomplete console "no test was collected (PYTEST_ARGS=${PYTEST_ARGS:-})"; f=$((f + 1)) ;;
        124|137) incomplete console "stopped after ${PYTEST_TIMEOUT:-600} s"; f=$((f + 1)) ;;
        *) incomplete console "pytest exited $rc, see $LOG_DIR/$BACKEND.pytest.log"; f=$((f + 1)) ;;
    esac
    report console "$p" "$f" "$s"
    echo "screenshots: $SHOT_DIR ($(find "$SHOT_DIR" -name '*.png' | wc -l) files)" >&2
}

if [ -z "${ROSTER_BACKENDS:-}" ]; then
    ROSTER_BACKENDS=sqlite
    if [ "${ROSTER_SKIP_POSTGRES:-0}" != 1 ]; then
        if postgres_reachable; then
            ROSTER_BACKENDS="sqlite postgres"
        elif [ "${ROSTER_REQUIRE_POSTGRES:-0}" = 1 ]; then
            BACKEND=postgres broken console "PostgreSQL is not reachable at $PG_SERVER"
        else
            echo "PostgreSQL is not reachable at $PG_SERVER: the PostgreSQL part is skipped" >&2
        fi
    fi
fi
for BACKEND in $ROSTER_BACKENDS; do
    echo "== backend: $BACKEND" >&2
    run_pytest
done
BACKEND=""
echo "logs: $LOG_DIR" >&2
finish
