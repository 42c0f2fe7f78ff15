"""`tycho api --cluster kubeconfig` against a separate `tycho kube-sim` over
HTTPS with a bearer token (the same kube client code a real cluster gets):
/healthz says "kubernetes", /readyz reaches it, a launch creates objects in
the kubeconfig's namespace and reaches running, a stop removes them, and
--cluster kubeconfig with a missing file fails at start with a clear error."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import TYCHO, KubeSim, REGISTRY, Server, check, finish  # noqa: E402


def main():
    tmp = tempfile.mkdtemp(prefix="tyapi-ext-")
    sim = KubeSim(tmp)
    try:
        with Server(args=["--cluster", "kubeconfig", "--kubeconfig", sim.kubeconfig]) as s:
            st, _, h = s.request("GET", "/healthz")
            check(h["cluster"] == "kubernetes" and h["cluster_url"] == sim.url, "healthz", h)
            st, _, r = s.request("GET", "/readyz")
            check(st == 200 and r["checks"]["cluster"]["ok"], "readyz", r)
            st, _, a = s.request("POST", "/v1/sessions", {"app": "web", "username": "erin"})
            check(st == 201 and a["namespace"] == "apps", "launch in the kubeconfig namespace",
                  (st, a))
            s.wait_state(a["id"], ["running"])
            st, _, r = s.request("POST", "/system/status", {"username": "erin"})
            check(len(r["result"]) == 1 and r["result"][0]["ip_address"], "status", r)
            st, _, d = s.request("DELETE", "/v1/sessions/" + a["id"])
            check(st in (200, 202), "stop", (st, d))
            s.wait_state(a["id"], ["stopped"])
            st, _, m = s.request("GET", "/metrics")
            check("tycho_cluster_simulated 0" in m, "metrics say real cluster")
    finally:
        sim.stop()
    r = subprocess.run([TYCHO, "api", "--listen", "127.0.0.1:0", "--db",
                        os.path.join(tmp, "x.db"), "--registry", REGISTRY, "--cluster",
                        "kubeconfig", "--kubeconfig", os.path.join(tmp, "missing")],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode != 0 and "missing" in r.stderr, "missing kubeconfig fails at start",
          r.stderr)
    finish()


if __name__ == "__main__":
    main()
