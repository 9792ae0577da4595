#!/usr/bin/env python3
"""Hostile-client probes against the release binary: the attacks of the hardening review,
run again, with their figures. Not a test (the tests are in tests/api/limits.rs,
hardening.rs and churn.rs); this prints what each probe measured.

    benches/probes.py [--bin PATH] [--postgres URL] [--churn-seconds N]

Starts its own servers on 127.0.0.1 with fresh databases (a temporary SQLite file; with
--postgres, a fresh database on that server for the two-replica churn) and stops them.
"""

import argparse
import concurrent.futures
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, binary, database, extra=()):
        self.binary, self.database = binary, database
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--database", database, "serve", "--listen", f"127.0.0.1:{self.port}",
             "--rate-limit", "100000", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1)
                return
            except Exception:
                time.sleep(0.1)
        raise SystemExit("the server did not start")

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon"):
                    return int(line.split()[1]) / 1024
        return 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def cli(binary, database, *args):
    return subprocess.run([binary, "--database", database, *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def call(base, method, path, token, body=None, headers=None, raw=None, timeout=300):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None and raw is None:
        req.add_header("Content-Type", "application/scim+json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    t = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    return status, text, time.monotonic() - t


def user(name):
    return {"userName": name, "emails": [{"value": f"{name}@example.com", "primary": True}]}


def quote(s):
    return urllib.parse.quote(s, safe="")


def probes_sqlite(binary):
    d = tempfile.mkdtemp()
    db = f"sqlite://{d}/probe.db"
    cli(binary, db, "account", "create", "a")
    cli(binary, db, "account", "create", "b")
    ta = cli(binary, db, "token", "create", "--account", "a", "--name", "idp")
    tb = cli(binary, db, "token", "create", "--account", "b", "--name", "idp")
    auditor = cli(binary, db, "admin-token", "create", "--account", "a", "--role", "auditor")
    s = Server(binary, db)
    out = []
    try:
        st, body, _ = call(s.base, "POST", "/scim/v2/Users", ta, user("target"))
        uid = json.loads(body)["id"]
        ops = [{"op": "add", "path": "emails", "value": [{"value": f"x{i}@example.com"}]} for i in range(50_000)]
        st, _, dt = call(s.base, "PATCH", f"/scim/v2/Users/{uid}", ta, {"Operations": ops})
        out.append(f"PATCH with 50,000 operations: {st} in {dt * 1000:.0f} ms")

        # A 200,000-row dry run by the read-only auditor while account b's IdP creates users.
        csv = "email\n" + "".join(f"dry{i}@example.com\n" for i in range(200_000))
        result = {}

        def dry_run():
            st, body, dt = call(s.base, "POST", "/admin/v1/imports?dry_run=true", auditor, raw=csv.encode(),
                                headers={"Content-Type": "text/csv"}, timeout=900)
            result["dry"] = (st, dt, json.loads(body).get("created"))
        th = threading.Thread(target=dry_run)
        th.start()
        time.sleep(0.5)
        lat, codes = [], {}
        i = 0
        while th.is_alive():
            st, _, dt = call(s.base, "POST", "/scim/v2/Users", tb, user(f"b{i}"))
            codes[st] = codes.get(st, 0) + 1
            lat.append(dt)
            i += 1
        th.join()
        lat.sort()
        st, dt, created = result["dry"]
        out.append(
            f"200,000-row dry run (auditor): {st} in {dt:.1f} s, {created} rows predicted created; "
            f"meanwhile another account's creates: {len(lat)} done, statuses {codes}, "
            f"p50 {lat[len(lat) // 2] * 1000:.0f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.0f} ms, "
            f"max {lat[-1] * 1000:.0f} ms")

        for n in (200, 201, 1000):
            f = " or ".join(f'userName eq "n{i}"' for i in range(n))
            st, _, dt = call(s.base, "GET", f"/scim/v2/Users?filter={quote(f)}", ta)
            out.append(f"filter of {n} comparisons: {st} in {dt * 1000:.0f} ms")
        many = user("many")
        many["emails"] = [{"value": f"m{i}@example.com"} for i in range(4200)]
        st, _, _ = call(s.base, "POST", "/scim/v2/Users", ta, many)
        out.append(f"user with 4,200 emails: {st}")
        st1, _, _ = call(s.base, "POST", "/scim/v2/Users", ta, {"userName": "nu\u0000l"})
        st2, _, _ = call(s.base, "GET", "/scim/v2/Users?filter=" + quote('userName eq "a\u0000b"'), ta)
        st3, _, _ = call(s.base, "GET", "/scim/v2/Users/a%00b", ta)
        out.append(f"NUL in a userName, a filter, an id: {st1}, {st2}, {st3}")
        st, _, _ = call(s.base, "POST", "/scim/v2/Users", ta, user("u" * 3000))
        out.append(f"userName of 3,000 characters: {st}")
        st, _, _ = call(s.base, "PUT", f"/scim/v2/Users/{uid}", ta, user("target"), headers={"If-Match": '"abc"'})
        out.append(f"PUT with If-Match \"abc\": {st}")
        st, _, _ = call(s.base, "POST", "/scim/v2/Users", ta, raw=json.dumps(user("ct")).encode(),
                        headers={"Content-Type": "text/plain"})
        out.append(f"POST with Content-Type text/plain: {st}")

        # 10,000 users in 50 groups, then a page of groups.
        admin = cli(binary, db, "admin-token", "create", "--account", "a")
        csv = "email,groups\n" + "".join(f"g{i}@example.com,grp{i % 50}\n" for i in range(10_000))
        call(s.base, "POST", "/admin/v1/imports", admin, raw=csv.encode(), headers={"Content-Type": "text/csv"},
             timeout=900)
        before = s.rss_mb()
        st, body, dt = call(s.base, "GET", "/scim/v2/Groups?count=100", ta)
        after = s.rss_mb()
        out.append(f"GET /Groups?count=100 (10,000 users in 50 groups): {st}, {len(body) / 1024:.0f} KiB "
                   f"in {dt * 1000:.0f} ms; server RssAnon {before:.0f} -> {after:.0f} MB")
        st, body, dt = call(s.base, "GET", "/scim/v2/Groups?count=100&attributes=members", ta)
        page = json.loads(body)
        out.append(f"GET /Groups?count=100&attributes=members: {st}, {len(body) / 1024 / 1024:.1f} MiB, "
                   f"itemsPerPage {page['itemsPerPage']} of {page['totalResults']}; "
                   f"server RssAnon {s.rss_mb():.0f} MB")
    finally:
        s.stop()
        shutil.rmtree(d, ignore_errors=True)
    return out


def churn_postgres(binary, server_url, seconds):
    name = f"roster_probe_{random.randrange(1 << 30)}"
    db = f"{server_url.rstrip('/')}/{name}"
    cli(binary, db, "account", "create", "a")
    token = cli(binary, db, "token", "create", "--account", "a", "--name", "idp")
    admin = cli(binary, db, "admin-token", "create", "--account", "a")
    cli(binary, db, "licenses", "set", "--account", "a", "--product", "meeting", "--seats", "50")
    a, b = Server(binary, db), Server(binary, db)
    out = []
    try:
        call(a.base, "PATCH", "/admin/v1/settings", admin, {"default_products": ["meeting"]},
             headers={"Content-Type": "application/json"})
        ids = [json.loads(call(a.base, "POST", "/scim/v2/Users", token, user(f"c{i}"))[1])["id"] for i in range(200)]
        stop = time.monotonic() + seconds
        codes, lock = {}, threading.Lock()

        def worker(n):
            rnd = random.Random(n)
            base = (a, b)[n % 2].base
            while time.monotonic() < stop:
                uid = rnd.choice(ids)
                body = {"Operations": [{"op": "replace", "path": "active", "value": rnd.random() < 0.5}]}
                st, _, _ = call(base, "PATCH", f"/scim/v2/Users/{uid}", token, body)
                with lock:
                    codes[st] = codes.get(st, 0) + 1
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            list(ex.map(worker, range(16)))
        st, body, _ = call(a.base, "GET", "/admin/v1/products", admin)
        pool = json.loads(body)["products"][0]
        users = []
        start = 1
        while True:
            st, body, _ = call(a.base, "GET", f"/admin/v1/users?count=200&startIndex={start}", admin)
            page = json.loads(body)
            users += page["users"]
            if len(page["users"]) < 200:
                break
            start += 200
        holding = sum(1 for u in users for s in u["seats"] if s["product"] == "meeting" and s["state"] == "assigned")
        waiting = sum(1 for u in users for s in u["seats"] if s["product"] == "meeting" and s["state"] == "waitlisted")
        suspended_holding = sum(1 for u in users if u["status"] == "suspended" and u["seats"])
        out.append(
            f"PostgreSQL, two replicas, 16 threads toggling active on 200 users for {seconds} s: "
            f"{sum(codes.values())} PATCHes, statuses {codes}; pool says {pool['assigned']} assigned, "
            f"{pool['waitlisted']} waitlisted; users hold {holding} assigned, {waiting} waitlisted; "
            f"suspended users holding seats: {suspended_holding}")
    finally:
        a.stop()
        b.stop()
        subprocess.run(["psql", server_url + "/postgres", "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                       capture_output=True)
    return out


def main():
    p = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/roster/target"))
    p.add_argument("--bin", default=os.path.join(target, "release", "roster"))
    p.add_argument("--postgres", default=None)
    p.add_argument("--churn-seconds", type=int, default=20)
    args = p.parse_args()
    for line in probes_sqlite(args.bin):
        print(line, flush=True)
    if args.postgres:
        for line in churn_postgres(args.bin, args.postgres, args.churn_seconds):
            print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
