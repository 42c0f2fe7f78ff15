#!/usr/bin/env python3
"""Crash-safety soak for the session service (issue 5 acceptance).

Starts `tycho kube-sim` with a state file (the cluster outlives every kill),
then, with TY_SOAK_MODE=cli (default), repeatedly runs `tycho session-soak`
(launches and stops in a loop) and kills it with SIGKILL at a random moment;
with TY_SOAK_MODE=http it runs the real server (`tycho api`) and launches and
stops over HTTP while a timer kills the server.  Either way until at least
CYCLES launches and CYCLES stops have completed.  Then the service reconciles
(`tycho session-soak --settle`, or the restarted server until nothing is
requested, creating, pending or stopping), and the script checks, through
SQLite and the simulated cluster's HTTP API:
  - every session whose launch returned is in the store; no row appears that
    no launch began (cli mode; in http mode no more rows than launch requests);
  - every session is in a final state or running (nothing left requested,
    creating, pending or stopping);
  - every running session has a ready Deployment;
  - no object labelled executor=tycho is left without a session, and no object
    belongs to a stopped, failed or lost session.
Environment: TYCHO_BIN, TY_SOURCE_DIR; TY_SOAK_CYCLES (default 200),
TY_SOAK_SEED (default: random, printed), TY_SOAK_KILLS (at least this many
SIGKILLs, default 60).
"""
import http.client
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

TYCHO = os.environ["TYCHO_BIN"]
SRC = os.environ.get("TY_SOURCE_DIR", ".")
CYCLES = int(os.environ.get("TY_SOAK_CYCLES", "200"))
MODE = os.environ.get("TY_SOAK_MODE", "cli")
ADMIN = "tyt_" + "%032x" % random.randrange(1 << 128)
MIN_KILLS = int(os.environ.get("TY_SOAK_KILLS", "60"))
SEED = int(os.environ.get("TY_SOAK_SEED", str(random.randrange(1 << 30))))
REGISTRY = os.path.join(SRC, "tests", "data", "session")
KINDS = [
    ("apis/apps/v1", "deployments"),
    ("apis/apps/v1", "replicasets"),
    ("api/v1", "pods"),
    ("api/v1", "services"),
    ("apis/networking.k8s.io/v1", "networkpolicies"),
    ("api/v1", "persistentvolumeclaims"),
    ("api/v1", "secrets"),
]
FINAL = {"stopped", "failed", "lost"}


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


class Cluster:
    def __init__(self, tmp):
        self.token = "soak-%08x" % random.randrange(1 << 32)
        self.kubeconfig = os.path.join(tmp, "kubeconfig")
        self.state = os.path.join(tmp, "cluster.json")
        self.log = open(os.path.join(tmp, "kube-sim.log"), "wb")
        self.proc = subprocess.Popen(
            [TYCHO, "kube-sim", "--listen", "127.0.0.1:0", "--token", self.token,
             "--state", self.state, "--kubeconfig-out", self.kubeconfig],
            stdout=self.log, stderr=subprocess.STDOUT)
        end = time.time() + 20
        self.server = None
        while time.time() < end and self.server is None:
            if self.proc.poll() is not None:
                fail("kube-sim exited with %d" % self.proc.returncode)
            try:
                with open(self.kubeconfig) as f:
                    m = re.search(r"server:\s*\"?(https?://[^\s\"]+)", f.read())
                    if m:
                        self.server = m.group(1)
            except OSError:
                pass
            time.sleep(0.05)
        if not self.server:
            fail("kube-sim wrote no kubeconfig")

    def list(self, api, resource):
        url = "%s/%s/namespaces/default/%s?labelSelector=executor%%3Dtycho" % (
            self.server, api, resource)
        req = urllib.request.Request(url, headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)["items"]

    def objects(self):
        """guid -> list of (resource, object)."""
        out = {}
        for api, res in KINDS:
            for obj in self.list(api, res):
                labels = obj.get("metadata", {}).get("labels") or {}
                guid = labels.get("tycho-guid")
                if guid is None:
                    fail("%s %s is labelled executor=tycho but has no tycho-guid"
                         % (res, obj["metadata"].get("name")))
                out.setdefault(guid, []).append((res, obj))
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def soak_cmd(cluster, db, *extra):
    return [TYCHO, "session-soak", "--kubeconfig", cluster.kubeconfig, "--db", db,
            "--registry", REGISTRY, "--context", "test", "--orphans", "delete"] + list(extra)


