"""POST /system/start honours Appstore's registry-derived keys (services,
conn_string, security_context, proxy_rewrite, serviceaccount,
gitea_integration): they become the launch's registry-entry fields, win over
the registry's own, and make the whole entry when the registry has none.  The
objects created in the in-process simulated cluster are inspected.  Malformed
values are 400 naming the field and leave the store and the cluster as they
were."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import Server, check, finish  # noqa: E402


def start_body(user, name, system, **extra):
    b = {
        "name": name,
        "principal": json.dumps({"username": user, "access_token": "t" * 40,
                                 "refresh_token": "r", "host": "helx.example.org"}),
        "system": system,
        "env": {"STDNFS_PVC": "stdnfs"},
    }
    b.update(extra)
    return b


def two_services(main):
    # `main` serves 8080 from the spec; `side` publishes no port (the request's
    # port is what its Service gets).
    return {"version": "3", "services": {
        main: {"image": "example/nginx-unprivileged:1.25", "ports": ["8080:8080"]},
        "side": {"image": "example/sidecar:1"},
    }}


def objects(s, sid):
    """(deployments, services, networkpolicies) of one launch."""
    def mine(items):
        return [o for o in items if o["metadata"]["labels"].get("tycho-guid") == sid]
    return (mine(s.cluster_list("deployments")), mine(s.cluster_list("services", "v1")),
            mine(s.cluster_list("networkpolicies", "networking.k8s.io/v1")))


def mapping_field(svc, key):
    text = svc["metadata"].get("annotations", {}).get("getambassador.io/config", "")
    m = re.search(r"^ *%s: *(.*)$" % re.escape(key), text, re.M)
    return m.group(1).strip().strip("'\"") if m else None


def snapshot(s):
    st, _, h = s.request("GET", "/v1/admin/history?limit=500")
    kinds = (("deployments", "apps/v1"), ("services", "v1"),
             ("networkpolicies", "networking.k8s.io/v1"), ("secrets", "v1"))
    objs = sorted((k, o["metadata"]["name"]) for k, g in kinds for o in s.cluster_list(k, g))
    return sorted((i["id"], i["state"]) for i in h["items"]), objs


def expect_400(s, body, needle, what):
    st, _, r = s.request("POST", "/system/start", body)
    check(st == 400 and isinstance(r, dict) and r.get("status") == "error" and
          needle in r.get("message", ""), what, (st, r))


def main():
    # The overlay's service account must be one the operator lists (the
    # launch policy; test_abuse.py checks the refusals).
    with Server(config="policy:\n  service_accounts: [spark]\n") as s:
        # ---- an app the registry does not know: the request makes the entry
        body = start_body("erin", "labnb", two_services("labnb"),
                          serviceaccount="spark",
                          services={"labnb": {"port": "8080", "clients": []},
                                    "side": {"port": 9000, "clients": []}},
                          conn_string="Lab",
                          security_context={"runAsUser": 1000, "runAsGroup": "",
                                            "fsGroup": "100", "initRunAsUser": "0"},
                          proxy_rewrite={"enabled": True, "target": "/"},
                          gitea_integration=False,
                          init_resources={"cpus": "250m", "memory": "250Mi"})
        st, _, r = s.request("POST", "/system/start", body)
        check(st == 200 and r.get("status") == "success", "start an unregistered app", r)
        sid = r["result"]["sid"]
        check(r["result"]["conn_string"] == "Lab", "result conn_string", r["result"])
        check(set(r["result"]["containers"]) == {"labnb", "side"}, "result containers",
              r["result"])
        deps, svcs, nps = objects(s, sid)
        check(len(deps) == 1, "one Deployment", [d["metadata"]["name"] for d in deps])
        by_name = {v["metadata"]["name"]: v for v in svcs}
        check(sorted(by_name) == sorted(["labnb-" + sid, "side-" + sid]),
              "a Service per listed container", sorted(by_name))
        main_svc = by_name.get("labnb-" + sid, {})
        side_svc = by_name.get("side-" + sid, {})
        check([p["port"] for p in main_svc.get("spec", {}).get("ports", [])] == [8080],
              "main Service port", main_svc.get("spec"))
        check([p["port"] for p in side_svc.get("spec", {}).get("ports", [])] == [9000],
              "side Service port from the request", side_svc.get("spec"))
        for v in svcs:
            check(v["metadata"]["labels"].get("conn_string") == "Lab", "conn_string label",
                  v["metadata"]["labels"])
        prefix = mapping_field(main_svc, "prefix")
        check(prefix is not None and prefix.endswith("/%s/Lab" % sid) and
              prefix.startswith("/private/labnb/erin/"), "Ambassador prefix ends in conn_string",
              prefix)
        check(mapping_field(main_svc, "rewrite") == "/", "proxy_rewrite target",
              main_svc["metadata"].get("annotations"))
        check(mapping_field(main_svc, "X-Original-Path") == prefix, "X-Original-Path header",
              main_svc["metadata"].get("annotations"))
        pod = deps[0]["spec"]["template"]["spec"] if deps else {}
        psc = pod.get("securityContext", {})
        check(psc.get("runAsUser") == 1000 and psc.get("fsGroup") == 100 and
              "runAsGroup" not in psc, "pod securityContext from security_context", psc)
        check(pod.get("serviceAccountName") == "spark", "serviceAccountName", pod)
        check(len(nps) == 1, "NetworkPolicy", nps)
        ports = sorted(p["port"] for rule in nps[0]["spec"]["ingress"]
                       for p in rule.get("ports", [])) if nps else []
        check(ports == [8080, 9000], "NetworkPolicy admits the listed ports", ports)
        st, _, g = s.request("GET", "/v1/sessions/" + sid)
        check(st == 200 and g["app"] == "labnb" and g["user"] == "erin", "session row", g)
        s.wait_state(sid, ["running"])
        st, _, r = s.request("POST", "/system/delete", {"name": sid})
        check(st == 200, "delete", r)

        # ---- a registered app: the request's values win over the registry's
        # (the registry's web lists only `web`; the request lists web and side).
        body = start_body("erin", "web", two_services("web"),
                          services={"web": {"port": "8080", "clients": []},
                                    "side": {"port": "7000", "clients": []}},
                          serviceaccount="", conn_string="", proxy_rewrite=None,
                          security_context=None, gitea_integration=None)
        st, _, r = s.request("POST", "/system/start", body)
        check(st == 200 and r.get("status") == "success", "start a registered app", r)
        sid2 = r["result"]["sid"]
        deps, svcs, _ = objects(s, sid2)
        names = sorted(v["metadata"]["name"] for v in svcs)
        check(names == sorted(["web-" + sid2, "side-" + sid2]),
              "request services replace the registry's", names)
        for v in svcs:
            check("conn_string" not in v["metadata"]["labels"], "empty conn_string: no label",
                  v["metadata"]["labels"])
        pod = deps[0]["spec"]["template"]["spec"] if deps else {}
        check("serviceAccountName" not in pod, "empty serviceaccount: none", pod)
        # gitea_integration: the user's key is mounted from its Secret
        body = start_body("erin", "web", two_services("web"), gitea_integration=True)
        st, _, r = s.request("POST", "/system/start", body)
        check(st == 200, "start with gitea_integration", r)
        sid4 = r["result"]["sid"]
        deps = objects(s, sid4)[0]
        vols = deps[0]["spec"]["template"]["spec"].get("volumes", []) if deps else []
        check(any(v.get("secret", {}).get("secretName") == "erin-id-gitea" for v in vols),
              "gitea key mounted", vols)
        # without the overlay keys the registry's entry decides (only `web`)
        body = start_body("erin", "web", two_services("web"))
        st, _, r = s.request("POST", "/system/start", body)
        check(st == 200, "start with the registry's settings", r)
        sid3 = r["result"]["sid"]
        names = sorted(v["metadata"]["name"] for v in objects(s, sid3)[1])
        check(names == ["web-" + sid3], "the registry's services", names)
        for x in (sid2, sid3, sid4):
            s.request("POST", "/system/delete", {"name": x})
        for x in (sid, sid2, sid3, sid4):
            s.wait_state(x, ["stopped"])

        # ---- malformed values: 400 naming the field, nothing created
        before = snapshot(s)
        good = dict(services={"labnb": {"port": "8080", "clients": []},
                              "side": {"port": 9000, "clients": []}},
                    conn_string="Lab", security_context={"runAsUser": 1000},
                    proxy_rewrite={"enabled": True, "target": "/"}, serviceaccount="spark",
                    gitea_integration=True)
        bad = [
            ({"services": {"labnb": {"port": "x", "clients": []}}},
             "body.services.labnb.port must be a port number (1-65535), got \"x\""),
            ({"services": {"labnb": {"port": 70000}}}, "body.services.labnb.port"),
            ({"services": {"labnb": {"port": [1]}}}, "body.services.labnb.port"),
            ({"services": {"labnb": {"port": 80, "extra": 1}}},
             "body.services.labnb: unknown field 'extra'"),
            ({"services": {"labnb": {"port": 80, "clients": ["10.0.0.0/8"]}}},
             "body.services.labnb.clients: per-launch client ranges are not supported"),
            ({"services": {"nosuch": {"port": 80}}},
             "body.services.nosuch: body.system.services has no service 'nosuch'"),
            ({"services": {"labnb": True}}, "body.services.labnb must be an object"),
            ({"services": []}, "body.services must be an object"),
            ({"conn_string": "a b"}, "body.conn_string"),
            ({"conn_string": 5}, "body.conn_string must be a string"),
            ({"security_context": {"runAsUser": "root"}},
             "body.security_context.runAsUser must be a user or group id"),
            ({"security_context": {"fsGroup": -1}}, "body.security_context.fsGroup"),
            ({"security_context": {"runAsUserr": 1}},
             "body.security_context: unknown field 'runAsUserr'"),
            ({"proxy_rewrite": {"enabled": "yes"}}, "body.proxy_rewrite.enabled"),
            ({"proxy_rewrite": {"enabled": True, "target": "x"}}, "body.proxy_rewrite.target"),
            ({"proxy_rewrite": True}, "body.proxy_rewrite must be an object"),
            ({"serviceaccount": "Not_A_Name"}, "body.serviceaccount"),
            ({"gitea_integration": "maybe"}, "body.gitea_integration must be a boolean"),
        ]
        for change, needle in bad:
            extra = dict(good)
            extra.update(change)
            expect_400(s, start_body("erin", "labnb", two_services("labnb"), **extra), needle,
                       "400 for %s" % json.dumps(change))
        after = snapshot(s)
        check(after == before, "store and cluster unchanged by refused starts", (before, after))
    finish()


if __name__ == "__main__":
    main()
