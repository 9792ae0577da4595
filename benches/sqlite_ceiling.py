#!/usr/bin/env python3
"""The SQLite write ceiling on this machine, measured alone: small transactions of two
inserts each (a row and an index entry's worth, like a create's smallest work), committed one
by one and in groups, with synchronous=NORMAL and FULL, WAL mode. What Roster's write path is
compared with in BENCHMARKS.md. Not a test.

    python3 benches/sqlite_ceiling.py [SECONDS]
"""
import os, sqlite3, sys, tempfile, time

secs = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0

def run(sync, per_commit):
    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(os.path.join(d, "c.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={sync}")
        db.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT UNIQUE, doc TEXT)")
        db.execute("CREATE TABLE b (a INTEGER, at TEXT)")
        n = 0
        end = time.time() + secs
        start = time.time()
        while time.time() < end:
            db.execute("BEGIN")
            for _ in range(per_commit):
                db.execute("INSERT INTO a (name, doc) VALUES (?, ?)", (f"user{n}@example.com", '{"x": 1}'))
                db.execute("INSERT INTO b VALUES (?, ?)", (n, "2026-11-28T00:00:00Z"))
                n += 1
            db.execute("COMMIT")
        return n / (time.time() - start)

for sync in ("NORMAL", "FULL"):
    for per in (1, 32):
        print(f"synchronous={sync:6} {per:3} transaction(s) per commit: {run(sync, per):>9,.0f} transactions/s")
