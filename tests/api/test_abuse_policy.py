"""The operator's `policy:` section, end to end: a server configured for a
plain ingress controller, per-user home claims created on first launch,
listed claims and service accounts, root for one app, a resource maximum,
scheduling by profile and app, and reserved labels; what each launch makes
in the simulated cluster is read back, and what the policy forbids is
refused.  Then the configuration itself: `tycho api --check-config` shows
the effective policy with the file, TYCHO_POLICY_* and --set in precedence,
and a bad key stops the server with file:line:col."""
import http.client
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import TYCHO, Server, check, finish  # noqa: E402
from test_abuse import make_registry, spec, start_body, message  # noqa: E402

CONFIG = """culling:
  exempt_label: keep=yes
policy:
  ingress: ingress
  ingress_class: nginx
  ingress_host: apps.example.org
  ingress_tls_secret: apps-tls
  proxy_labels: {app.kubernetes.io/name: ingress-nginx}
  proxy_namespace: ingress-nginx
  home_claim: home-{username}
  home_create: true
  home_size: 5Gi
  home_storage_class: fast
  claims:
    - projects-pvc
    - {claim: scratch, sub_path: "u/{username}", roles: [user]}
  service_accounts: [spark]
  apps:
    rooty: {allow_root: true, node_selector: {desktop: "yes"}}
  max_resources: {cpu: 2, memory: 2G, gpus: 0}
  node_selector: {pool: apps}
  tolerations: [{key: apps, operator: Exists, effect: NoSchedule}]
  priority_class: users
  profiles:
    - {name: big, min: {cpu: 1}, priority_class: big-users}
  reserved_labels: [team]
"""


def cluster(s, method, path, body=None):
    host, port = s.cluster_url().split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    text = r.read()
    conn.close()
    return r.status, (json.loads(text) if text else None)


def mine(items, sid):
    return [o for o in items if o["metadata"].get("labels", {}).get("tycho-guid") == sid]


def launched(s, tok, who, body, what):
    st, _, r = s.request("POST", "/v1/sessions", body, token=tok[who])
    check(st == 201, what, (st, r))
    return r.get("id") if st == 201 else None


