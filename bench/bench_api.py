#!/usr/bin/env python3
"""bench_api.py - figures for the HTTP server (printed, never asserted).

  1. GET /v1/apps                      requests/s and latency percentiles
  2. GET /v1/sessions?user=U&limit=50  one user's list with 100,000 stored sessions
  3. POST /v1/sessions                 launches per second end to end against the
                                       simulated cluster (objects created), then stops
  and the server's RSS after each step.

The load generator is `wrk` (Debian package) when installed, else Python threads with
keep-alive connections.  The 100,000 sessions are inserted with the sqlite3 CLI into
a database migrated by `tycho migrate` (stopped sessions spread over 1,000 users).
Usage: bench/bench_api.py [--tycho PATH] [--seconds N] [--sessions N] [--launches N]
"""
import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "api"))
import tyapi  # noqa: E402


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def pct(sorted_ms, p):
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p / 100.0))]


def py_load(port, path, seconds, threads):
    lat, stop = [], time.time() + seconds
    lock = threading.Lock()
    errors = [0]

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.time() < stop:
            t0 = time.perf_counter()
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            mine.append((time.perf_counter() - t0) * 1000)
            if r.status != 200:
                errors[0] += 1
        with lock:
            lat.extend(mine)
        c.close()

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    el = time.time() - t0
    lat.sort()
    return len(lat) / el, lat, errors[0]


def load(name, port, path, seconds, pid):
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "-t2", "-c8", "-d%ds" % seconds, "--latency",
                              "http://127.0.0.1:%d%s" % (port, path)],
                             capture_output=True, text=True).stdout
        rps = [l for l in out.splitlines() if l.startswith("Requests/sec")]
        pcts = {l.split()[0]: l.split()[1] for l in out.splitlines()
                if l.strip().startswith(("50%", "90%", "99%"))}
        non2xx = [l for l in out.splitlines() if "Non-2xx" in l]
        print("%-34s wrk -t2 -c8 %ds: %s  p50 %s p90 %s p99 %s%s  RSS %.1f MB" % (
            name, seconds, rps[0].split()[1] + " req/s" if rps else "?",
            pcts.get("50%"), pcts.get("90%"), pcts.get("99%"),
            ("  (" + non2xx[0].strip() + ")") if non2xx else "", rss_mb(pid)))
    else:
        rps, lat, errs = py_load(port, path, seconds, 8)
        print("%-34s python x8 %ds: %.0f req/s  p50 %.2fms p90 %.2fms p99 %.2fms errors %d  "
              "RSS %.1f MB" % (name, seconds, rps, pct(lat, 50), pct(lat, 90), pct(lat, 99),
                               errs, rss_mb(pid)))


def seed(tycho, db, n):
    subprocess.run([tycho, "migrate", "--db", db], check=True, capture_output=True)
    now = int(time.time() * 1000)
    sql = """
WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < %d)
INSERT INTO sessions (id, username, app_id, app_name, context, system_name, namespace, state,
                      state_reason, cpu_millis, memory_bytes, url, created_at, updated_at,
                      ready_at, stopped_at, stopped_by, stop_reason)
SELECT printf('%%032x', i), 'user' || (i %% 1000), 'web', 'Web', 'default',
       'web-' || printf('%%032x', i), 'default', 'stopped', 'user', 500, 268435456,
       'https://localhost/private/web/user' || (i %% 1000) || '/' || printf('%%032x', i) || '/',
       %d - i * 1000, %d - i * 1000 + 500, %d - i * 1000 + 100, %d - i * 1000 + 500,
       'user', 'user'
FROM seq;
""" % (n - 1, now, now, now, now)
    t0 = time.time()
    subprocess.run(["sqlite3", db], input=sql, text=True, check=True)
    return time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tycho", default=os.environ.get("TYCHO_BIN",
                                                      os.path.join(SRC, "build", "tycho")))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--sessions", type=int, default=100000)
    ap.add_argument("--launches", type=int, default=200)
    a = ap.parse_args()
    tyapi.TYCHO = a.tycho
    tmp = tempfile.mkdtemp(prefix="bench-api-")
    db = os.path.join(tmp, "tycho.db")
    secs = seed(a.tycho, db, a.sessions)
    print("seeded %d stopped sessions (1,000 users) with sqlite3 in %.1f s" % (a.sessions, secs))
    env = {"TYCHO_RATE_LIMIT_PER_SECOND": "0", "TYCHO_LOG_LEVEL": "warn",
           "TYCHO_THREADS": "16"}
    with tyapi.Server(tmp=tmp, env=env) as s:
        pid = s.proc.pid
        print("server started, RSS %.1f MB" % rss_mb(pid))
        load("GET /v1/apps", s.port, "/v1/apps", a.seconds, pid)
        st, _, pg = s.request("GET", "/v1/sessions?user=user7&limit=50")
        print("user7: %d sessions, first page %d items" % (pg["total"], len(pg["items"])))
        load("GET /v1/sessions?user=U&limit=50", s.port, "/v1/sessions?user=user7&limit=50",
             a.seconds, pid)
        load("GET /v1/admin/history?limit=50", s.port, "/v1/admin/history?limit=50", a.seconds,
             pid)

        # launches end to end: POST returns once the objects exist in the cluster
        ids, lock, errs = [], threading.Lock(), [0]
        per = a.launches // 8

        def launcher(k):
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
            for j in range(per):
                body = json.dumps({"app": "web", "username": "load%d" % k})
                c.request("POST", "/v1/sessions", body=body,
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                d = json.loads(r.read())
                with lock:
                    if r.status == 201:
                        ids.append(d["id"])
                    else:
                        errs[0] += 1
            c.close()

        ts = [threading.Thread(target=launcher, args=(k,)) for k in range(8)]
        t0 = time.time()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        el = time.time() - t0
        print("%-34s %d launches by 8 clients in %.2f s: %.1f launches/s (errors %d)  RSS %.1f MB"
              % ("POST /v1/sessions", len(ids), el, len(ids) / el, errs[0], rss_mb(pid)))
        t0 = time.time()
        while time.time() - t0 < 60:
            st, _, pg = s.request("GET", "/v1/sessions?state=running&limit=1")
            if pg["total"] >= len(ids):
                break
            time.sleep(0.2)
        print("%-34s all %d running after %.2f s" % ("", pg["total"], time.time() - t0 + el))
        t0 = time.time()
        for i in ids:
            s.request("DELETE", "/v1/sessions/" + i)
        el = time.time() - t0
        print("%-34s %d stops (sequential) in %.2f s: %.1f stops/s  RSS %.1f MB" % (
            "DELETE /v1/sessions/{id}", len(ids), el, len(ids) / el, rss_mb(pid)))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
