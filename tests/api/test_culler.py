"""The culler through the real server: GET /v1/sessions/{id}/idle explains a
session to whoever may see it (404 for others), POST /v1/admin/reap is
admin-only and a dry run by default, `tycho reap --dry-run` prints it, the
background culler warns (a "cull-warning" event) and then stops an idle
session (stopped_by "culler", reason "idle") and leaves an exempted user's
session running, /v1/whoami names the caller, the culler's warnings and culls
are POSTed to `culling.notify_url` (a loopback server here), and a bad
`culling` section stops the server with file:line:col."""
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import TYCHO, Server, check, finish, run_cli  # noqa: E402

CONFIG = """culling:
  idle_timeout: 3s
  warning: 1s
  interval: 300ms
  notify_url: http://127.0.0.1:%d/hook
  users:
    carol: {idle_timeout: 0}
"""

NOTES = []


class Hook(http.server.BaseHTTPRequestHandler):
    """Records the JSON bodies POSTed to /hook."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        NOTES.append((self.path, self.headers.get("Content-Type"), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def launch(s, token):
    st, _, body = s.request("POST", "/v1/sessions", {"app": "web"}, token=token)
    check(st in (200, 201, 202), "launch", "%s %s" % (st, body))
    return body["id"]


def main():
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    with Server(config=CONFIG % hook.server_address[1]) as s:
        admin = s.token("admin")
        alice = s.token("user", "alice")
        bob = s.token("user", "bob")
        carol = s.token("user", "carol")

        st, _, me = s.request("GET", "/v1/whoami", token=alice)
        check(st == 200 and me.get("role") == "user" and me.get("username") == "alice",
              "whoami", str(me))

        a = launch(s, alice)
        c = launch(s, carol)
        s.wait_state(a, ("running",), token=alice)
        s.wait_state(c, ("running",), token=carol)

        st, _, idle = s.request("GET", "/v1/sessions/%s/idle" % a, token=alice)
        check(st == 200, "idle explanation", "%s %s" % (st, idle))
        if st == 200:
            check(idle["limits"]["idle_timeout_seconds"] == 3, "idle timeout", str(idle))
            check(idle["limits"]["idle_timeout_from"] == "global", "limit source", str(idle))
            check(idle["last_active_by_source"]["heartbeat"] is None, "no heartbeat yet",
                  str(idle))
            check(idle["cull_at"] is not None and idle["explanation"], "cull time", str(idle))
        st, _, _ = s.request("GET", "/v1/sessions/%s/idle" % a, token=bob)
        check(st == 404, "bob cannot see alice's idle explanation", str(st))
        st, _, idle = s.request("GET", "/v1/sessions/%s/idle" % c, token=carol)
        check(st == 200 and idle["cull_at"] is None and "never" in idle["explanation"],
              "carol is never culled", str(idle))

        st, _, _ = s.request("POST", "/v1/admin/reap", token=alice)
        check(st == 403, "reap needs admin", str(st))
        st, _, body = s.request("POST", "/v1/admin/reap?dry_run=maybe", token=admin)
        check(st == 400 and "dry_run" in body["error"]["message"], "bad dry_run", str(body))
        st, _, body = s.request("POST", "/v1/admin/reap", token=admin)
        check(st == 200 and body["dry_run"] is True, "reap defaults to a dry run", str(body))
        # A dry run answers for every live session, carol's kept one too, with why.
        rows = {i["session"]: i for i in body.get("items", [])}
        check(c in rows and rows[c]["action"] == "keep" and rows[c]["reason"] is None
              and "never culled" in rows[c]["explanation"], "dry run says why carol's is kept",
              str(body))
        check(a in rows and rows[a]["action"] in ("keep", "warn", "cull")
              and rows[a]["explanation"], "dry run lists alice's", str(body))
        r = run_cli(["reap", "--dry-run"], server=s, token=admin, check_rc=0)
        line = [l for l in r.stdout.splitlines() if l.startswith(c)]
        check(line and " keep " in line[0] and "never culled" in line[0],
              "tycho reap --dry-run gives carol's row its reason", r.stdout)
        check(any(l.startswith(a) for l in r.stdout.splitlines())
              and "kept; nothing was done" in r.stdout, "tycho reap --dry-run summary", r.stdout)

        # The background culler stops alice's idle session; carol's stays.
        deadline = time.time() + 30
        sess = None
        while time.time() < deadline:
            st, _, sess = s.request("GET", "/v1/sessions/" + a, token=admin)
            if sess["state"] in ("stopped", "failed", "lost"):
                break
            time.sleep(0.2)
        check(sess and sess["state"] == "stopped", "idle session culled", str(sess))
        check(sess and sess.get("stopped_by") == "culler", "stopped by the culler", str(sess))
        st, _, ev = s.request("GET", "/v1/sessions/%s/events" % a, token=admin)
        check(any(e.get("reason") == "idle" for e in ev.get("items", [])), "cull event reason",
              str(ev))
        # The owner was warned first; the warning is stored as an event.
        warns = [e for e in ev.get("items", []) if e.get("reason") == "cull-warning"]
        check(len(warns) == 1 and warns[0].get("actor") == "culler"
              and "warned now" in (warns[0].get("message") or ""), "cull warning event", str(ev))
        st, _, sess = s.request("GET", "/v1/sessions/" + c, token=admin)
        check(sess["state"] == "running", "exempt user's session stays", str(sess))
        st, _, m = s.request("GET", "/metrics")
        series = dict(line.split(" ", 1) for line in m.splitlines()
                      if line.startswith("tycho_culler_"))
        check(series.get("tycho_culler_enabled") == "1", "culler enabled in /metrics", m)
        check(float(series.get("tycho_culler_culled_total", 0)) >= 1, "culls counted", m)
        check(float(series.get("tycho_culler_warned_total", 0)) >= 1, "warnings counted", m)
        check(float(series.get("tycho_culler_passes_total", 0)) >= 1, "passes counted", m)
        check(float(series.get("tycho_culler_last_pass_timestamp_seconds", 0)) > 1.7e9,
              "last pass time", m)
        # The platform was told: a warning, then the cull, as JSON.
        mine = [n for n in NOTES if n[2].get("session") == a]
        events = [n[2].get("event") for n in mine]
        check("warned" in events and "culled" in events and
              events.index("warned") < events.index("culled"), "notified: warned, then culled",
              str(NOTES))
        culled = [n for n in mine if n[2].get("event") == "culled"]
        check(culled and culled[0][0] == "/hook" and culled[0][1] == "application/json" and
              culled[0][2].get("username") == "alice" and culled[0][2].get("reason") == "idle" and
              culled[0][2].get("at"), "the cull note names the user and the reason", str(culled))
        check(not any(n[2].get("session") == c for n in NOTES), "nothing about carol", str(NOTES))
        check(float(series.get("tycho_culler_notified_total", 0)) >= 2, "notes counted", m)
        st, _, _ = s.request("DELETE", "/v1/sessions/" + c, token=carol)
        check(st in (200, 202, 204), "stop carol", str(st))
        s.wait_state(c, ("stopped",), token=admin)
    hook.shutdown()

    # A bad policy is refused at start with its position.
    tmp = tempfile.mkdtemp(prefix="tyapi-culler-")
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("culling:\n  idle_timeout: soon\n")
    r = subprocess.run([TYCHO, "api", "--config", bad, "--listen", "127.0.0.1:0", "--db",
                        os.path.join(tmp, "x.db")], capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "bad.yaml:2:17" in r.stderr and "culling.idle_timeout"
          in r.stderr, "bad culling config", r.stderr)
    with open(bad, "w") as f:
        f.write("culling:\n  idle_timeout: 1h\n  notify_url: ftp://example.org/x\n")
    r = subprocess.run([TYCHO, "api", "--config", bad, "--listen", "127.0.0.1:0", "--db",
                        os.path.join(tmp, "x.db")], capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "bad.yaml:3:15" in r.stderr and "culling.notify_url"
          in r.stderr, "bad notify_url", r.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