def configured(tmp, reg):
    boot = Server(tmp=tmp, registry=reg)
    tok = {"alice": boot.token("user", "alice"), "bob": boot.token("user", "bob"),
           "platform": boot.token("platform", name="appstore"), "admin": boot.token("admin")}
    boot.stop()
    with Server(tmp=tmp, registry=reg, config=CONFIG,
                env={"TYCHO_RATE_LIMIT_PER_SECOND": "0", "TYCHO_TOKEN_CACHE_MS": "0"}) as s:
        def req(who, method, path, body=None):
            return s.request(method, path, body=body, token=tok[who])

        # ---- a launch: its Ingress, home claim, scheduling, NetworkPolicy
        sid = launched(s, tok, "alice", {"app": "open"}, "alice launches open")
        s.wait_state(sid, ["running"], token=tok["admin"])
        dep = mine(s.cluster_list("deployments"), sid)[0]
        pod = dep["spec"]["template"]["spec"]
        check(pod.get("nodeSelector") == {"pool": "apps"}, "node selector", pod.get("nodeSelector"))
        check([t["key"] for t in pod.get("tolerations", [])] == ["apps"], "tolerations",
              pod.get("tolerations"))
        check(pod.get("priorityClassName") == "big-users", "the profile's priority class wins",
              pod.get("priorityClassName"))
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        claims = {v["persistentVolumeClaim"]["claimName"] for v in vols.values()
                  if "persistentVolumeClaim" in v}
        check(claims == {"home-alice"}, "the per-user home claim, nothing shared", claims)
        mounts = pod["containers"][0].get("volumeMounts", [])
        check([(m["mountPath"], m.get("subPath")) for m in mounts] == [("/home/alice", None)],
              "home mounted whole at /home/alice", mounts)
        st, pvc = cluster(s, "GET", "/api/v1/namespaces/default/persistentvolumeclaims/home-alice")
        check(st == 200 and pvc["spec"]["resources"]["requests"]["storage"] == "5Gi" and
              pvc["spec"].get("storageClassName") == "fast" and
              "tycho-guid" not in pvc["metadata"]["labels"] and
              not pvc["metadata"].get("ownerReferences"), "the home claim is the user's",
              (st, pvc))
        ings = mine(s.cluster_list("ingresses", "networking.k8s.io/v1"), sid)
        check(len(ings) == 1, "one Ingress", ings)
        if ings:
            ing = ings[0]["spec"]
            path = ing["rules"][0]["http"]["paths"][0]
            check(ing.get("ingressClassName") == "nginx" and
                  ing["rules"][0].get("host") == "apps.example.org" and
                  ing.get("tls") == [{"hosts": ["apps.example.org"], "secretName": "apps-tls"}],
                  "Ingress class, host and TLS", ing)
            check(path["path"] == "/private/open/alice/%s/" % sid and
                  path["backend"]["service"]["name"] == "open-" + sid and
                  path["backend"]["service"]["port"]["number"] == 8080,
                  "Ingress path and backend", path)
        svcs = mine(s.cluster_list("services", "v1"), sid)
        check(svcs and "getambassador.io/config" not in
              svcs[0]["metadata"].get("annotations", {}), "no Ambassador mapping", svcs)
        nps = mine(s.cluster_list("networkpolicies", "networking.k8s.io/v1"), sid)
        peers = nps[0]["spec"]["ingress"][0]["from"] if nps else []
        check({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
               "namespaceSelector": {"matchLabels":
                                     {"kubernetes.io/metadata.name": "ingress-nginx"}}} in peers,
              "the NetworkPolicy admits the ingress controller, pinned to its namespace", peers)
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        check(env.get("NB_PREFIX") == "/private/open/alice/" + sid, "the app serves its prefix",
              env.get("NB_PREFIX"))

        # ---- a stop takes the Ingress and leaves the home; the next launch reuses it
        st, _, r = req("alice", "DELETE", "/v1/sessions/" + sid)
        s.wait_state(sid, ["stopped"], token=tok["admin"])
        check(not mine(s.cluster_list("ingresses", "networking.k8s.io/v1"), sid),
              "the stop deleted the Ingress")
        st, _ = cluster(s, "GET", "/api/v1/namespaces/default/persistentvolumeclaims/home-alice")
        check(st == 200, "the home claim outlives the session", st)
        sid2 = launched(s, tok, "alice", {"app": "open"}, "alice launches again on her home")

        # ---- a claim of that name that is not bob's is not mounted as his home
        st, _ = cluster(s, "POST", "/api/v1/namespaces/default/persistentvolumeclaims", {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "home-bob",
                         "annotations": {"tycho.renci.org/username": "mallory"}},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}}})
        check(st == 201, "a foreign claim named home-bob", st)
        st, _, r = req("bob", "POST", "/v1/sessions", {"app": "open"})
        check(st == 403 and "claim home-bob exists and is not bob's" in message(r),
              "bob's launch refuses a home claim that is not his", (st, r))

        # ---- listed claims, by role and folder
        for who, vol, want in (("alice", "pvc://projects-pvc:/p", 200),
                               ("alice", "pvc://scratch/u/alice:/s", 200),
                               ("alice", "pvc://scratch/u/alice/deep:/s", 200),
                               ("alice", "pvc://scratch/u/bob:/s", 403),
                               ("alice", "pvc://scratch:/s", 403),
                               ("alice", "pvc://home-bob:/h", 403),
                               ("platform", "pvc://scratch/u/alice:/s", 403),
                               ("alice", "pvc://tycho-data:/d", 403)):
            st, _, r = req(who, "POST", "/system/start",
                           start_body("alice", system=spec("open", volumes=[vol])))
            check(st == want, "claims: %s mounts %s" % (who, vol), (st, message(r)))
            if st == 200:
                req("admin", "POST", "/system/delete", {"name": r["result"]["sid"]})

        # ---- listed service accounts, root for one app, the maximum
        st, _, r = req("platform", "POST", "/system/start",
                       start_body("alice", serviceaccount="spark"))
        check(st == 200, "a listed service account", (st, r))
        if st == 200:
            d = mine(s.cluster_list("deployments"), r["result"]["sid"])[0]
            check(d["spec"]["template"]["spec"].get("serviceAccountName") == "spark",
                  "runs as spark", d["spec"]["template"]["spec"].get("serviceAccountName"))
        st, _, r = req("platform", "POST", "/system/start", start_body("alice",
                                                                       serviceaccount="dask"))
        check(st == 403 and "policy.service_accounts" in message(r), "an unlisted one", (st, r))
        rid = launched(s, tok, "alice", {"app": "rooty"}, "rooty may run as root here")
        if rid:
            d = mine(s.cluster_list("deployments"), rid)[0]["spec"]["template"]["spec"]
            check(d["securityContext"].get("runAsUser") == 0 and
                  d.get("nodeSelector") == {"pool": "apps", "desktop": "yes"},
                  "root, and the app's node selector merged", d)
        st, _, r = req("alice", "POST", "/system/start",
                       start_body("alice", system=spec("open", user="0")))
        check(st == 403 and "root" in message(r), "open still may not", (st, r))
        big = spec("bigapp", deploy={"resources": {"limits": {"cpus": "3", "memory": "1G"}}})
        st, _, r = req("platform", "POST", "/system/start", start_body("alice", "bigapp", big))
        check(st == 400 and "above the server's maximum of 2 (policy.max_resources.cpu)" in
              message(r), "an unregistered app beyond the maximum", (st, r))

        # ---- the operator's reserved labels, the proxy's, the culler's
        for lab, want, needle in (({"team": "x"}, 400, "policy.reserved_labels"),
                                  ({"app.kubernetes.io/name": "ingress-nginx"}, 400, "reserved"),
                                  ({"keep": "yes"}, 403, "culler")):
            st, _, r = req("alice", "PATCH", "/v1/sessions/" + sid2, {"labels": lab})
            check(st == want and needle in message(r), "label %r" % lab, (st, r))
        st, _, r = req("platform", "PATCH", "/v1/sessions/" + sid2, {"labels": {"keep": "yes"}})
        check(st == 200, "the platform exempts", (st, r))


