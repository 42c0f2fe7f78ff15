"""Drives every endpoint of a real `tycho api` over HTTP, against the
simulated cluster it starts in-process (no cluster configured): health,
metrics, OpenAPI and docs, apps, the /v1 session lifecycle (launch, list with
filters and pages, get, modify, activity, events, progress stream to `ready`
and to `failed`, stop), admin history and statistics, registry status and
reload, and Tycho's /system endpoints with bodies shaped like HeLx
Appstore's.  Checks the store (through the API) and the cluster (through the
simulator's own REST API) agree with what the server answered."""
import csv
import io
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import Server, check, finish  # noqa: E402


def appstore_start_body(user, name="web", image="example/nginx-unprivileged:1.25"):
    # What appstore's TychoContext.start sends (tycho-reference.md 4.1): a full
    # compose `system`, the principal as a JSON string, env, services.
    return {
        "name": name,
        "serviceaccount": "default",
        "env": {"STDNFS_PVC": "stdnfs", "TAG": "1"},
        "system": {
            "version": "3",
            "services": {
                name: {
                    "image": image,
                    "ports": ["8080:8080"],
                    "deploy": {"resources": {
                        "limits": {"cpus": "1", "memory": "512M", "ephemeralStorage": ""},
                        "reservations": {"cpus": "0.5", "memory": "256M",
                                         "ephemeralStorage": ""}}},
                }
            },
        },
        "principal": json.dumps({"username": user, "access_token": "a" * 64,
                                 "refresh_token": "r", "host": "helx.example.org"}),
        "services": {name: {"port": "8080", "clients": []}},
    }


