#!/usr/bin/env python3
"""Crash-safety soak for the session service (issue 5 acceptance).

Starts `tycho kube-sim` with a state file (the cluster outlives every kill),
then repeatedly runs `tycho session-soak` (launches and stops in a loop) and
kills it with SIGKILL at a random moment, until at least CYCLES launches and
CYCLES stops have completed.  Then `tycho session-soak --settle` reconciles, and
the script checks, through SQLite and the simulated cluster's HTTP API:
  - every session whose launch returned is in the store; no row appears that
    no launch began;
  - every session is in a final state or running (nothing left requested,
    creating, pending or stopping);
  - every running session has a ready Deployment;
  - no object labelled executor=tycho is left without a session, and no object
    belongs to a stopped, failed or lost session.
Environment: TYCHO_BIN, TY_SOURCE_DIR; TY_SOAK_CYCLES (default 200),
TY_SOAK_SEED (default: random, printed), TY_SOAK_KILLS (at least this many
SIGKILLs, default 60).
"""
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
import urllib.request

TYCHO = os.environ["TYCHO_BIN"]
SRC = os.environ.get("TY_SOURCE_DIR", ".")
CYCLES = int(os.environ.get("TY_SOAK_CYCLES", "200"))
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


def main():
    rng = random.Random(SEED)
    tmp = tempfile.mkdtemp(prefix="ty-soak-")
    print("seed %d, dir %s" % (SEED, tmp), flush=True)
    cluster = Cluster(tmp)
    db = os.path.join(tmp, "tycho.db")
    log = open(os.path.join(tmp, "soak.log"), "ab")
    begun, launched, stopped, errors = set(), set(), set(), 0
    runs = kills = 0
    deadline = time.time() + 480
    try:
        while len(launched) < CYCLES or len(stopped) < CYCLES or runs < MIN_KILLS:
            if time.time() > deadline:
                fail("only %d launches and %d stops in the time allowed"
                     % (len(launched), len(stopped)))
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