def run_and_kill(cluster, db, rng, log):
    """One run of the driver, killed at a random moment.  Returns its lines."""
    proc = subprocess.Popen(soak_cmd(cluster, db, "--ops", "400", "--seed",
                                     str(rng.randrange(1 << 30))),
                            stdout=subprocess.PIPE, stderr=log)
    lines = []

    def reader():
        for raw in proc.stdout:
            lines.append(raw.decode(errors="replace").strip())

    t = threading.Thread(target=reader)
    t.start()
    # Every run dies at a random moment: inside start-up reconciliation, in the
    # middle of a launch (row written, objects half created), of a stop...
    time.sleep(rng.uniform(0.01, 0.4))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    t.join()
    return lines


class Server:
    """`tycho api` on the simulated cluster; killed and restarted by the soak."""

    def __init__(self, cluster, db, tmp, log):
        self.port_file = os.path.join(tmp, "api.port")
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.proc = subprocess.Popen(
            [TYCHO, "api", "--cluster", "kubeconfig", "--kubeconfig", cluster.kubeconfig,
             "--db", db, "--registry", REGISTRY, "--context", "test",
             "--listen", "127.0.0.1:0", "--port-file", self.port_file,
             "--set", "auth.bootstrap_admin_token=" + ADMIN,
             "--set", "limits.rate_limit_per_second=0",
             "--set", "sessions.creating_deadline_ms=5000",
             "--set", "sessions.stopping_deadline_ms=5000"],
            stdout=log, stderr=log)
        end = time.time() + 20
        self.base = None
        while self.base is None:
            if self.proc.poll() is not None:
                fail("tycho api exited with %d" % self.proc.returncode)
            if time.time() > end:
                fail("tycho api wrote no port file")
            try:
                with open(self.port_file) as f:
                    port = f.read().strip()
                if port:
                    self.base = "http://127.0.0.1:%s" % port
            except OSError:
                pass
            time.sleep(0.02)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": "Bearer " + ADMIN, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def http_round(cluster, db, tmp, rng, log, acc):
    """One server life: launches and stops over HTTP until a timer kills it."""
    srv = Server(cluster, db, tmp, log)
    timer = threading.Timer(rng.uniform(0.02, 0.5), srv.kill)
    timer.start()
    try:
        while srv.proc.poll() is None:
            live = sorted(acc["live"])
            if live and (len(live) >= 6 or rng.randrange(2)):
                sid = rng.choice(live)
                code, _ = srv.call("DELETE", "/v1/sessions/" + sid)
                if code in (200, 202):
                    acc["live"].discard(sid)
                    acc["stopped"].add(sid)
                else:
                    acc["errors"] += 1
                    acc["codes"]["DELETE %s" % code] = acc["codes"].get("DELETE %s" % code, 0) + 1
            else:
                acc["requests"] += 1
                code, body = srv.call("POST", "/v1/sessions", {
                    "app": rng.choice(["web", "multi"]),
                    "username": rng.choice(["alice", "bob", "carol"])})
                if code == 201:
                    acc["launched"].add(body["id"])
                    acc["live"].add(body["id"])
                else:
                    acc["errors"] += 1
                    acc["codes"]["POST %s" % code] = acc["codes"].get("POST %s" % code, 0) + 1
    except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError):
        pass  # the server died under us
    timer.join()
    if srv.proc.poll() is None:
        srv.kill()


def http_settle(cluster, db, tmp, log):
    srv = Server(cluster, db, tmp, log)
    end = time.time() + 60
    try:
        while True:
            code, body = srv.call(
                "GET", "/v1/sessions?state=requested,creating,pending,stopping&limit=1")
            if code == 200 and body["total"] == 0:
                break
            if time.time() > end:
                fail("the server did not settle: %r" % (body,))
            time.sleep(0.2)
    finally:
        srv.proc.terminate()
        try:
            srv.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()


