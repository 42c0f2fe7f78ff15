"""The `sessions` section of the server's configuration reaches the session
service of a real `tycho api` (simulated cluster in-process):

- orphan_policy "delete" (config file) with a 1 s resync: a Deployment
  labelled executor=tycho with an unknown tycho-guid, created in the cluster
  after the start, is deleted, and no session row appears;
- orphan_policy "ignore" (TYCHO_* environment): the same object stays, while
  the reconciler's orphans_seen counter shows the resyncs did see it;
- orphan_policy "adopt" (--set flags): a session row appears, and its
  deadline is the configured start_deadline (pending) or running_check
  (running);
- bad values (a word, a negative, an unknown key, two spellings of one value)
  stop the server with file:line:col.
"""
import datetime
import http.client
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import TYCHO, Server, check, finish  # noqa: E402


def cluster_call(s, method, path, body=None):
    url = s.cluster_url()
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    text = r.read()
    conn.close()
    return r.status, (json.loads(text) if text else None)


def make_orphan(s):
    """Creates a Deployment with a tycho-guid no session has; returns (guid, name)."""
    guid = secrets.token_hex(16)
    name = "stray-" + guid[:8]
    # The app comes from the compiler's annotation; `app-name` is the
    # workspace name its owner may change, and is not believed.
    labels = {"executor": "tycho", "tycho-guid": guid, "username": "mallory",
              "app-name": "renamed", "name": name}
    ann = {"tycho.renci.org/username": "mallory", "tycho.renci.org/app-id": "web"}
    dep = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels, "annotations": ann},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"name": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    }
    st, body = cluster_call(s, "POST", "/apis/apps/v1/namespaces/default/deployments", dep)
    check(st == 201, "create the orphan Deployment", "%s %s" % (st, body))
    return guid, name


def deployment_exists(s, name):
    st, _ = cluster_call(s, "GET", "/apis/apps/v1/namespaces/default/deployments/" + name)
    return st == 200


def metric(s, name):
    st, _, text = s.request("GET", "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def iso_ms(t):
    return datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000


def delete_policy():
    config = "sessions:\n  orphan_policy: delete\n  resync: 1s\n  tick: 100ms\n"
    with Server(config=config) as s:
        check("sessions: orphans delete" in s.server_log() and "resync 1s" in s.server_log(),
              "delete: the startup log names the settings", s.server_log()[-2000:])
        guid, name = make_orphan(s)
        deadline = time.time() + 15
        while time.time() < deadline and deployment_exists(s, name):
            time.sleep(0.2)
        check(not deployment_exists(s, name), "delete: the orphan Deployment was deleted")
        # Pods go through graceful termination in the simulator.
        pods = None
        while time.time() < deadline:
            pods = [p for p in s.cluster_list("pods", "v1")
                    if p["metadata"]["labels"].get("tycho-guid") == guid and
                    not p["metadata"].get("deletionTimestamp")]
            if not pods:
                break
            time.sleep(0.2)
        check(pods == [], "delete: no pod of the orphan is left running", str(pods)[:500])
        st, _, body = s.request("GET", "/v1/sessions/" + guid)
        check(st == 404, "delete: no session row for the orphan", "%s %s" % (st, body))


def ignore_policy():
    env = {"TYCHO_ORPHAN_POLICY": "ignore", "TYCHO_RESYNC": "1s", "TYCHO_TICK": "100ms"}
    with Server(env=env) as s:
        guid, name = make_orphan(s)
        # Three resyncs at least must see it and leave it alone.
        deadline = time.time() + 15
        seen = 0
        while time.time() < deadline:
            seen = metric(s, "tycho_reconciler_orphans_seen_total") or 0
            if seen >= 3:
                break
            time.sleep(0.2)
        check(seen >= 3, "ignore: the resyncs saw the orphan", "orphans_seen=%s" % seen)
        check(deployment_exists(s, name), "ignore: the orphan Deployment is left alone")
        st, _, body = s.request("GET", "/v1/sessions/" + guid)
        check(st == 404, "ignore: no session row for the orphan", "%s %s" % (st, body))


def adopt_policy():
    args = ["--set", "sessions.orphan_policy=adopt", "--set", "sessions.resync=1s",
            "--set", "sessions.tick=100ms", "--set", "sessions.start_deadline=7m",
            "--set", "sessions.running_check=17m"]
    with Server(args=args) as s:
        guid, name = make_orphan(s)
        deadline = time.time() + 15
        st, body = 404, None
        while time.time() < deadline:
            st, _, body = s.request("GET", "/v1/sessions/" + guid)
            if st == 200:
                break
            time.sleep(0.2)
        check(st == 200 and body.get("state") in ("pending", "running"),
              "adopt: a session row for the orphan", "%s %s" % (st, body))
        if st == 200:
            check(body["user"] == "mallory" and body["app"] == "web", "adopt: owner and app",
                  str(body))
            check(deployment_exists(s, name), "adopt: the Deployment is kept")
            left = (iso_ms(body["deadline_at"]) - iso_ms(body["updated_at"])) / 60000.0
            want = 7 if body["state"] == "pending" else 17
            check(abs(left - want) < 0.2, "adopt: deadline from the configured %s" %
                  ("start_deadline" if want == 7 else "running_check"),
                  "%.2f min, state %s" % (left, body["state"]))


def bad_configs():
    tmp = tempfile.mkdtemp(prefix="tyscfg-")
    cases = [
        ("sessions:\n  resync: 1s\n  orphan_policy: keep\n", "bad.yaml:3:18:",
         "sessions.orphan_policy: expected adopt, delete or ignore, got 'keep'"),
        ("sessions:\n  tick: -5s\n", "bad.yaml:2:9:", "sessions.tick: expected a duration"),
        ("sessions:\n  watch_stall: -30\n", "bad.yaml:2:16:", "got '-30'"),
        ("sessions:\n  running_check: soon\n", "bad.yaml:2:18:",
         "sessions.running_check: expected a duration from 1s to 1d"),
        ("sessions:\n  orphans: delete\n", "bad.yaml:2:12:",
         "unknown configuration key 'sessions.orphans'"),
        ("sessions:\n  start_deadline: 5m\n  start_deadline_ms: 3000\n", "bad.yaml:",
         "set the same value"),
    ]
    try:
        for text, where, what in cases:
            bad = os.path.join(tmp, "bad.yaml")
            with open(bad, "w") as f:
                f.write(text)
            env = {k: v for k, v in os.environ.items() if not k.startswith("TYCHO_")}
            r = subprocess.run([TYCHO, "api", "--config", bad, "--listen", "127.0.0.1:0",
                                "--db", os.path.join(tmp, "t.db")],
                               capture_output=True, text=True, timeout=30, env=env)
            check(r.returncode != 0 and where in r.stderr and what in r.stderr,
                  "bad config %r" % text, r.stderr)
        # The combination check: a tick longer than the resync.
        r = subprocess.run([TYCHO, "api", "--listen", "127.0.0.1:0", "--db",
                            os.path.join(tmp, "t.db"), "--set", "sessions.resync=2s",
                            "--set", "sessions.tick=5s"],
                           capture_output=True, text=True, timeout=30,
                           env={k: v for k, v in os.environ.items()
                                if not k.startswith("TYCHO_")})
        check(r.returncode != 0 and "sessions.tick (5s) must not be longer than "
              "sessions.resync (2s)" in r.stderr, "tick longer than resync", r.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    bad_configs()
    delete_policy()
    ignore_policy()
    adopt_policy()
    finish()


if __name__ == "__main__":
    main()
