"""A user can never escape their own sandbox: every launch and modify path
(POST /system/start, /system/modify, POST and PATCH /v1/sessions) tried as a
hostile user would, with an ordinary `user` token, and as a platform token
pushing past the operator's policy (docs/security.md, "Launch policy").

Each attempt is refused with the status and the field the policy names, and
creates nothing; at the end every object in the simulated cluster is read back
and checked: no root, no foreign service account, no foreign claim, no server
file content, reserved labels untouched, resources within the app's range.
The server runs with the default policy (no `policy:` section)."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import Server, check, finish  # noqa: E402

REGISTRY = """api: Tycho
version: 0.0.1
metadata: {id: abuse-tests, name: Abuse test registry}
repositories:
  local: {url: app-specs}
contexts:
  default:
    name: Abuse tests
    apps:
      web:
        name: Web
        description: One per user.
        docs: https://example.org/web
        services: {web: "8080"}
        count: 1
      open:
        name: Open
        description: As many as the user likes.
        docs: https://example.org/open
        services: {open: "8080"}
        count: -1
      hidden:
        name: Hidden
        description: For administrators.
        docs: https://example.org/hidden
        visibility: admin
        serviceAccount: hidden-sa
        services: {hidden: "8080"}
        count: -1
      rooty:
        name: Rooty
        description: Asks for root in its registry entry.
        docs: https://example.org/rooty
        securityContext: {runAsUser: 0}
        services: {rooty: "8080"}
        count: -1
"""

SPEC = """version: "3"
services:
  %(name)s:
    image: example/nginx-unprivileged:1.25
    ports:
      - "8080:8080"
    deploy:
      resources:
        limits: {cpus: "1", memory: 512M}
        reservations: {cpus: "0.25", memory: 128M}
"""

CONFIG = """culling:
  exempt_label: keep-alive
  labels:
    "tier=long": {idle_timeout: 0}
