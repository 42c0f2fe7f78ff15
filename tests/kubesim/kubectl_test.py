#!/usr/bin/env python3
"""kubesim.kubectl: the machine's real kubectl against `tycho kube-sim`.

Starts `tycho kube-sim --tls --token T --kubeconfig-out K` on a free loopback
port, creates tycho-labelled Deployments and Services over HTTPS (stdlib
urllib, trusting the CA from the kubeconfig it wrote), waits for the pods, then
runs kubectl with KUBECONFIG=K, a fresh --cache-dir and a throwaway HOME:
get pods -o wide, get deployments, get svc, describe pod, exec and port-forward
(refused, saying why), create namespace|deployment (a 415 that says what to do
instead) and the same through --dry-run=client piped to apply, apply with
kubectl's default validation (strict, on the server), explain, delete
deployment, delete pods -l username=alice; it checks what kubectl prints.  Exit 77 (skip)
when kubectl is not installed.
"""
import base64
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

TOKEN = "kubectl-test-token"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def find_kubectl():
    for cand in ("/usr/bin/kubectl", shutil.which("kubectl")):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


class Sim:
    def __init__(self, tycho, tmp):
        self.kubeconfig = os.path.join(tmp, "kubeconfig")
        self.proc = subprocess.Popen(
            [tycho, "kube-sim", "--listen", "127.0.0.1:0", "--tls", "--token", TOKEN,
             "--kubeconfig-out", self.kubeconfig, "--schedule-ms", "100",
             "--start-ms", "200", "--grace-ms", "300"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("https://127.0.0.1:"):
            self.proc.kill()
            fail("kube-sim printed %r, stderr: %s" % (self.url, self.proc.stderr.read()))
        with open(self.kubeconfig) as f:
            text = f.read()
        m = re.search(r"certificate-authority-data: (\S+)", text)
        if not m:
            fail("kubeconfig has no certificate-authority-data:\n" + text)
        self.ctx = ssl.create_default_context(cadata=base64.b64decode(m.group(1)).decode())

    def req(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(r, context=self.ctx, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("kube-sim did not stop on SIGTERM")
        if rc != 0:
            fail("kube-sim exited %d: %s" % (rc, self.proc.stderr.read()))


def deployment(name, user, image):
    labels = {"executor": "tycho", "username": user, "app-name": name.split("-")[0],
              "tycho-guid": name.replace("-", "")}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"tycho-guid": labels["tycho-guid"]}},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": name.split("-")[0], "image": image,
                                                       "ports": [{"containerPort": 8888}]}]}}}}


def service(name, user):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": {"executor": "tycho", "username": user}},
            "spec": {"selector": {"tycho-guid": name.replace("-", "")},
                     "ports": [{"port": 8888, "targetPort": 8888, "protocol": "TCP"}]}}


def main():
    kubectl = find_kubectl()
    if not kubectl:
        print("SKIP: kubectl is not installed")
        return 77
    tycho = os.environ.get("TYCHO_BIN")
    if not tycho or not os.access(tycho, os.X_OK):
        fail("TYCHO_BIN is not set to the tycho binary")
    tmp = tempfile.mkdtemp(prefix="kubesim-kubectl-")
    sim = Sim(tycho, tmp)
    try:
        run(sim, kubectl, tmp)
    finally:
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok: kubectl get/describe/delete against tycho kube-sim")
    return 0