def main():
    with Server(env={"TYCHO_SSE_KEEPALIVE_MS": "300"}) as s:
        # ---- health, metrics, docs
        st, _, h = s.request("GET", "/healthz")
        check(st == 200 and h["status"] == "ok", "healthz", h)
        check(h.get("cluster") == "simulated", "healthz says simulated", h)
        check("simulated" in s.server_log().lower(), "log says simulated")
        st, _, r = s.request("GET", "/readyz")
        check(st == 200 and r["ready"] is True, "readyz", r)
        for k in ("registry", "database", "cluster"):
            check(r["checks"][k]["ok"] is True, "readyz check " + k, r)
        st, hd, spec = s.request("GET", "/openapi.json")
        check(st == 200 and spec.get("openapi", "").startswith("3."), "openapi.json", str(spec)[:200])
        for p in ("/system/start", "/v1/sessions", "/v1/sessions/{id}/progress",
                  "/v1/admin/stats", "/metrics"):
            check(p in spec.get("paths", {}), "openapi documents " + p)
        st, hd, page = s.request("GET", "/docs")
        check(st == 200 and "text/html" in hd["content-type"], "docs page")
        check("http://" not in page.replace("http://www.w3.org", "") and "https://" not in page,
              "docs page makes no external requests")
        st, hd, _ = s.request("GET", "/")
        check(st == 200 and "text/html" in hd["content-type"], "ui index")

        # ---- apps
        st, _, apps = s.request("GET", "/v1/apps")
        ids = sorted(a["id"] for a in apps["items"])
        check(st == 200 and ids == ["adminonly", "alicesonly", "broken", "web"], "apps (admin)",
              ids)
        web = [a for a in apps["items"] if a["id"] == "web"][0]
        check(web["resources"]["max"]["cpus"] == "1" and web["resources"]["min"]["memory"] ==
              "128M", "app resources from the spec", web)
        check(web["name"] == "Web" and web["docs"] == "https://example.org/web", "app fields", web)
        st, _, apps = s.request("GET", "/v1/apps?user=bob")
        ids = sorted(a["id"] for a in apps["items"])
        check(ids == ["broken", "web"], "apps visible to bob", ids)
        st, _, apps = s.request("GET", "/v1/apps", headers={"X-Tycho-User": "alice"})
        ids = sorted(a["id"] for a in apps["items"])
        check(ids == ["alicesonly", "broken", "web"], "apps visible to alice", ids)
        st, _, a1 = s.request("GET", "/v1/apps/web")
        check(st == 200 and a1["id"] == "web", "app by id")
        st, _, e = s.request("GET", "/v1/apps/nope")
        check(st == 404 and e["error"]["code"] == "not_found", "unknown app 404", e)

        # ---- launch, get, list
        st, hd, sess = s.request("POST", "/v1/sessions",
                                 {"app": "web", "username": "alice", "labels": {"course": "bio1"},
                                  "cpu": 0.5, "memory": "256M"})
        check(st == 201, "launch 201", (st, sess))
        sid = sess["id"]
        check(hd.get("location") == "/v1/sessions/" + sid, "Location header", hd)
        check(sess["user"] == "alice" and sess["app"] == "web", "launch body", sess)
        check(sess["labels"] == {"course": "bio1"}, "labels recorded", sess)
        st, prog = s.sse("/v1/sessions/%s/progress" % sid)
        check(st == 200, "progress stream", prog)
        events = [e for e, _ in prog]
        check(events and events[-1] == "ready", "progress ends in ready", events)
        check("state" in events, "progress carries state changes", events)
        ready = [d for e, d in prog if e == "ready"]
        check(ready and ready[0]["url"] and sid in ready[0]["url"], "ready has the url", ready)
        sess = s.wait_state(sid, ["running"])
        deps = s.cluster_list("deployments")
        check(any(d["metadata"]["labels"].get("tycho-guid") == sid for d in deps),
              "deployment in the cluster")

        st, _, sid2 = s.request("POST", "/v1/sessions", {"app": "web", "username": "bob"})
        sid2 = sid2["id"]
        st, _, sid3 = s.request("POST", "/v1/sessions",
                                {"app": "web", "username": "alice", "labels": {"course": "chem"}})
        sid3 = sid3["id"]
        st, _, lst = s.request("GET", "/v1/sessions")
        check(st == 200 and lst["total"] == 3 and len(lst["items"]) == 3, "list all", lst)
        st, _, lst = s.request("GET", "/v1/sessions?user=alice")
        check(lst["total"] == 2, "list by user", lst)
        st, _, lst = s.request("GET", "/v1/sessions?label=course%3Dbio1")
        check(lst["total"] == 1 and lst["items"][0]["id"] == sid, "label filter", lst)
        st, _, lst = s.request("GET", "/v1/sessions?app=web&state=running,pending,creating")
        check(st == 200 and lst["total"] == 3, "state+app filter", lst)
        st, _, lst = s.request("GET", "/v1/sessions?state=stopped")
        check(lst["total"] == 0, "state filter stopped", lst)
        # keyset pages of one
        seen, cursor = [], None
        for _ in range(5):
            q = "/v1/sessions?limit=1" + ("&cursor=" + cursor if cursor else "")
            st, _, pg = s.request("GET", q)
            check(st == 200 and len(pg["items"]) <= 1, "page", pg)
            seen += [i["id"] for i in pg["items"]]
            cursor = pg["next_cursor"]
            if not cursor:
                break
        check(sorted(seen) == sorted([sid, sid2, sid3]) and len(seen) == 3, "pages cover all",
              seen)

        # ---- modify, activity, events
        st, _, m = s.request("PATCH", "/v1/sessions/" + sid,
                             {"cpu": 1, "memory": "512M", "labels": {"course": None, "x": "y"}})
        check(st == 200 and m["labels"] == {"x": "y"}, "modify labels", (st, m))
        check(m["resources"].get("cpu") == 1.0, "modify cpu", m)
        deps = [d for d in s.cluster_list("deployments")
                if d["metadata"]["labels"].get("tycho-guid") == sid]
        lim = deps[0]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        check(str(lim.get("cpu")) in ("1", "1000m"), "modify reached the cluster", lim)
        st, _, a = s.request("POST", "/v1/sessions/%s/activity" % sid)
        check(st == 200 and a["last_activity_at"], "activity", a)
        st, _, a = s.request("POST", "/v1/sessions/%s/activity" % sid,
                             {"at": "2020-01-01T00:00:00Z"})
        check(st == 200, "activity with a past time (never moves back)", a)
        st, _, ev = s.request("GET", "/v1/sessions/%s/events" % sid)
        tos = [e["to"] for e in ev["items"]]
        check(st == 200 and "running" in tos and tos[0] in ("requested", "creating"),
              "events", tos)

        # ---- failing launch: progress ends in failed with the reason
        st, _, bad = s.request("POST", "/v1/sessions", {"app": "broken", "username": "carol"})
        check(st == 201, "launch broken", bad)
        st, prog = s.sse("/v1/sessions/%s/progress" % bad["id"], timeout=60)
        events = [e for e, _ in prog]
        check(events and events[-1] == "failed", "progress ends in failed", prog)
        check(("#", "keepalive") in prog, "keepalive comments while waiting", prog)
        msgs = [d["message"] for e, d in prog if e == "message"]
        check(any("ImagePull" in m or "ErrImage" in m for m in msgs),
              "the stream says why the launch is slow", msgs)
        kube = [d for e, d in prog if e == "kubernetes"]
        failed = [d for e, d in prog if e == "failed"]
        check(failed and ("Image" in json.dumps(failed) or "image" in json.dumps(failed) or kube),
              "failure names the image problem", prog)

        # ---- stop
        st, _, d = s.request("DELETE", "/v1/sessions/" + sid3)
        check(st in (200, 202) and d["state"] in ("stopping", "stopped"), "delete", (st, d))
        s.wait_state(sid3, ["stopped"])
        time.sleep(0.5)
        deps = s.cluster_list("deployments")
        check(not any(x["metadata"]["labels"].get("tycho-guid") == sid3 for x in deps),
              "deployment gone after stop")
        st, _, d = s.request("DELETE", "/v1/sessions/" + sid3)
        check(st == 200, "stopping twice is fine", (st, d))

        # ---- admin
        st, _, hist = s.request("GET", "/v1/admin/history?state=stopped")
        check(st == 200 and [i["id"] for i in hist["items"]] == [sid3], "history stopped", hist)
        st, _, hist = s.request("GET", "/v1/admin/history?user=alice&from=2020-01-01T00:00:00Z")
        check(hist["total"] == 2, "history by user and from", hist)
        st, _, hist = s.request("GET", "/v1/admin/history?to=2020-01-01T00:00:00Z")
        check(hist["total"] == 0, "history to", hist)
        st, _, stats = s.request(
            "GET", "/v1/admin/stats?step=60&from=%d" % (int(time.time() * 1000) - 3600000))
        check(st == 200 and stats["by_app"].get("web") == 3 and stats["by_user"].get("alice") == 2,
              "stats", stats)
        check(stats["concurrency"]["peak"] >= 3, "concurrency peak", stats["concurrency"])
        check(sum(stats["by_day"].values()) == 4, "stats by day", stats["by_day"])
        # The history as CSV, with the same filters: read back by Python's csv
        # module, the rows are the JSON history's, in its order.
        q = "?user=alice&from=2020-01-01T00:00:00Z"
        st, hd, text = s.request("GET", "/v1/admin/history.csv" + q)
        check(st == 200 and hd["content-type"].startswith("text/csv"), "history.csv", (st, hd))
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        st, _, hist = s.request("GET", "/v1/admin/history" + q)
        check([r["id"] for r in rows] == [i["id"] for i in hist["items"]] and len(rows) == 2,
              "csv rows are the filtered history", text)
        check(all(r["user"] == "alice" and r["app"] == "web" and r["created_at"] for r in rows),
              "csv fields", rows)
        st, _, text = s.request("GET", "/v1/admin/history.csv?state=stopped")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        check([r["id"] for r in rows] == [sid3] and rows[0]["stopped_at"] and
              rows[0]["state"] == "stopped", "csv state filter", text)
        st, _, e = s.request("GET", "/v1/admin/history.csv?limit=10")
        check(st == 400 and "limit" in e["error"]["message"], "csv takes no pages", e)
        # A user name a spreadsheet would run as a formula is exported inert.
        st, _, f = s.request("POST", "/v1/sessions", {"app": "web", "username": "=1+2,3"})
        check(st == 201, "formula-like user launches", (st, f))
        st, _, text = s.request("GET", "/v1/admin/history.csv?user=%3D1%2B2%2C3")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        check(len(rows) == 1 and rows[0]["user"] == "'=1+2,3", "csv neutralises formulas", text)
        s.request("DELETE", "/v1/sessions/" + f["id"])

        # ---- registry
        st, _, reg = s.request("GET", "/v1/registry")
        check(st == 200 and reg.get("context") == "default" and "warnings" in reg, "registry",
              reg)
        st, _, rl = s.request("POST", "/v1/registry/reload")
        check(st == 200 and rl["changed"] is False, "registry reload", rl)

        # ---- Tycho's endpoints, appstore-shaped
        st, _, r = s.request("POST", "/system/start", appstore_start_body("dave"))
        check(st == 200 and r["status"] == "success", "system/start", r)
        res = r["result"]
        check(res["name"].startswith("web-") and res["sid"] in res["name"], "start name", res)
        c = res["containers"]["web"]
        check(c["ip_address"] and c["ip_address"] != "127.0.0.1" and c["port-1"] == 8080,
              "start reports the real service address", c)
        check(r["message"] == "Started system " + res["name"], "start message", r)
        tsid = res["sid"]
        s.wait_state(tsid, ["running"])
        st, _, r = s.request("POST", "/system/status", {"username": "dave"})
        rows = r["result"]
        check(st == 200 and len(rows) == 1 and rows[0]["sid"] == tsid, "status by user", r)
        row = rows[0]
        check(row["is_ready"] is True and row["username"] == "dave", "status row", row)
        check(row["ip_address"] == c["ip_address"] and row["port"] == 8080, "status ip/port", row)
        ct = row["creation_time"]
        check(len(ct) == 19 and ct[2] == "-" and ct[5] == "-" and ct[10] == " ", "padded time", ct)
        check(row["utilization"]["web"].get("cpu") in ("1", 1, "1000m"), "utilization", row)
        check(r["message"] == "Get status for system None", "status message", r)
        st, _, r = s.request("POST", "/system/status", {"name": tsid})
        check(len(r["result"]) == 1 and r["message"] == "Get status for system " + tsid,
              "status by name", r)
        st, _, r = s.request("POST", "/system/status", {})
        check(len(r["result"]) == 3, "status of everything (bob, alice, dave)",
              [x["sid"] for x in r["result"]])
        st, _, r = s.request("POST", "/system/modify",
                             {"tycho-guid": tsid, "labels": {"team": "a"}, "cpu": 0.5,
                              "memory": "512M", "gpu": 0})
        check(st == 200 and r["status"] == "success" and r["message"] == "Modified the system",
              "system/modify", r)
        st, _, g = s.request("GET", "/v1/sessions/" + tsid)
        check(g["labels"].get("team") == "a", "modify labels recorded", g)
        st, _, r = s.request("POST", "/system/delete", {"name": tsid})
        check(st == 200 and r["message"] == "Deleted system " + tsid and r["result"] == {},
              "system/delete", r)
        st, _, r = s.request("POST", "/system/delete", {"name": "0" * 32})
        check(st == 404 and r["status"] == "error" and r["result"]["error"], "delete unknown",
              r)
        st, _, r = s.request("POST", "/system/start", {"name": "x"})
        check(st == 400 and r["status"] == "error" and "principal" in r["message"],
              "start without principal", r)
        st, _, r = s.request("GET", "/system/status")
        check(st == 405, "GET on a Tycho endpoint is 405", r)

        # ---- metrics after all that
        st, hd, m = s.request("GET", "/metrics")
        check(st == 200 and hd["content-type"].startswith("text/plain"), "metrics")
        for name in ("tycho_http_request_duration_seconds_bucket", "tycho_launch_duration_seconds",
                     "tycho_stop_duration_seconds", 'tycho_sessions{state="running"}',
                     "tycho_reconciler_lag_seconds", "tycho_kube_api_errors_total"):
            check(name in m, "metric " + name)
        check('route="/v1/sessions/:id"' in m, "metrics by route pattern")
    finish()


if __name__ == "__main__":
    main()