"""

SECRET = "STOLEN_FROM_THE_SERVER=yes-it-was-read"


def make_registry(tmp):
    reg = os.path.join(tmp, "registry")
    for app in ("web", "open", "hidden", "rooty"):
        os.makedirs(os.path.join(reg, "app-specs", app))
        with open(os.path.join(reg, "app-specs", app, "docker-compose.yaml"), "w") as f:
            f.write(SPEC % {"name": app})
    with open(os.path.join(reg, "app-registry.yaml"), "w") as f:
        f.write(REGISTRY)
    return reg


def spec(name="open", **service):
    svc = {"image": "example/nginx-unprivileged:1.25", "ports": ["8080:8080"],
           "deploy": {"resources": {"limits": {"cpus": "1", "memory": "512M"},
                                    "reservations": {"cpus": "0.25", "memory": "128M"}}}}
    top = service.pop("_top", None)
    svc.update(service)
    s = {"version": "3", "services": {name: svc}}
    if top:
        s.update(top)
    return s


def start_body(user, name="open", system=None, **extra):
    b = {"name": name,
         "principal": json.dumps({"username": user, "access_token": "a" * 40}),
         "system": system if system is not None else spec(name)}
    b.update(extra)
    return b


def message(r):
    if not isinstance(r, dict):
        return str(r)
    if "error" in r and isinstance(r["error"], dict):
        return r["error"].get("message", "")
    return r.get("message", "")


def main():
    tmp = tempfile.mkdtemp(prefix="tyapi-abuse-")
    reg = make_registry(tmp)
    with open(os.path.join(tmp, "secret.env"), "w") as f:
        f.write(SECRET + "\n")
    boot = Server(tmp=tmp, registry=reg)
    tok = {"alice": boot.token("user", "alice"), "bob": boot.token("user", "bob"),
           "platform": boot.token("platform", name="appstore"), "admin": boot.token("admin")}
    boot.stop()
    # The server's working directory holds secret.env: a relative env_file
    # would find it there.
    with Server(tmp=tmp, registry=reg, config=CONFIG, cwd=tmp,
                env={"TYCHO_TOKEN_CACHE_MS": "0", "TYCHO_RATE_LIMIT_PER_SECOND": "0"}) as s:
        def req(who, method, path, body=None):
            return s.request(method, path, body=body, token=tok[who])

        def live_count():
            st, _, h = req("admin", "GET", "/v1/admin/history?state=live&limit=500")
            return h["total"]

        def refused(who, method, path, body, want, needle, what):
            before = live_count()
            st, _, r = req(who, method, path, body)
            ok = check(st == want and needle in message(r), what,
                       "status %s (want %s), %r" % (st, want, r))
            if ok and method == "POST" and path in ("/system/start", "/v1/sessions"):
                check(live_count() == before, what + ": nothing created", live_count())
            return r

        # ---- 1. a client-sent spec reads nothing on the server's disk ------
        answers = {}
        for who, name in (("alice", "open"), ("platform", os.path.join(tmp, "x"))):
            body = start_body("alice", name, spec(name, env_file="secret.env"))
            answers[who] = refused(who, "POST", "/system/start", body, 400, "env_file",
                                   "1: env_file in a client spec (%s)" % who)
        body = start_body("alice", "open", spec("open", env_file="missing.env"))
        r2 = refused("alice", "POST", "/system/start", body, 400, "env_file",
                     "1: env_file naming a missing file")
        r1 = answers["alice"]
        check(message(r1).replace("secret.env", "F") == message(r2).replace("missing.env", "F"),
              "1: a present and a missing file give the same answer (no oracle)",
              (message(r1), message(r2)))
        for ef in ("/etc/os-release", [{"path": "/etc/hostname", "required": False}]):
            refused("alice", "POST", "/system/start",
                    start_body("alice", "open", spec("open", env_file=ef)), 400, "env_file",
                    "1: absolute env_file %r" % (ef,))

        # ---- 2. no foreign service account, no root -------------------------
        refused("alice", "POST", "/system/start",
                start_body("alice", serviceaccount="tycho",
                           security_context={"runAsUser": 0}), 403, "serviceAccount",
                "2: user sends serviceaccount + root")
        overlay_keys = {"serviceaccount": "default", "security_context": {"runAsUser": 1000},
                        "services": {"open": {"port": 8080, "clients": []}},
                        "conn_string": "lab", "proxy_rewrite": {"enabled": True, "target": "/"},
                        "gitea_integration": True}
        for k, v in overlay_keys.items():
            refused("alice", "POST", "/system/start", start_body("alice", **{k: v}), 403,
                    "platform or admin", "2: user sends " + k)
        for user in ("root", "0", "0:0"):
            refused("alice", "POST", "/system/start",
                    start_body("alice", system=spec("open", user=user)), 403, "root",
                    "2: user: %s in a client spec" % user)
        for who in ("platform", "admin"):
            refused(who, "POST", "/system/start",
                    start_body("alice", serviceaccount="tycho"), 403, "serviceAccount",
                    "2: %s names the server's service account" % who)
            refused(who, "POST", "/system/start",
                    start_body("alice", serviceaccount="spark"), 403, "serviceAccount",
                    "2: %s names a service account the policy does not list" % who)
            refused(who, "POST", "/system/start",
                    start_body("alice", security_context={"runAsUser": "0"}), 403, "root",
                    "2: %s asks for root" % who)
        refused("alice", "POST", "/v1/sessions", {"app": "rooty"}, 403, "root",
                "2: a registry entry asking for root, default policy")
        st, _, r = req("platform", "POST", "/system/start",
                       start_body("alice", serviceaccount="default",
                                  security_context={"runAsUser": 1000, "fsGroup": 100}))
        check(st == 200, "2: platform restates harmless overlay keys", r)
        plat_sid = r["result"]["sid"] if st == 200 else None

        # ---- 3. only allowed claims, a user's home only in its own subPath --
        for vol, top in (("pvc://stdnfs:/all", None), ("pvc://stdnfs/bob:/bobhome", None),
                         ("pvc://stdnfs/alice/../bob:/x", None),
                         ("pvc://stdnfs/alice-and-bob:/x", None),
                         ("pvc://tycho-data:/db", None),
                         ("pvc://projects-pvc:/projects", None),
                         ("bobdata:/data", {"volumes": {"bobdata": {"external": True}}}),
                         ("bobdata:/data", {"volumes": {"bobdata": {"name": "bob-claim"}}}),
                         ("./here:/data", None), ("/etc:/hostetc", None)):
            needle = "sub-path" if ".." in vol else ("host path" if vol[0] in "./" else "claim")
            want = 400 if ".." in vol else 403
            refused("alice", "POST", "/system/start",
                    start_body("alice", system=spec("open", volumes=[vol], _top=top)), want,
                    needle, "3: user mounts %s" % vol)
        refused("platform", "POST", "/system/start",
                start_body("alice", system=spec("open", volumes=["pvc://stdnfs:/all"])), 403,
                "claim", "3: platform mounts the whole home claim")
        refused("admin", "POST", "/system/start",
                start_body("alice", system=spec("open", volumes=["pvc://tycho-data:/db"])), 403,
                "claim", "3: admin mounts the server's claim")
        st, _, r = req("alice", "POST", "/system/start",
                       start_body("alice", system=spec(
                           "open", volumes=["pvc://stdnfs/alice/projects:/projects:ro"])))
        check(st == 200, "3: alice mounts a folder of her own home", r)

        # ---- 4. hidden apps: the same visibility on every path ---------------
        refused("alice", "POST", "/system/start", start_body("alice", "hidden",
                                                             spec("hidden")), 404,
                "hidden", "4: /system/start of an admin-only app")
        refused("alice", "POST", "/v1/sessions", {"app": "hidden"}, 404, "hidden",
                "4: /v1/sessions of an admin-only app")
        refused("platform", "POST", "/system/start", start_body("alice", "hidden",
                                                                spec("hidden")), 404,
                "hidden", "4: platform /system/start of an admin-only app")
        refused("alice", "POST", "/system/start", start_body("alice", "unlisted",
                                                             spec("unlisted")), 404,
                "unlisted", "4: a user launches a name the registry does not have")
        st, _, r = req("admin", "POST", "/v1/sessions", {"app": "hidden", "username": "carol"})
        check(st == 201, "4: an admin launches an admin-only app for a user", r)

        # ---- 5. labels that selectors, policies or the culler read ----------
        st, _, a = req("alice", "POST", "/v1/sessions", {"app": "open", "labels": {"o": "a"}})
        check(st == 201, "5: alice launches", a)
        A = a["id"]
        s.wait_state(A, ["running"], token=tok["admin"])
        for key in ("app.kubernetes.io/name", "tycho-guid", "name", "executor", "username",
                    "kubernetes.io/role", "node.k8s.io/x", "tycho.renci.org/x",
                    "original-app-name"):
            lab = {key: "ambassador"}
            refused("alice", "PATCH", "/v1/sessions/" + A, {"labels": lab}, 400, key,
                    "5: PATCH label " + key)
            refused("alice", "POST", "/system/modify", {"tycho-guid": A, "labels": lab}, 400,
                    key, "5: /system/modify label " + key)
            refused("alice", "POST", "/v1/sessions", {"app": "open", "labels": lab}, 400, key,
                    "5: launch with label " + key)
        refused("alice", "POST", "/system/start",
                start_body("alice", labels={"app.kubernetes.io/name": "ambassador"}), 400,
                "app.kubernetes.io/name", "5: /system/start with the proxy's label")
        st, _, r = req("alice", "POST", "/system/modify",
                       {"tycho-guid": A, "labels": {"app-name": "my-notebook"}})
        check(st == 200, "5: the owner renames the workspace (app-name)", r)
        st, _, g = req("alice", "GET", "/v1/sessions/" + A)
        check(g.get("labels", {}).get("app-name") == "my-notebook" and g["app"] == "open",
              "5: the rename is recorded; the app is not", g)
        st, _, r = req("alice", "POST", "/system/status", {"name": A})
        row = r["result"][0] if st == 200 and r.get("result") else {}
        check(row.get("workspace_name") == "my-notebook" and row.get("app_id") == "open",
              "5: /system/status shows the new workspace name", r)

        # ---- 6. self-exemption from culling ----------------------------------
        for lab in ({"keep-alive": "yes"}, {"tier": "long"}, {"keep-alive": None}):
            refused("alice", "PATCH", "/v1/sessions/" + A, {"labels": lab}, 403,
                    "platform or admin", "6: user PATCHes culler label %r" % lab)
        refused("alice", "POST", "/v1/sessions", {"app": "open", "labels": {"keep-alive": "1"}},
                403, "platform or admin", "6: user launches with the exempt label")
        refused("alice", "POST", "/system/start", start_body("alice", labels={"tier": "long"}),
                403, "platform or admin", "6: user /system/start with a culling label")
        st, _, r = req("platform", "PATCH", "/v1/sessions/" + A, {"labels": {"keep-alive": "1"}})
        check(st == 200, "6: platform exempts a session", r)

        # ---- 7. resources within the app's range and the count ---------------
        for body, field in (({"cpu": 1000}, "cpu"), ({"memory": "100T"}, "memory"),
                            ({"gpu": 64}, "gpu"), ({"cpu": "10m"}, "cpu"),
                            ({"memory": "1Mi"}, "memory")):
            b = dict(body, app="open")
            refused("alice", "POST", "/v1/sessions", b, 400, field,
                    "7: launch with %r" % body)
        for body, field in (({"cpu": 1000}, "cpu"), ({"memory": "100T"}, "memory"),
                            ({"cpu": 0.01}, "cpu")):
            refused("alice", "PATCH", "/v1/sessions/" + A, body, 400, field,
                    "7: PATCH %r" % body)
            refused("alice", "POST", "/system/modify", dict(body, **{"tycho-guid": A}), 400,
                    field, "7: /system/modify %r" % body)
        big = [{"cpus": "5000"}, {"memory": "100T"}]
        for lim in big:
            res = {"limits": dict({"cpus": "1", "memory": "512M"}, **lim),
                   "reservations": {"cpus": "0.25", "memory": "128M"}}
            refused("alice", "POST", "/system/start",
                    start_body("alice", system=spec("open", deploy={"resources": res})), 400,
                    list(lim)[0].rstrip("s"), "7: client spec with limits %r" % lim)
        gpus = {"limits": {"cpus": "1", "memory": "512M"},
                "reservations": {"devices": [{"capabilities": ["gpu"], "count": 1000}]}}
        refused("alice", "POST", "/system/start",
                start_body("alice", system=spec("open", deploy={"resources": gpus})), 400,
                "gpu", "7: client spec with 1000 GPUs")
        side = spec("open")
        side["services"]["side"] = {"image": "example/side:1",
                                    "deploy": {"resources": {"limits": {"cpus": "500"}}}}
        refused("alice", "POST", "/system/start", start_body("alice", system=side), 400, "cpu",
                "7: a side container with 500 CPUs")
        st, _, r = req("alice", "PATCH", "/v1/sessions/" + A, {"cpu": 0.5, "memory": "256M"})
        check(st == 200, "7: PATCH within the range", r)
        st, _, w = req("alice", "POST", "/system/start", start_body("alice", "web", spec("web")))
        check(st == 200, "7: the first web (count 1)", w)
        refused("alice", "POST", "/system/start", start_body("alice", "web", spec("web")), 429,
                "limit", "7: a second web through /system/start")
        refused("alice", "POST", "/v1/sessions", {"app": "web"}, 429, "limit",
                "7: a second web through /v1/sessions")
        refused("alice", "POST", "/system/start", start_body("alice", "web-2", spec("web-2")),
                404, "web-2", "7: a second web under a fresh name")

        # ---- every object in the cluster -------------------------------------
        deps = s.cluster_list("deployments")
        check(len(deps) >= 5, "objects: the allowed launches exist", len(deps))
        for d in deps:
            owner = d["metadata"]["annotations"]["tycho.renci.org/username"]
            app = d["metadata"]["annotations"]["tycho.renci.org/app-id"]
            pod = d["spec"]["template"]["spec"]
            what = "objects: %s of %s" % (d["metadata"]["name"], owner)
            psc = pod.get("securityContext", {})
            check(psc.get("runAsUser") != 0, what + ": pod not root", psc)
            for c in pod["containers"]:
                csc = c.get("securityContext", {})
                check(csc.get("runAsUser") != 0 and not csc.get("privileged"),
                      what + ": container not root", csc)
                check("runAsUser" in psc or "runAsUser" in csc or
                      psc.get("runAsNonRoot") is True, what + ": non-root enforced", (psc, csc))
                env = json.dumps(c.get("env", []))
                check("STOLEN" not in env, what + ": no server file in env", env)
                lim = c.get("resources", {}).get("limits", {})
                check(lim.get("cpu") in (None, "1", "500m", "1000m") and
                      lim.get("memory") in (None, "512M", "256M") and
                      "nvidia.com/gpu" not in lim, what + ": limits in range", lim)
            sa = pod.get("serviceAccountName")
            check(sa in (None, "default") or (app == "hidden" and sa == "hidden-sa"),
                  what + ": service account", sa)
            claims = {v["name"]: v["persistentVolumeClaim"]["claimName"]
                      for v in pod.get("volumes", []) if "persistentVolumeClaim" in v}
            check(set(claims.values()) <= {"stdnfs"}, what + ": claims", claims)
            check(not any("hostPath" in v for v in pod.get("volumes", [])), what + ": no host path",
                  pod.get("volumes"))
            for c in pod["containers"]:
                for m in c.get("volumeMounts", []):
                    if m["name"] in claims:
                        sub = m.get("subPath", "")
                        check(sub == "shared" or sub == owner or sub.startswith(owner + "/"),
                              what + ": home subPath", m)
            labels = d["spec"]["template"]["metadata"]["labels"]
            for k in ("app.kubernetes.io/name", "keep-alive", "tier"):
                check(k not in labels, what + ": pod label " + k, labels)
            check(d["metadata"]["labels"].get("app.kubernetes.io/name") is None,
                  what + ": deployment label", d["metadata"]["labels"])
        for np in s.cluster_list("networkpolicies", "networking.k8s.io/v1"):
            for peer in np["spec"]["ingress"][0]["from"]:
                if "podSelector" in peer and "tycho-guid" not in peer["podSelector"].get(
                        "matchLabels", {}):
                    check("namespaceSelector" in peer, "objects: the proxy's namespace is pinned",
                          peer)
        st, _, g = req("admin", "GET", "/v1/sessions/" + A)
        check(g["labels"].get("keep-alive") == "1" and "tier" not in g["labels"],
              "objects: the store holds only the platform's exemption", g["labels"])
        if plat_sid:
            st, _, r = req("platform", "POST", "/system/delete", {"name": plat_sid})
            check(st == 200, "cleanup", r)
    finish()


if __name__ == "__main__":
    main()
