#!/usr/bin/env bash
# Black-box conformance: Roster's own pytest suite, then the external suites in
# ../shared/conformance (when that folder exists), each against a freshly started release
# binary on a free loopback port with a fresh SQLite database.
#
#   conformance-tests/run.sh
#
# Environment:
#   ROSTER_BIN        use this binary instead of building one (`cargo build --release --locked`)
#   CARGO_TARGET_DIR  build folder (default: cargo's own, ./target)
#   LOG_DIR           logs, reports and server logs (default ${TMPDIR:-/tmp}/roster-conformance-logs)
#   SKIP_EXTERNAL=1   run only the project's own suite
#   PYTEST_ARGS       extra pytest arguments, shell-quoted, e.g. PYTEST_ARGS='-k "etag or bulk"'
#   PYTEST_TIMEOUT, EXTERNAL_TIMEOUT   seconds before a part is stopped (default 900, 1800)
#   ROSTER_BACKENDS   backends to run every part on (default: "sqlite postgres", postgres only
#                     when reachable; ROSTER_REQUIRE_POSTGRES=1 makes an unreachable one a failure)
#   ROSTER_TEST_POSTGRES  PostgreSQL server for fresh databases (default postgres://postgres@127.0.0.1:5432)
#
# Output: one summary line per part, then "conformance: N passed, M failed, K skipped".
# Exit status: 0 only when every part ran and nothing failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
EXTERNAL_DIR="$REPO/../shared/conformance"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/roster-conformance"
VENV="$CACHE_DIR/venv"
LOG_DIR="${LOG_DIR:-${TMPDIR:-/tmp}/roster-conformance-logs}"
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
    echo "conformance: $TOTAL_P passed, $TOTAL_F failed, $TOTAL_S skipped"
    if [ "$TOTAL_F" -ne 0 ] || [ "$BROKEN" -ne 0 ]; then
        exit 1
    fi
    exit 0
}

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
    local pid dir
    for pid in ${SERVER_PIDS[@]+"${SERVER_PIDS[@]}"}; do
        stop_server "$pid"
    done
    for dir in ${TEMP_DIRS[@]+"${TEMP_DIRS[@]}"}; do
        rm -rf "$dir"
    done
    for db in ${PG_DATABASES[@]+"${PG_DATABASES[@]}"}; do
        if command -v psql > /dev/null; then
            psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null 2>&1 || true
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
    if command -v curl > /dev/null; then
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null)" = 200 ]
    else
        "$PYTHON" -c 'import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)' "$1" 2>/dev/null
    fi
}

# start_server NAME: a fresh temp dir and SQLite database, the default account and a token,
# `roster serve` on a free port. Sets SERVER_BASE_URL, SERVER_TOKEN, SERVER_DB_URL, SERVER_PID.
# Returns non-zero (with the reason on stderr) when the server does not come up.
start_server() {
    local name=$1 dir port setup_log="$LOG_DIR/$1.setup.log" server_log="$LOG_DIR/$1.server.log"
    dir=$(mktemp -d "${TMPDIR:-/tmp}/roster-$name.XXXXXX") || return 1
    TEMP_DIRS+=("$dir")
    if [ "$BACKEND" = postgres ]; then
        local db="roster_conf_${name}_$(date +%s)_$RANDOM"
        PG_DATABASES+=("$db")
        SERVER_DB_URL="$PG_SERVER/$db"
    else
        SERVER_DB_URL="sqlite://$dir/roster.db"
    fi
    : > "$setup_log"
    if ! "$ROSTER_BIN" --database "$SERVER_DB_URL" account create default >> "$setup_log" 2>&1; then
        echo "$name: 'account create default' failed, see $setup_log" >&2
        return 1
    fi
    if ! SERVER_TOKEN=$("$ROSTER_BIN" --database "$SERVER_DB_URL" token create --account default \
            --name "conformance-$name" 2>> "$setup_log"); then
        echo "$name: 'token create' failed, see $setup_log" >&2
        return 1
    fi
    SERVER_TOKEN=$(printf '%s' "$SERVER_TOKEN" | tr -d '[:space:]')
    if [ -z "$SERVER_TOKEN" ]; then
        echo "$name: 'token create' printed no token" >&2
        return 1
    fi
    port=$(free_port) || return 1
    "$ROSTER_BIN" --database "$SERVER_DB_URL" serve --listen "127.0.0.1:$port" --rate-limit 100000 > "$server_log" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    SERVER_BASE_URL="http://127.0.0.1:$port/scim/v2"
    for _ in $(seq 300); do  # 30 s
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "$name: roster serve exited before it was ready; last lines of $server_log:" >&2
            tail -n 20 "$server_log" >&2
            return 1
        fi
        if healthy "http://127.0.0.1:$port/healthz"; then
            echo "$name: roster serving on 127.0.0.1:$port (database $SERVER_DB_URL, log $server_log)" >&2
            return 0
        fi
        sleep 0.1
    done
    echo "$name: /healthz did not answer 200 within 30 s; last lines of $server_log:" >&2
    tail -n 20 "$server_log" >&2
    return 1
}

