"""Progress streams are bounded: each Server-Sent Events stream holds one of
the server's worker threads, so with `threads: 4` at most three are open at
once.  The fourth gets 503 with Retry-After and a message saying what to do,
ordinary requests are still answered while three streams are open, and a
slot is free again once a stream ends.  The streams carry their pods'
Kubernetes Events from the server's one shared Event watch: open streams
make no Kubernetes calls of their own."""
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


def kube_calls(s):
    st, _, m = s.request("GET", "/metrics")
    for line in m.splitlines():
        if line.startswith("tycho_kube_api_calls_total "):
            return float(line.split()[1])
    check(False, "tycho_kube_api_calls_total in /metrics", m[-2000:])
    return 0.0


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

        # What the server calls on its own (reconciler, culler) while nobody watches...
        time.sleep(1.0)
        c0 = kube_calls(s)
        time.sleep(3.0)
        idle_calls = kube_calls(s) - c0

        streams = []
        for sid in ids[:3]:
            c, r = open_stream(s, sid, admin)
            check(r.status == 200, "stream opens", str(r.status))
            check(any("tycho progress stream" in x for x in read_until(r, "tycho progress")),
                  "stream greeting")
            streams.append((c, r))
        # Each stream tells its pod's Events (the image cannot be pulled).
        st, _, sess = s.request("GET", "/v1/sessions/" + ids[0], token=admin)
        lines = read_until(streams[0][1], "event: kubernetes")
        data = read_until(streams[0][1], "data:", limit=3)
        check(any("event: kubernetes" in x for x in lines) and
              any(sess["system_name"] + "-" in x for x in data),
              "the stream carries its pod's Kubernetes Events", "".join(lines + data)[-1500:])

        # ... and with three streams open for as long: no more than that.
        c0 = kube_calls(s)
        time.sleep(3.0)
        stream_calls = kube_calls(s) - c0
        # (Listing pods and their Events per stream once a second would add 18;
        # the margin absorbs a reconciler resync falling in one window only.)
        check(stream_calls <= idle_calls + 9,
              "open streams make no Kubernetes calls of their own",
              "%d calls in 3 s with 3 streams, %d without" % (stream_calls, idle_calls))

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
