#!/usr/bin/env bash
# Benchmark: import N users (default 100,000) from a CSV into a fresh embedded database with
# the release binary, and print the wall time. Not a test: run it by hand.
#
#   benches/import.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-100000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/roster/target}"
cargo build --release --locked >&2
bin="$CARGO_TARGET_DIR/release/roster"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
db="sqlite://$dir/bench.db"
python3 - "$rows" "$dir/users.csv" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("email,userName,givenName,familyName,products,groups,active\n")
    for i in range(n):
        f.write(f"user{i}@example.com,,Given{i},Family{i},meeting,Team{i % 50},true\n")
PY
"$bin" --database "$db" account create bench >&2
"$bin" --database "$db" licenses set --account bench --product meeting --seats "$rows" >&2
start=$(date +%s.%N)
"$bin" --database "$db" import "$dir/users.csv" --account bench
end=$(date +%s.%N)
python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); n=int(sys.argv[3]); print(f'import of {n} rows: {t:.1f} s ({n/t:.0f} rows/s)')" "$start" "$end" "$rows"
start=$(date +%s.%N)
"$bin" --database "$db" import "$dir/users.csv" --account bench
end=$(date +%s.%N)
python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); n=int(sys.argv[3]); print(f're-import (all unchanged) of {n} rows: {t:.1f} s ({n/t:.0f} rows/s)')" "$start" "$end" "$rows"