# --- the binary ---------------------------------------------------------------------------------

if [ -z "${ROSTER_BIN:-}" ]; then
    echo "== cargo build --release --locked (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)" >&2
    if ! (cd "$REPO" && cargo build --release --locked) >&2; then
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

# --- part 1: the project's own pytest suite -----------------------------------------------------

setup_venv() {
    local req="$HERE/requirements.txt" stamp="$VENV/.roster-requirements"
    if [ ! -x "$VENV/bin/python" ]; then
        mkdir -p "$CACHE_DIR"
        "$PYTHON" -m venv "$VENV" || return 1
    fi
    # reinstall only when requirements.txt changed since the last install
    if [ ! -f "$stamp" ] || ! cmp -s "$req" "$stamp"; then
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req" || return 1
        cp "$req" "$stamp"
    fi
}

run_pytest() {
    local junit="$LOG_DIR/pytest.junit.xml" rc counts extra=()
    if ! setup_venv > "$LOG_DIR/pytest.venv.log" 2>&1; then
        broken pytest "could not set up $VENV, see $LOG_DIR/pytest.venv.log"
        return
    fi
    if ! start_server own; then
        broken pytest "server did not start"
        return
    fi
    # PYTEST_ARGS is shell-quoted by the caller, so let the shell split it
    eval "extra=(${PYTEST_ARGS:-})"
    rm -f "$junit"
    set +e
    (cd "$HERE" && ROSTER_BASE_URL="$SERVER_BASE_URL" ROSTER_TOKEN="$SERVER_TOKEN" \
        ROSTER_DATABASE_URL="$SERVER_DB_URL" ROSTER_BIN="$ROSTER_BIN" \
        timeout "${PYTEST_TIMEOUT:-900}" "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
        --junitxml="$junit" ${extra[@]+"${extra[@]}"} 2>&1) | tee "$LOG_DIR/pytest.log" >&2
    rc=${PIPESTATUS[0]}
    set -e
    stop_server "$SERVER_PID"
    if [ ! -s "$junit" ]; then
        broken pytest "pytest exited $rc without a report, see $LOG_DIR/pytest.log"
        return
    fi
    if ! counts=$("$VENV/bin/python" - "$junit" 2>> "$LOG_DIR/pytest.log" <<'EOF'
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
        broken pytest "unreadable report $junit"
        return
    fi
    local p f s
    read -r p f s <<< "$counts"
    case $rc in
        0|1) ;;
        5) incomplete pytest "no test was collected (PYTEST_ARGS=${PYTEST_ARGS:-})"; f=$((f + 1)) ;;
        124) incomplete pytest "stopped after ${PYTEST_TIMEOUT:-900} s"; f=$((f + 1)) ;;
        *) incomplete pytest "pytest exited $rc, see $LOG_DIR/pytest.log"; f=$((f + 1)) ;;
    esac
    report pytest "$p" "$f" "$s"
}

# --- part 2: the external suites -----------------------------------------------------------------