def run(sim, kubectl, tmp):
    ns = "/apis/apps/v1/namespaces/default/deployments"
    for name, user, image in (("jupyter-alice", "alice", "jupyter/base-notebook:latest"),
                              ("rstudio-bob", "bob", "rocker/rstudio:4.3"),
                              ("broken-bob", "bob", "example.org/invalid:1")):
        code, body = sim.req("POST", ns, deployment(name, user, image))
        if code != 201:
            fail("create %s: %d %s" % (name, code, body))
    for name, user in (("jupyter-alice", "alice"), ("rstudio-bob", "bob")):
        code, body = sim.req("POST", "/api/v1/namespaces/default/services", service(name, user))
        if code != 201:
            fail("create service %s: %d %s" % (name, code, body))
    # Wait until the two good pods run and the broken one is in back-off.
    deadline = time.time() + 15
    while True:
        _, pods = sim.req("GET", "/api/v1/namespaces/default/pods?labelSelector=executor%3Dtycho")
        phases = {p["metadata"]["labels"]["tycho-guid"]: p.get("status", {}) for p in pods["items"]}
        running = [g for g, st in phases.items() if st.get("phase") == "Running"]
        waiting = [st["containerStatuses"][0]["state"].get("waiting", {}).get("reason")
                   for st in phases.values() if st.get("containerStatuses")]
        if len(running) == 2 and "ImagePullBackOff" in waiting:
            break
        if time.time() > deadline:
            fail("pods did not settle: %s" % json.dumps(phases))
        time.sleep(0.1)

    env = dict(os.environ, KUBECONFIG=sim.kubeconfig, HOME=tmp)
    env.pop("KUBERNETES_SERVICE_HOST", None)
    cache = tempfile.mkdtemp(dir=tmp, prefix="cache-")

    def kc(*args, stdin=None):
        p = subprocess.run([kubectl, "--cache-dir", cache] + list(args), env=env, input=stdin,
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            fail("kubectl %s: exit %d\nstdout:\n%s\nstderr:\n%s"
                 % (" ".join(args), p.returncode, p.stdout, p.stderr))
        print("$ kubectl " + " ".join(args) + "\n" + p.stdout + p.stderr)
        return p.stdout + p.stderr

    def kc_fails(want, *args, stdin=None):
        """kubectl must fail, saying want on stderr."""
        p = subprocess.run([kubectl, "--cache-dir", cache] + list(args), env=env, input=stdin,
                           capture_output=True, text=True, timeout=60)
        print("$ kubectl " + " ".join(args) + " (exit %d)\n" % p.returncode + p.stderr)
        if p.returncode == 0 or want not in p.stderr:
            fail("kubectl %s: exit %d, wanted a failure saying %r\nstdout:\n%s\nstderr:\n%s"
                 % (" ".join(args), p.returncode, want, p.stdout, p.stderr))

    def rows(out):
        lines = out.strip().splitlines()
        return lines[0].split(), [l.split() for l in lines[1:]]

    out = kc("get", "pods", "-l", "executor=tycho", "-o", "wide")
    head, body = rows(out)
    if head[:7] != ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]:
        fail("unexpected pod columns: %s" % head)
    by_prefix = {r[0].rsplit("-", 2)[0]: r for r in body}
    if set(by_prefix) != {"jupyter-alice", "rstudio-bob", "broken-bob"}:
        fail("unexpected pods: %s" % list(by_prefix))
    for good in ("jupyter-alice", "rstudio-bob"):
        r = by_prefix[good]
        if r[1] != "1/1" or r[2] != "Running" or not r[5].startswith("10.244.") \
                or r[6] != "kubesim-node-1":
            fail("pod row for %s: %s" % (good, r))
    bad = by_prefix["broken-bob"]
    if bad[1] != "0/1" or bad[2] not in ("ImagePullBackOff", "ErrImagePull"):
        fail("broken pod row: %s" % bad)
    alice_pod = by_prefix["jupyter-alice"][0]

    out = kc("get", "deployments")
    head, body = rows(out)
    if head != ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]:
        fail("unexpected deployment columns: %s" % head)
    deps = {r[0]: r for r in body}
    if deps.get("jupyter-alice", [None, None])[1] != "1/1" or deps["rstudio-bob"][1] != "1/1" \
            or deps["broken-bob"][1] != "0/1":
        fail("deployment rows: %s" % deps)

    out = kc("get", "svc")
    head, body = rows(out)
    if head[:5] != ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"]:
        fail("unexpected service columns: %s" % head)
    svcs = {r[0]: r for r in body}
    if svcs["jupyter-alice"][1] != "ClusterIP" or not svcs["jupyter-alice"][2].startswith("10.96.") \
            or svcs["jupyter-alice"][4] != "8888/TCP":
        fail("service row: %s" % svcs)

    out = kc("describe", "pod", alice_pod)
    for want in ("Name:         " + alice_pod, "Status:       Running",
                 "Controlled By:  ReplicaSet/jupyter-alice-", "username=alice",
                 "Image:          jupyter/base-notebook:latest", "Started container jupyter",
                 "Successfully assigned default/" + alice_pod):
        if want not in out:
            fail("describe pod lacks %r" % want)

    # exec, attach and port-forward need a container runtime: a clear refusal,
    # not 'malformed HTTP status code "404:"'.
    kc_fails("exec is not supported by the simulated cluster", "exec", alice_pod, "--", "ls")
    kc_fails("portforward is not supported by the simulated cluster",
             "port-forward", "pod/" + alice_pod, "18080:8888")

    run_create_and_apply(kc, kc_fails, tmp)

    out = kc("delete", "deployment", "rstudio-bob")
    if 'deployment.apps "rstudio-bob" deleted' not in out:
        fail("delete deployment said: " + out)
    out = kc("get", "deployments")
    if "rstudio-bob" in out:
        fail("deleted deployment still listed")

    out = kc("delete", "pods", "-l", "username=alice")
    if 'pod "%s" deleted' % alice_pod not in out:
        fail("delete pods said: " + out)

    # Garbage collection removed bob's pods; alice's ReplicaSet made a new pod.
    deadline = time.time() + 15
    while True:
        out = kc("get", "pods", "-l", "executor=tycho")
        names = [r[0] for r in rows(out)[1]] if out.strip() else []
        rstudio = [n for n in names if n.startswith("rstudio-bob-")]
        alice = [n for n in names if n.startswith("jupyter-alice-")]
        if not rstudio and alice and alice_pod not in alice:
            break
        if time.time() > deadline:
            fail("after deletes: %s" % names)
        time.sleep(0.3)


