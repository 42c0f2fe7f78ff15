"""Progress streams are bounded: each Server-Sent Events stream holds one of
the server's worker threads, so with `threads: 4` at most three are open at
once.  The fourth gets 503 with Retry-After and a message saying what to do,
ordinary requests are still answered while three streams are open, and a
slot is free again once a stream ends."""
import http.client
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import Server, check, finish  # noqa: E402


def open_stream(s, sid, token):
    """Opens GET /v1/sessions/{id}/progress; returns (connection, response)."""
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    c.request("GET", "/v1/sessions/%s/progress" % sid,
              headers={"Authorization": "Bearer " + token, "Accept": "text/event-stream"})
    return c, c.getresponse()


def read_until(resp, word, limit=200):
    """Reads stream lines until one contains word; returns the lines read."""
    lines = []
    for _ in range(limit):
        line = resp.readline().decode("utf-8", "replace")
        if not line:
            break
        lines.append(line)
        if word in line:
            break
    return lines


def main():
    # The "broken" app's image cannot be pulled: its sessions stay pending until
    # the start deadline, so their streams stay open that long.
    env = {"TYCHO_THREADS": "4", "TYCHO_START_DEADLINE_MS": "10000"}
    with Server(env=env) as s:
        admin = s.token("admin")
        ids = []
        for i in range(4):
            st, _, body = s.request("POST", "/v1/sessions",
                                    {"app": "broken", "username": "user%d" % i}, token=admin)
            check(st in (200, 201, 202), "launch", "%s %s" % (st, body))
            ids.append(body["id"])

        streams = []
        for sid in ids[:3]:
            c, r = open_stream(s, sid, admin)
            check(r.status == 200, "stream opens", str(r.status))
            check(any("tycho progress stream" in x for x in read_until(r, "tycho progress")),
                  "stream greeting")
            streams.append((c, r))

        st, hd, body = s.request("GET", "/metrics")
        check("tycho_http_streams_open 3" in body, "three streams counted", body[-2000:])
        check("tycho_http_streams_max 3" in body, "three streams at most", body[-2000:])

        c, r = open_stream(s, ids[3], admin)
        text = r.read().decode()
        check(r.status == 503, "a fourth stream is refused", "%s %s" % (r.status, text))
        check(r.getheader("Retry-After") == "2", "Retry-After", str(r.getheaders()))
        check("poll GET /v1/sessions/{id}" in text, "the refusal says what to do", text)
        c.close()

        t0 = time.time()
        st, _, body = s.request("GET", "/v1/sessions/" + ids[3], token=admin)
        check(st == 200 and time.time() - t0 < 2, "ordinary requests still answered",
              "%s after %.1f s" % (st, time.time() - t0))

        # A stream ends when its session does; its slot is then free again.
        c0, r0 = streams.pop(0)
        st, _, _ = s.request("DELETE", "/v1/sessions/" + ids[0], token=admin)
        check(st in (200, 202, 204), "stop the first session", str(st))
        check(any("failed" in x for x in read_until(r0, "event: failed")), "first stream ends")
        c0.close()
        deadline = time.time() + 10
        status = None
        while time.time() < deadline:
            c, r = open_stream(s, ids[3], admin)
            status = r.status
            if status == 200:
                check(any("tycho progress" in x for x in read_until(r, "tycho progress")),
                      "the freed slot serves a new stream")
                c.close()
                break
            r.read()
            c.close()
            time.sleep(0.2)
        check(status == 200, "a slot is free again after a stream ended", str(status))
        for c, _ in streams:
            c.close()


if __name__ == "__main__":
    main()
    finish()
