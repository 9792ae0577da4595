#!/usr/bin/env bash
# Benchmark the SCIM surface of the release binary on a fresh SQLite file with wrk (Debian
# package): user creates/s (with seat evaluation and sync log), userName lookups/s at N users,
# and adding one member to a group of ~N members (latency percentiles). Not a test.
#
#   benches/scim.sh [USERS] [SECONDS]      (defaults: 100000 users, 10 s per load)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-100000}
secs=${2:-10}
command -v wrk > /dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 2; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/roster/target}"
# ROSTER_BIN: benchmark another build (for a before/after), else the release build of this tree.
if [ -n "${ROSTER_BIN:-}" ]; then bin=$ROSTER_BIN; else
  cargo build --release --locked >&2
  bin="$CARGO_TARGET_DIR/release/roster"
fi
dir=$(mktemp -d)
db="sqlite://$dir/bench.db"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" --database "$db" account create bench >&2
"$bin" --database "$db" licenses set --account bench --product meeting --seats 10000000 >&2
"$bin" --database "$db" serve --listen "127.0.0.1:$port" --rate-limit 100000 > "$dir/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
export TOKEN
TOKEN=$("$bin" --database "$db" token create --account bench --name bench)
admin=$("$bin" --database "$db" admin-token create --account bench)
base="http://127.0.0.1:$port"
for _ in $(seq 50); do curl -fs "$base/healthz" > /dev/null && break; sleep 0.1; done
curl -fs -X PATCH -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"default_products":["meeting"]}' "$base/admin/v1/settings" > /dev/null

echo "== admin reads (GET /admin/v1/products and /settings), 32 connections, ${secs}s"
ADMIN=$admin wrk -t2 -c32 -d"${secs}s" --latency -s benches/wrk/admin.lua "$base" | grep -E "Requests/sec|Latency|99%|Non-2xx"

echo "== user creates (POST /Users, default product seat, sync log), 32 connections, ${secs}s"
wrk -t2 -c32 -d"${secs}s" --latency -s benches/wrk/create.lua "$base" | grep -E "Requests/sec|Latency|99%|Non-2xx"

echo "== seeding $users users by import"
python3 - "$users" "$dir/users.csv" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("email,groups\n")
    for i in range(n):
        # All but the last 1,000 go into one big group.
        f.write(f"user{i}@example.com,{'big' if i < n - 1000 else ''}\n")
PY
"$bin" --database "$db" import "$dir/users.csv" --account bench | head -1

echo "== userName eq lookups at $users+ users, 32 connections, ${secs}s"
USERS=$users wrk -t2 -c32 -d"${secs}s" --latency -s benches/wrk/lookup.lua "$base" | grep -E "Requests/sec|Latency|99%|Non-2xx"

group=$(curl -fs -H "Authorization: Bearer $TOKEN" "$base/scim/v2/Groups?filter=displayName%20eq%20%22big%22&excludedAttributes=members" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["Resources"][0]["id"])')
members=$(curl -fs -H "Authorization: Bearer $TOKEN" "$base/scim/v2/Groups/$group" | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("members", [])))')
# The users left out of the big group: "userName sw "user" and not (groups pr)".
curl -fs -H "Authorization: Bearer $TOKEN" "$base/scim/v2/Users?filter=userName%20sw%20%22user%22%20and%20not%20(groups%20pr)&count=1000&attributes=id" \
  | python3 -c 'import json,sys; [print(r["id"]) for r in json.load(sys.stdin)["Resources"]]' > "$dir/ids.txt"
echo "== add one member to a group of $members members (PATCH, 204), 4 connections, ${secs}s"
GROUP=$group IDS="$dir/ids.txt" wrk -t2 -c4 -d"${secs}s" --latency -s benches/wrk/member.lua "$base" | grep -E "Requests/sec|Latency|99%|Non-2xx"
# RssFile is the memory-mapped database (page cache the kernel can drop); RssAnon is the
# server's own memory.
echo "== resident memory of the server: $(awk '/^(VmRSS|RssAnon|RssFile)/ {printf "%s %.0f MB  ", $1, $2/1024}' /proc/$pid/status)"
