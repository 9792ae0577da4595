#!/usr/bin/env bash
# What a webhook endpoint subscribed to every event costs SCIM writes: user creates/s (32
# connections, wrk) on a fresh SQLite file with no endpoint, then on another fresh file with
# one endpoint ("*") whose receiver (Python, on loopback) answers 204; then how long the
# endpoint takes to catch up with the feed after the load stops. Not a test.
#
#   benches/webhooks.sh [SECONDS]      (default 10 s per load)
#   ROSTER_DATABASE=postgres://postgres@127.0.0.1:5432 benches/webhooks.sh   (PostgreSQL: a
#   fresh database per run, dropped afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
command -v wrk > /dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 2; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/roster/target}"
if [ -n "${ROSTER_BIN:-}" ]; then bin=$ROSTER_BIN; else
  cargo build --release --locked >&2
  bin="$CARGO_TARGET_DIR/release/roster"
fi
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cat > "$dir/receiver.py" <<'PY'
import http.server, sys
class R(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), R).serve_forever()
PY

run() {
  local label=$1 hook=$2 db
  if [ -n "${ROSTER_DATABASE:-}" ]; then
    db="${ROSTER_DATABASE%/}/roster_bench_$RANDOM$RANDOM"
  else
    db="sqlite://$dir/$label.db"
  fi
  local port; port=$(free_port)
  "$bin" --database "$db" account create bench >&2
  "$bin" --database "$db" licenses set --account bench --product meeting --seats 10000000 >&2
  "$bin" --database "$db" serve --listen "127.0.0.1:$port" --rate-limit 100000 --webhook-allow-private \
    > "$dir/$label.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  TOKEN=$("$bin" --database "$db" token create --account bench --name bench); export TOKEN
  local admin; admin=$("$bin" --database "$db" admin-token create --account bench)
  local base="http://127.0.0.1:$port"
  for _ in $(seq 50); do curl -fs "$base/healthz" > /dev/null && break; sleep 0.1; done
  curl -fs -X PATCH -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"default_products":["meeting"]}' "$base/admin/v1/settings" > /dev/null
  local id=""
  if [ "$hook" = yes ]; then
    local rport; rport=$(free_port)
    python3 "$dir/receiver.py" "$rport" & pids+=("$!")
    sleep 0.3
    id=$(curl -fs -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
      -d "{\"url\":\"http://127.0.0.1:$rport/hook\",\"events\":[\"*\"]}" "$base/admin/v1/webhooks" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  fi
  echo "== $label: user creates (POST /Users, default product seat, sync log, events), 32 connections, ${secs}s"
  wrk -t2 -c32 -d"${secs}s" --latency -s benches/wrk/create.lua "$base" | grep -E "Requests/sec|Latency|99%|Non-2xx"
  local last; last=$(curl -fs -H "Authorization: Bearer $admin" "$base/admin/v1/events?limit=1" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["last_sequence"])')
  echo "   events written: $last"
  if [ -n "$id" ]; then
    local start; start=$(date +%s.%N)
    while :; do
      local through; through=$(curl -fs -H "Authorization: Bearer $admin" "$base/admin/v1/webhooks/$id" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["delivered_through"])')
      [ "$through" -ge "$last" ] && break
      sleep 0.5
    done
    echo "   delivered to the endpoint $(python3 -c "import time; print(round(time.time() - $start, 1))") s after the load stopped"
  fi
  kill "$pid"
  if [ -n "${ROSTER_DATABASE:-}" ]; then
    sleep 0.5
    psql "${ROSTER_DATABASE%/}/postgres" -qc "DROP DATABASE IF EXISTS ${db##*/}" > /dev/null 2>&1 || true
  fi
}

run none no
run webhook yes
