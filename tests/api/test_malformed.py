"""Malformed requests get 4xx with clear messages and change nothing: bad
JSON, wrong types, unknown fields, huge bodies, deep JSON, bad cursors and
query strings, unknown paths and methods, oversized headers, a slow client,
and the per-token rate limit (429 + Retry-After).  Afterwards the store
(history) and the cluster (Deployments) hold exactly what they held before."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import Server, check, finish  # noqa: E402
from test_endpoints import appstore_start_body  # noqa: E402


def snapshot(s):
    st, _, h = s.request("GET", "/v1/admin/history?limit=500")
    deps = sorted(d["metadata"]["name"] for d in s.cluster_list("deployments"))
    return sorted((i["id"], i["state"], tuple(sorted(i["labels"].items())))
                  for i in h["items"]), deps


def expect(s, method, path, want, needle, body=None, raw=None, headers=None):
    st, hd, r = s.request(method, path, body=body, raw=raw, headers=headers)
    if path.startswith("/system/"):
        msg = r.get("message", "") if isinstance(r, dict) else str(r)
        ok = isinstance(r, dict) and r.get("status") == "error"
    else:
        msg = r["error"]["message"] if isinstance(r, dict) and "error" in r else str(r)
        ok = isinstance(r, dict) and "code" in r.get("error", {})
    check(st == want and ok and needle in msg, "%s %s -> %d '%s'" % (method, path, want, needle),
          (st, r))


def main():
    with Server(env={"TYCHO_MAX_BODY_BYTES": "4096", "TYCHO_MAX_JSON_DEPTH": "8",
                     "TYCHO_MAX_HEADER_BYTES": "4096", "TYCHO_REQUEST_TIMEOUT_MS": "1500"}) as s:
        st, _, a = s.request("POST", "/v1/sessions", {"app": "web", "username": "alice",
                                                      "labels": {"k": "v"}})
        sid = a["id"]
        s.wait_state(sid, ["running"])
        before = snapshot(s)

        # ---- bodies
        expect(s, "POST", "/v1/sessions", 400, "invalid JSON body at line 1", raw="{\"app\": ")
        expect(s, "POST", "/v1/sessions", 400, "invalid JSON", raw="{\"app\":\"web\",}")
        expect(s, "POST", "/v1/sessions", 400, "must be an object, got an array", raw="[1]")
        expect(s, "POST", "/v1/sessions", 400, "a JSON object body is required", raw="")
        expect(s, "POST", "/v1/sessions", 400, "duplicate",
               raw='{"app":"web","app":"web","username":"x"}')
        expect(s, "POST", "/v1/sessions", 400, "unknown field 'colour'",
               {"app": "web", "username": "x", "colour": "red"})
        expect(s, "POST", "/v1/sessions", 400, "body.app must be a string, got an integer",
               {"app": 7, "username": "x"})
        expect(s, "POST", "/v1/sessions", 400, "body.app is required", {"username": "x"})
        expect(s, "POST", "/v1/sessions", 400, "body.cpu", {"app": "web", "username": "x",
                                                            "cpu": -1})
        expect(s, "POST", "/v1/sessions", 400, "not a Kubernetes quantity",
               {"app": "web", "username": "x", "memory": "lots"})
        expect(s, "POST", "/v1/sessions", 400, "body.labels must be an object of strings",
               {"app": "web", "username": "x", "labels": {"a": 1}})
        expect(s, "POST", "/v1/sessions", 400, "username", {"app": "web", "username": "a b"})
        expect(s, "POST", "/v1/sessions", 400, "Content-Type must be application/json",
               raw='{"app":"web"}', headers={"Content-Type": "text/plain"})
        expect(s, "POST", "/v1/sessions", 413, "over the limit",
               raw='{"app":"' + "w" * 5000 + '"}')
        expect(s, "POST", "/v1/sessions", 400, "nested 9 levels deep (limit 8)",
               raw='{"app":"web","labels":' + "[" * 8 + "]" * 8 + "}")
        expect(s, "POST", "/v1/sessions", 400, "nested",
               raw="[" * 1000 + "]" * 1000)
        expect(s, "PATCH", "/v1/sessions/" + sid, 400, "nothing to change", {})
        expect(s, "PATCH", "/v1/sessions/" + sid, 400, "body.labels.k must be a string or null",
               {"labels": {"k": 5}})
        expect(s, "POST", "/v1/sessions/%s/activity" % sid, 400, "not an RFC 3339 time",
               {"at": "yesterday"})
        expect(s, "POST", "/v1/sessions/%s/activity" % sid, 400, "unknown field 'when'",
               {"when": 1})
        # ---- Tycho endpoints: Tycho-shaped errors with a real status
        body = appstore_start_body("carol")
        body["system"] = "not a dict"
        expect(s, "POST", "/system/start", 400, "body.system must be an object, got a string",
               body)
        body = appstore_start_body("carol")
        body["principal"] = "{not json"
        expect(s, "POST", "/system/start", 400, "body.principal is not valid JSON", body)
        body = appstore_start_body("carol")
        body["system"] = {"version": "3"}
        expect(s, "POST", "/system/start", 400, "compose spec with services", body)
        body = appstore_start_body("carol")
        body["surprise"] = 1
        expect(s, "POST", "/system/start", 400, "unknown field 'surprise'", body)
        body = appstore_start_body("carol")
        body["system"]["services"]["web"]["image"] = 42
        st, _, r = s.request("POST", "/system/start", body)
        check(st == 400 and r["status"] == "error", "start with a bad compose spec", (st, r))
        expect(s, "POST", "/system/status", 400, "body.name must be a string", {"name": 3})
        expect(s, "POST", "/system/delete", 400, "body.name is required", {})
        expect(s, "POST", "/system/modify", 400, "body.tycho-guid is required", {"cpu": 1})
        expect(s, "POST", "/system/start", 400, "invalid JSON", raw="nope")

        # ---- query strings and paths
        expect(s, "GET", "/v1/sessions?cursor=garbage", 400, "cursor")
        expect(s, "GET", "/v1/sessions?cursor=" + "A" * 100, 400, "cursor")
        expect(s, "GET", "/v1/sessions?limit=0", 400, "[1, 500]")
        expect(s, "GET", "/v1/sessions?limit=ten", 400, "'ten'")
        expect(s, "GET", "/v1/sessions?limit=1&limit=2", 400, "given twice")
        expect(s, "GET", "/v1/sessions?state=sleeping", 400, "unknown state 'sleeping'")
        expect(s, "GET", "/v1/sessions?label=nokey", 400, "key=value")
        expect(s, "GET", "/v1/sessions?sort=name", 400, "unknown query parameter 'sort'")
        expect(s, "GET", "/v1/sessions?app=%zz", 400, "escape")
        expect(s, "GET", "/v1/admin/history?from=yesterday", 400, "RFC 3339")
        expect(s, "GET", "/v1/admin/history?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
               400, "after")
        expect(s, "GET", "/v1/admin/stats?step=0", 400, "step")
        expect(s, "GET", "/v1/admin/stats?step=1&from=0", 400, "10000")
        expect(s, "GET", "/v1/nothing", 404, "no such endpoint")
        expect(s, "GET", "/v1/sessions/" + "f" * 32, 404, "no such session")
        expect(s, "PUT", "/v1/sessions", 405, "not allowed")
        expect(s, "GET", "/v1//sessions", 400, "empty path segment")
        st, hd, _ = s.request("DELETE", "/v1/apps")
        check(st == 405 and hd.get("allow") == "GET", "Allow header on 405", hd)

        # ---- oversized headers and a slow client (CivetWeb limits)
        st, _, _ = s.request("GET", "/healthz", headers={"X-Big": "x" * 8000})
        check(st in (400, 413, 431), "oversized header refused", st)
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"app\":")
        c.settimeout(10)
        t0 = time.time()
        try:
            data = c.recv(4096)
        except OSError:
            data = b""
        c.close()
        check(time.time() - t0 < 9, "slow client is cut off", (time.time() - t0, data[:80]))
        st, _, _ = s.request("GET", "/healthz")
        check(st == 200, "server alive after the slow client")

        after = snapshot(s)
        check(after == before, "store and cluster unchanged", (before, after))

    # ---- rate limit per token: 429 with Retry-After, other tokens unaffected
    with Server(env={"TYCHO_RATE_LIMIT_PER_SECOND": "1", "TYCHO_RATE_LIMIT_BURST": "3",
                     "TYCHO_MAX_PER_USER": "1"}) as s:
        # a per-user session limit: the second live session is refused
        st, _, a = s.request("POST", "/v1/sessions", {"app": "web", "username": "zed"})
        check(st == 201, "first session", (st, a))
        st, _, b = s.request("POST", "/v1/sessions", {"app": "web", "username": "zed"})
        check(st == 429 and b["error"]["code"] == "limit", "per-user limit", (st, b))
        st, _, h = s.request("GET", "/v1/sessions?user=zed")
        check(h["total"] == 1, "the refused launch left no session", h)
        t1, t2 = s.token("user", "alice"), s.token("user", "bob")
        codes = [s.request("GET", "/v1/apps", token=t1)[0] for _ in range(5)]
        check(codes[:3] == [200, 200, 200] and 429 in codes[3:], "rate limited", codes)
        st, hd, r = s.request("GET", "/v1/apps", token=t1)
        check(st == 429 and int(hd.get("retry-after", "0")) >= 1 and
              r["error"]["code"] == "limit", "429 body and Retry-After", (st, hd, r))
        st, _, _ = s.request("GET", "/v1/apps", token=t2)
        check(st == 200, "another token is not limited", st)
        st, _, _ = s.request("GET", "/healthz")
        check(st == 200, "public routes are not limited", st)
        time.sleep(1.2)
        st, _, _ = s.request("GET", "/v1/apps", token=t1)
        check(st == 200, "the bucket refills", st)
        st, _, m = s.request("GET", "/metrics")
        check("tycho_http_rate_limited_total " in m and
              "tycho_http_rate_limited_total 0\n" not in m, "rate limits counted")
    finish()


if __name__ == "__main__":
    main()