run_external() {
    local rc line
    # A part that does not run counts as one skipped, so the summary line says so.
    if [ "${SKIP_EXTERNAL:-0}" = 1 ]; then
        echo "external: skipped (SKIP_EXTERNAL=1)" >&2
        report external 0 0 1
        return
    fi
    if [ ! -f "$EXTERNAL_DIR/run-all.sh" ]; then
        echo "external: skipped: the external suites are not beside this clone ($EXTERNAL_DIR/run-all.sh)" >&2
        report external 0 0 1
        return
    fi
    # the shared folder may be read-only: both scripts only read from it
    if ! bash "$EXTERNAL_DIR/install-tools.sh" > "$LOG_DIR/install-tools.log" 2>&1; then
        broken external "install-tools.sh failed, see $LOG_DIR/install-tools.log"
        return
    fi
    if ! start_server external; then
        broken external "server did not start"
        return
    fi
    mkdir -p "$LOG_DIR/external"
    set +e
    BASE_URL="$SERVER_BASE_URL" TOKEN="$SERVER_TOKEN" LOG_DIR="$LOG_DIR/external" \
        timeout "${EXTERNAL_TIMEOUT:-1800}" bash "$EXTERNAL_DIR/run-all.sh" 2>&1 \
        | tee "$LOG_DIR/external.log" | sed 's/^/  /' >&2
    rc=${PIPESTATUS[0]}
    set -e
    stop_server "$SERVER_PID"
    line=$(grep -E '^TOTAL: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$LOG_DIR/external.log" | tail -n 1 || true)
    if [ -z "$line" ]; then
        broken external "run-all.sh exited $rc without a TOTAL line, see $LOG_DIR/external.log"
        return
    fi
    local p f s
    read -r p f s <<< "$(echo "$line" | sed -E 's/^TOTAL: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/')"
    # Deliberate deviations from ms-postman and scim2-tester (known-deviations.txt, reasons
    # in README.md) are reported apart; any other failure still fails.
    local known unexpected suite kind report
    for suite in ms-postman scim2-tester; do
        case $suite in
            ms-postman) kind=newman report="$LOG_DIR/external/ms-postman.newman.json" ;;
            scim2-tester) kind=scim2 report="$LOG_DIR/external/scim2-tester.log" ;;
        esac
        [ -s "$report" ] || continue
        if read -r known unexpected < <("$PYTHON" "$HERE/known_deviations.py" "$kind" "$report" \
                "$HERE/known-deviations.txt"); then
            echo "external: $known known $suite deviations (conformance-tests/README.md), $unexpected unexpected" >&2
            f=$((f - known))
            s=$((s + known))
        fi
    done
    case $rc in
        0|1) ;;
        124) incomplete external "stopped after ${EXTERNAL_TIMEOUT:-1800} s"; f=$((f + 1)) ;;
        *) incomplete external "run-all.sh exited $rc, see $LOG_DIR/external.log"; f=$((f + 1)) ;;
    esac
    report external "$p" "$f" "$s"
}

if [ -z "${ROSTER_BACKENDS:-}" ]; then
    ROSTER_BACKENDS=sqlite
    if [ "${ROSTER_SKIP_POSTGRES:-0}" != 1 ]; then
        if postgres_reachable; then
            ROSTER_BACKENDS="sqlite postgres"
        elif [ "${ROSTER_REQUIRE_POSTGRES:-0}" = 1 ]; then
            BACKEND=postgres broken postgres "PostgreSQL is not reachable at $PG_SERVER"
        else
            echo "PostgreSQL is not reachable at $PG_SERVER: the PostgreSQL part is skipped" >&2
        fi
    fi
fi
BASE_LOG_DIR=$LOG_DIR
for BACKEND in $ROSTER_BACKENDS; do
    LOG_DIR="$BASE_LOG_DIR/$BACKEND"
    mkdir -p "$LOG_DIR"
    echo "== backend: $BACKEND" >&2
    run_pytest
    run_external
done
echo "logs: $BASE_LOG_DIR" >&2
finish