def main():
    rng = random.Random(SEED)
    tmp = tempfile.mkdtemp(prefix="ty-soak-")
    print("mode %s, seed %d, dir %s" % (MODE, SEED, tmp), flush=True)
    cluster = Cluster(tmp)
    db = os.path.join(tmp, "tycho.db")
    log = open(os.path.join(tmp, "soak.log"), "ab")
    begun, launched, stopped, errors = set(), set(), set(), 0
    http_live, requests, codes = set(), 0, {}
    runs = kills = 0
    deadline = time.time() + 480
    try:
        while len(launched) < CYCLES or len(stopped) < CYCLES or runs < MIN_KILLS:
            if time.time() > deadline:
                fail("only %d launches and %d stops in the time allowed"
                     % (len(launched), len(stopped)))
            if MODE == "http":
                acc = {"live": set(), "launched": launched, "stopped": stopped,
                       "errors": 0, "requests": 0, "codes": codes}
                acc["live"] = http_live
                http_round(cluster, db, tmp, rng, log, acc)
                errors += acc["errors"]
                requests += acc["requests"]
                runs += 1
                continue
            lines = run_and_kill(cluster, db, rng, log)
            runs += 1
            for line in lines:
                parts = line.split(" ", 2)
                if parts[0] == "begin":
                    begun.add(parts[1])
                elif parts[0] == "launched":
                    launched.add(parts[1])
                elif parts[0] == "stopped":
                    stopped.add(parts[1])
                elif parts[0] == "error":
                    errors += 1
            if cluster.proc.poll() is not None:
                fail("the cluster died")
        print("%d runs killed, %d launches begun, %d returned, %d sessions stopped, %d errors"
              % (runs, len(begun), len(launched), len(stopped), errors), flush=True)
        if codes:
            print("refused requests: %s" % codes, flush=True)

        if MODE == "http":
            http_settle(cluster, db, tmp, log)
        else:
            settle = subprocess.run(soak_cmd(cluster, db, "--settle", "--timeout-ms", "60000"),
                                    stdout=subprocess.PIPE, stderr=log, timeout=120)
            out = settle.stdout.decode().strip()
            if settle.returncode != 0 or out != "settled":
                fail("settle: exit %d, %r" % (settle.returncode, out))

        con = sqlite3.connect(db)
        rows = dict(con.execute("SELECT id, state FROM sessions").fetchall())
        con.close()
        missing = launched - set(rows)
        if missing:
            fail("launched sessions missing from the store: %s" % sorted(missing)[:5])
        if MODE == "http":
            if len(rows) > requests:
                fail("%d rows for %d launch requests" % (len(rows), requests))
        else:
            phantom = set(rows) - begun
            if phantom:
                fail("rows no launch began: %s" % sorted(phantom)[:5])
        bad = {i: s for i, s in rows.items() if s not in FINAL and s != "running"}
        if bad:
            fail("sessions neither final nor running after settling: %s" % list(bad.items())[:5])

        # Objects of final sessions may still be terminating: give them a moment.
        end = time.time() + 20
        while True:
            objs = cluster.objects()
            leftovers = [g for g in objs if g not in rows or rows[g] in FINAL]
            if not leftovers or time.time() > end:
                break
            time.sleep(0.2)
        for g in leftovers:
            what = ", ".join("%s/%s" % (r, o["metadata"]["name"]) for r, o in objs[g])
            fail("objects of %s (%s) left in the cluster: %s"
                 % (g, rows.get(g, "no session"), what))
        for g, s in rows.items():
            if s != "running":
                continue
            deps = [o for r, o in objs.get(g, []) if r == "deployments"]
            if not deps or (deps[0].get("status") or {}).get("readyReplicas", 0) < 1:
                fail("running session %s has no ready Deployment" % g)
        counts = {}
        for s in rows.values():
            counts[s] = counts.get(s, 0) + 1
        print("ok: %d sessions %s, %d guids with objects" % (len(rows), counts, len(objs)),
              flush=True)
    finally:
        log.close()
        cluster.stop()
        if os.environ.get("TY_SOAK_KEEP") is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
