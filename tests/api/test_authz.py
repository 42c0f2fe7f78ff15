"""Authorization matrix: every endpoint x {no token, bad token, user A (alice),
user B (bob), platform, admin}.  User A can neither see nor stop nor modify
user B's sessions (404, exactly like a missing session), and B's session is
unchanged afterwards, in the store and in the cluster."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import Server, check, finish  # noqa: E402
from test_endpoints import appstore_start_body  # noqa: E402

ROLES = ["none", "bad", "alice", "bob", "platform", "admin"]
PUBLIC = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/"]


def main():
    tmp = tempfile.mkdtemp(prefix="tyapi-authz-")
    # Tokens exist before the server starts: no anonymous access at all.
    boot = Server(tmp=tmp)
    tok = {
        "alice": boot.token("user", "alice"),
        "bob": boot.token("user", "bob"),
        "platform": boot.token("platform", name="appstore"),
        "admin": boot.token("admin"),
        "bad": "tyt_" + "0" * 64,
        "none": None,
    }
    boot.stop()
    with Server(tmp=tmp, env={"TYCHO_TOKEN_CACHE_MS": "0"}) as s:
        def req(role, method, path, body=None, headers=None):
            return s.request(method, path, body=body, token=tok[role], headers=headers)

        st, _, a = req("alice", "POST", "/v1/sessions", {"app": "web", "labels": {"o": "a"}})
        check(st == 201 and a["user"] == "alice", "alice launches her own", a)
        st, _, b = req("bob", "POST", "/v1/sessions", {"app": "web", "labels": {"o": "b"}})
        check(st == 201 and b["user"] == "bob", "bob launches his own", b)
        A, B = a["id"], b["id"]
        s.wait_state(A, ["running"], token=tok["admin"])
        s.wait_state(B, ["running"], token=tok["admin"])

        # ---- public endpoints: anyone; a bad token is refused everywhere
        for p in PUBLIC:
            for role in ROLES:
                st, _, _ = req(role, "GET", p)
                want = 401 if role == "bad" else 200
                check(st == want, "GET %s as %s" % (p, role), st)

        # ---- endpoints any authenticated caller may use
        anyone = [("GET", "/v1/apps", None), ("GET", "/v1/apps/web", None),
                  ("GET", "/v1/sessions", None), ("GET", "/v1/registry", None),
                  ("POST", "/system/status", {})]
        for method, path, body in anyone:
            for role in ROLES:
                st, _, r = req(role, method, path, body)
                want = 401 if role in ("none", "bad") else 200
                check(st == want, "%s %s as %s" % (method, path, role), (st, r))
                if role in ("none", "bad"):
                    code = r["error"]["code"] if "error" in r else r.get("status")
                    check(code in ("unauthorized", "error"), "401 body", r)

        # ---- lists are filtered by owner
        for role, want in (("alice", {A}), ("bob", {B}), ("platform", {A, B}),
                           ("admin", {A, B})):
            st, _, l = req(role, "GET", "/v1/sessions")
            check({i["id"] for i in l["items"]} == want and l["total"] == len(want),
                  "list as " + role, l)
            st, _, r = req(role, "POST", "/system/status", {})
            check({x["sid"] for x in r["result"]} == want, "system/status as " + role, r)
        st, _, l = req("alice", "GET", "/v1/sessions?user=bob")
        check(st == 403, "alice cannot list bob's", l)
        st, _, r = req("alice", "POST", "/system/status", {"username": "bob"})
        check(st == 403 and r["status"] == "error", "alice cannot status bob", r)
        st, _, r = req("alice", "POST", "/system/status", {"name": B})
        check(st == 200 and r["result"] == [], "alice status by bob's guid shows nothing", r)
        st, _, l = req("alice", "GET", "/v1/sessions", headers={"X-Tycho-User": "bob"})
        check(st == 403, "a user token cannot name another user in X-Tycho-User", l)
        st, _, l = req("platform", "GET", "/v1/sessions", headers={"X-Tycho-User": "bob"})
        check({i["id"] for i in l["items"]} == {B}, "platform acts for the user it names", l)

        # ---- one session: owner, platform and admin yes; the other user 404
        per_session = [
            ("GET", "/v1/sessions/%s", None),
            ("POST", "/v1/sessions/%s/activity", None),
            ("GET", "/v1/sessions/%s/events", None),
            ("PATCH", "/v1/sessions/%s", {"labels": {"seen": "1"}}),
        ]
        for method, path, body in per_session:
            for role in ROLES:
                st, _, r = req(role, method, path % A, body)
                want = {"none": 401, "bad": 401, "alice": 200, "bob": 404, "platform": 200,
                        "admin": 200}[role]
                check(st == want, "%s %s(A) as %s" % (method, path, role), (st, r))
                if role == "bob":
                    check(r["error"]["code"] == "not_found" and "alice" not in json.dumps(r),
                          "404 leaks nothing", r)
        for role in ROLES:
            st, out = s.sse("/v1/sessions/%s/progress" % A, token=tok[role])
            want = {"none": 401, "bad": 401, "alice": 200, "bob": 404, "platform": 200,
                    "admin": 200}[role]
            check(st == want, "progress(A) as " + role, st)
        # bob tries everything on alice's session through Tycho's endpoints too
        st, _, r = req("bob", "POST", "/system/delete", {"name": A})
        check(st == 404 and r["status"] == "error", "bob cannot system/delete A", r)
        st, _, r = req("bob", "POST", "/system/modify", {"tycho-guid": A, "cpu": 2})
        check(st == 404, "bob cannot system/modify A", r)
        st, _, r = req("bob", "DELETE", "/v1/sessions/" + A)
        check(st == 404, "bob cannot DELETE A", r)
        st, _, r = req("alice", "DELETE", "/v1/sessions/" + B)
        check(st == 404, "alice cannot DELETE B", r)
        st, _, r = req("alice", "PATCH", "/v1/sessions/" + B, {"labels": {"o": "hacked"}})
        check(st == 404, "alice cannot PATCH B", r)
        st, _, r = req("alice", "POST", "/system/modify", {"tycho-guid": B, "labels": {"o": "x"}})
        check(st == 404, "alice cannot system/modify B", r)

        # ---- launching for someone else
        st, _, r = req("alice", "POST", "/v1/sessions", {"app": "web", "username": "bob"})
        check(st == 403, "alice cannot launch for bob", r)
        st, _, r = req("alice", "POST", "/system/start", appstore_start_body("bob"))
        check(st == 403 and r["status"] == "error", "alice cannot system/start for bob", r)
        st, _, r = req("platform", "POST", "/v1/sessions", {"app": "web"})
        check(st == 400 and "user" in r["error"]["message"], "platform must name a user", r)
        for role in ("none", "bad"):
            st, _, r = req(role, "POST", "/v1/sessions", {"app": "web", "username": "x"})
            check(st == 401, "launch as " + role, r)
            st, _, r = req(role, "POST", "/system/start", appstore_start_body("x"))
            check(st == 401 and r["status"] == "error", "system/start as " + role, r)
        st, _, r = req("alice", "GET", "/v1/apps/adminonly")
        check(st == 404, "alice cannot see an admin-only app", r)
        st, _, r = req("bob", "POST", "/v1/sessions", {"app": "alicesonly"})
        check(st == 404, "bob cannot launch alice's app", r)

        # ---- admin only
        admin_only = [("GET", "/v1/admin/history", None), ("GET", "/v1/admin/history.csv", None),
                      ("GET", "/v1/admin/stats", None),
                      ("POST", "/v1/registry/reload", None)]
        for method, path, body in admin_only:
            for role in ROLES:
                st, _, r = req(role, method, path, body)
                want = {"none": 401, "bad": 401, "alice": 403, "bob": 403, "platform": 403,
                        "admin": 200}[role]
                check(st == want, "%s %s as %s" % (method, path, role), (st, r))

        # ---- B is untouched: store and cluster
        st, _, bb = req("admin", "GET", "/v1/sessions/" + B)
        check(bb["state"] == "running" and bb["labels"] == {"o": "b"}, "B unchanged", bb)
        deps = [d for d in s.cluster_list("deployments")
                if d["metadata"]["labels"].get("tycho-guid") == B]
        check(len(deps) == 1 and deps[0]["spec"]["template"]["metadata"]["labels"].get("o") !=
              "hacked", "B's deployment unchanged", deps)
        # ---- and A can stop its own
        st, _, r = req("alice", "DELETE", "/v1/sessions/" + A)
        check(st in (200, 202), "alice stops her own", r)

    # ---- trusted-proxy mode: a header names the user, only from listed addresses
    proxy_env = {"TYCHO_PROXY_USER_HEADER": "X-Remote-User", "TYCHO_TRUSTED_PROXIES": "127.0.0.1"}
    with Server(tmp=tmp, env=proxy_env) as s:
        st, _, l = s.request("GET", "/v1/sessions", headers={"X-Remote-User": "bob"})
        check(st == 200 and {i["user"] for i in l["items"]} <= {"bob"} and l["total"] >= 1,
              "proxy header makes a user principal", l)
        st, _, r = s.request("GET", "/v1/admin/history", headers={"X-Remote-User": "admin"})
        check(st == 403, "a proxied user is never admin", r)
        st, _, r = s.request("GET", "/v1/sessions", headers={"X-Remote-User": "a b"})
        check(st == 401, "a bad proxied username is refused", r)
    proxy_env["TYCHO_TRUSTED_PROXIES"] = "10.9.8.7"
    with Server(tmp=tmp, env=proxy_env) as s:
        st, _, r = s.request("GET", "/v1/sessions", headers={"X-Remote-User": "bob"})
        check(st == 401, "the header is ignored from an untrusted address", r)
    finish()


if __name__ == "__main__":
    main()
