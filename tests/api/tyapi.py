"""Helpers for the HTTP API tests: start `tycho api` (and, when asked,
`tycho kube-sim`) on port 0 in a temporary directory, talk HTTP, stop.

Python 3 standard library only.  Every server is started with
`--listen 127.0.0.1:0 --port-file FILE`; the helper waits for the port file
and for "listening on http://127.0.0.1:PORT" on stdout, and checks they agree.
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TYCHO = os.environ.get("TYCHO_BIN", "tycho")
SRC = os.environ.get("TY_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
REGISTRY = os.path.join(SRC, "tests", "api", "data", "registry")
SEED = os.path.join(SRC, "tests", "api", "data", "seed")

FAILURES = []


def check(cond, what, detail=""):
    """Records a failed expectation (the test goes on, and fails at the end)."""
    if not cond:
        msg = "FAIL: %s %s" % (what, detail)
        print(msg, flush=True)
        FAILURES.append(msg)
    return cond


def finish():
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        sys.exit(1)
    print("ok")


class Server:
    """A running `tycho api`.  Use as a context manager."""

    def __init__(self, args=(), env=None, tmp=None, config=None, registry=REGISTRY, cwd=None):
        self.tmp = tmp or tempfile.mkdtemp(prefix="tyapi-")
        self.own_tmp = tmp is None
        self.db = os.path.join(self.tmp, "tycho.db")
        self.port_file = os.path.join(self.tmp, "port")
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        cmd = [TYCHO, "api", "--listen", "127.0.0.1:0", "--db", self.db,
               "--port-file", self.port_file]
        if registry:
            cmd += ["--registry", registry]
        if config is not None:
            cfg = os.path.join(self.tmp, "tycho.yaml")
            with open(cfg, "w") as f:
                f.write(config)
            cmd += ["--config", cfg]
        cmd += list(args)
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("TYCHO_") and k not in ("TYCHO_BIN",):
                del e[k]
        e.pop("KUBECONFIG", None)
        e.pop("KUBERNETES_SERVICE_HOST", None)
        e.setdefault("TYCHO_LOG_LEVEL", "info")
        # A launch that cannot start fails after 3 s instead of 5 min.
        e.setdefault("TYCHO_START_DEADLINE_MS", "3000")
        if env:
            e.update(env)
        self.log_path = os.path.join(self.tmp, "server.log")
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, env=e,
                                     text=True, cwd=cwd)
        deadline = time.time() + 30
        line = ""
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if line or self.proc.poll() is not None:
                break
        if not line.startswith("listening on http://127.0.0.1:"):
            self.stop()
            raise RuntimeError("server did not start: %r\n%s" % (line, self.server_log()))
        self.port = int(line.strip().rsplit(":", 1)[1])
        with open(self.port_file) as f:
            if int(f.read().strip()) != self.port:
                raise RuntimeError("port file disagrees with stdout")
        self.url = "http://127.0.0.1:%d" % self.port

    def server_log(self):
        try:
            if not self.log.closed:
                self.log.flush()
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        rc = self.stop()
        if exc[0] is None:
            check(rc == 0, "server exit status", "rc=%s\n%s" % (rc, self.server_log()[-3000:]))
        if self.own_tmp and exc[0] is None and not FAILURES:
            shutil.rmtree(self.tmp, ignore_errors=True)
        elif exc[0] is not None or FAILURES:
            print("server log (%s):\n%s" % (self.tmp, self.server_log()[-4000:]))

    # ---- HTTP -------------------------------------------------------------
    def request(self, method, path, body=None, token=None, headers=None, raw=None,
                timeout=30):
        """Returns (status, headers dict (lower-case names), parsed JSON or text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        data = None
        if raw is not None:
            data = raw if isinstance(raw, bytes) else raw.encode()
            h.setdefault("Content-Type", "application/json")
        elif body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if token:
            h["Authorization"] = "Bearer " + token
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        conn.close()
        val = text
        if "json" in hdrs.get("content-type", ""):
            try:
                val = json.loads(text)
            except ValueError:
                pass
        return r.status, hdrs, val

    def sse(self, path, token=None, timeout=30):
        """Reads an SSE stream to its end; returns [(event, data)], comments
        included as ("#", text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Accept": "text/event-stream"}
        if token:
            h["Authorization"] = "Bearer " + token
        conn.request("GET", path, headers=h)
        r = conn.getresponse()
        out = []
        if r.status != 200:
            body = r.read().decode()
            conn.close()
            return r.status, body
        event, data = None, []
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith(":"):
                out.append(("#", line[1:].strip()))
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and event:
                out.append((event, json.loads("\n".join(data))))
                event, data = None, []
        conn.close()
        return 200, out

    def token(self, role, user=None, name=None):
        cmd = [TYCHO, "token", "create", "--db", self.db, "--role", role]
        if user:
            cmd += ["--user", user]
        if name:
            cmd += ["--name", name]
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return r.stdout.strip()

    def wait_state(self, sid, states, token=None, timeout=20):
        deadline = time.time() + timeout
        s = None
        while time.time() < deadline:
            st, _, s = self.request("GET", "/v1/sessions/" + sid, token=token)
            if st == 200 and s["state"] in states:
                return s
            time.sleep(0.1)
        raise RuntimeError("session %s did not reach %s: %s" % (sid, states, s))

    def cluster_url(self):
        st, _, h = self.request("GET", "/healthz")
        return h["cluster_url"]

    def cluster_list(self, resource, group="apps/v1"):
        """Objects labelled executor=tycho in the simulated cluster (default ns)."""
        base = "/apis/" + group if "/" in group else "/api/" + group
        url = self.cluster_url()
        host, port = url.split("//")[1].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "%s/namespaces/default/%s?labelSelector=executor%%3Dtycho"
                     % (base, resource))
        r = conn.getresponse()
        body = json.loads(r.read())
        conn.close()
        return body.get("items", [])


class KubeSim:
    """A separate `tycho kube-sim` (HTTPS, bearer token) with a kubeconfig for it."""

    def __init__(self, tmp, token="sim-token-0123456789"):
        self.kubeconfig = os.path.join(tmp, "kubeconfig")
        self.proc = subprocess.Popen(
            [TYCHO, "kube-sim", "--listen", "127.0.0.1:0", "--tls", "--token", token,
             "--kubeconfig-out", self.kubeconfig, "--namespace", "apps"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("https://127.0.0.1:"):
            self.stop()
            raise RuntimeError("kube-sim did not start: %r" % self.url)
        deadline = time.time() + 10
        while not os.path.exists(self.kubeconfig) and time.time() < deadline:
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode


def run_cli(args, server=None, token=None, env=None, check_rc=None):
    e = dict(os.environ)
    if server:
        e["TYCHO_SERVER"] = server.url
    if token:
        e["TYCHO_TOKEN"] = token
    else:
        e.pop("TYCHO_TOKEN", None)
    if env:
        e.update(env)
    r = subprocess.run([TYCHO] + list(args), capture_output=True, text=True, env=e, timeout=60)
    if check_rc is not None and r.returncode != check_rc:
        check(False, "cli %s exit status" % args,
              "rc=%d want %d\nstdout=%s\nstderr=%s" % (r.returncode, check_rc, r.stdout,
                                                       r.stderr))
    return r