def config_checks(tmp, reg):
    cfg = os.path.join(tmp, "check.yaml")
    with open(cfg, "w") as f:
        f.write("policy:\n  home_claim: homes\n  max_resources: {cpu: 8}\n"
                "  service_accounts: [spark]\n")
    env = dict(os.environ, TYCHO_POLICY_MAX_RESOURCES_CPU="4", TYCHO_POLICY_INGRESS="none")
    r = subprocess.run([TYCHO, "api", "--config", cfg, "--check-config", "--set",
                        "policy.home_claim=none"], capture_output=True, text=True, env=env,
                       timeout=30)
    out = r.stdout
    check(r.returncode == 0 and out.startswith("# the effective launch policy") and
          "\n  home_claim: none\n" in out and "\n    cpu: \"4\"\n" in out and
          "\n  ingress: none\n" in out and "\n  - spark\n" in out and
          "\n  allow_root: false\n" in out, "--check-config: file < env < --set", (r, out))
    for text, needle in (
            ("policy:\n  claims:\n    - ../etc\n", "bad.yaml:3:7: policy.claims[0]"),
            ("policy:\n  alow_root: true\n", "bad.yaml:2:3: policy.alow_root: unknown key"),
            ("policy:\n  home_create: true\n", "policy.home_create needs a per-user"),
            ("policy:\n  claims: [tycho-data]\n", "the server's own claim"),
            ("policy:\n  max_resources: {cpu: -1}\n", "bad.yaml:2:24: policy.max_resources.cpu")):
        bad = os.path.join(tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write(text)
        r = subprocess.run([TYCHO, "api", "--config", bad, "--check-config"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and needle in r.stderr, "bad config: " + needle, r.stderr)
    r = subprocess.run([TYCHO, "api", "--check-config"], capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, TYCHO_POLICY_ALLOW_ROOTS="true"))
    check(r.returncode != 0 and "TYCHO_POLICY_ALLOW_ROOTS: no such policy key" in r.stderr,
          "a misspelt variable", r.stderr)


def main():
    tmp = tempfile.mkdtemp(prefix="tyapi-policy-")
    reg = make_registry(tmp)
    configured(tmp, reg)
    config_checks(tmp, reg)
    finish()


if __name__ == "__main__":
    main()