BAD_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: typo}
spec:
  replicaz: 2
  selector: {matchLabels: {app: typo}}
  template:
    metadata: {labels: {app: typo}}
    spec:
      containers: [{name: web, image: nginx:1}]
"""


def run_create_and_apply(kc, kc_fails, tmp):
    """Imperative create (protobuf: a 415 that says what to do instead), the
    same objects through a client-side dry run and apply, and apply with
    kubectl's default validation (it reads /openapi/v3 and leaves strict field
    validation to the server)."""
    for args in (("create", "namespace", "demo"),
                 ("create", "deployment", "web", "--image=nginx:1", "-n", "demo")):
        kc_fails("--dry-run=client -o yaml and pipe the object to kubectl apply -f -", *args)
    manifest = kc("create", "namespace", "demo", "--dry-run=client", "-o", "yaml")
    out = kc("apply", "-f", "-", stdin=manifest)
    if "namespace/demo created" not in out:
        fail("apply of the namespace said: " + out)
    manifest = kc("create", "deployment", "web", "--image=nginx:1", "--replicas=2", "-n", "demo",
                  "--dry-run=client", "-o", "yaml")
    out = kc("apply", "-f", "-", stdin=manifest)
    if "deployment.apps/web created" not in out:
        fail("apply of the deployment said: " + out)
    out = kc("apply", "-f", "-", stdin=manifest.replace("nginx:1", "nginx:2"))
    if "deployment.apps/web configured" not in out:
        fail("second apply said: " + out)
    out = kc("get", "deployment", "web", "-n", "demo", "-o",
             "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}")
    if not out.startswith("2 nginx:2"):
        fail("applied deployment: " + out)
    bad = os.path.join(tmp, "typo.yaml")
    with open(bad, "w") as f:
        f.write(BAD_DEPLOYMENT)
    kc_fails('strict decoding error: unknown field "spec.replicaz"', "apply", "-f", bad)
    out = kc("apply", "-f", bad, "--validate=warn")
    if 'unknown field "spec.replicaz"' not in out or "deployment.apps/typo created" not in out:
        fail("apply --validate=warn said: " + out)
    out = kc("explain", "deployment.spec.replicas")
    if "FIELD: replicas <integer>" not in out:
        fail("kubectl explain said: " + out)
    kc("delete", "deployment", "typo")


if __name__ == "__main__":
    sys.exit(main())
