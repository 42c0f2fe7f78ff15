"""App icons: GET /v1/apps/{id}/icon and the views' icon_url.

A copy of the test registry gets icons: a PNG for `web` and `alicesonly`, an
SVG named icon.png for `broken` (refused: only PNG, JPEG, GIF and WebP are
served), none for `adminonly`, JPEG/GIF/WebP/oversized/remote icons through
bare-key overrides of extra apps, and an override that removes `icon`.  The
remote icon is served by an http server on 127.0.0.1 and read through the
fetch cache.  Visibility is that of GET /v1/apps/{id}: 404 for an app the
caller may not see."""
import http.client
import http.server
import json
import os
import shutil
import struct
import sys
import tempfile
import threading
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import FAILURES, REGISTRY, Server, check, finish  # noqa: E402


def png(w, h, rgb):
    """A w x h PNG of one colour."""
    rows = b"".join(b"\0" + bytes(rgb) * w for _ in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


WEB_PNG = png(8, 8, (10, 200, 30))
ALICE_PNG = png(4, 4, (200, 10, 30))
REMOTE_PNG = png(2, 2, (1, 2, 3))
SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
       b'<script>alert(1)</script></svg>')
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8 " + b"\x00" * 18
BIG = b"\x89PNG\r\n\x1a\n" + b"\x00" * (1 << 20)

EXTRA = """
      jpeg: {name: JPEG, docs: d, services: {web: "8080"}}
      gif: {name: GIF, docs: d, services: {web: "8080"}}
      webp: {name: WebP, docs: d, services: {web: "8080"}}
      big: {name: Big, docs: d, services: {web: "8080"}}
      remote: {name: Remote, docs: d, services: {web: "8080"}}
      remotegone: {name: Remote gone, docs: d, services: {web: "8080"}}
      noicon: {name: No icon, docs: d, services: {web: "8080"}}
    jpeg: {icon: icons/a.jpg}
    gif: {icon: icons/a.gif}
    webp: {icon: icons/a.webp}
    big: {icon: icons/big.png}
    remote: {icon: "http://127.0.0.1:%(port)d/r.png"}
    remotegone: {icon: "http://127.0.0.1:%(port)d/gone.png"}
    noicon: {icon: null}
"""


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/r.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(REMOTE_PNG)))
            self.end_headers()
            self.wfile.write(REMOTE_PNG)
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


def make_registry(tmp, port):
    reg = os.path.join(tmp, "registry")
    shutil.copytree(REGISTRY, reg)
    specs = os.path.join(reg, "app-specs")
    for app in ("jpeg", "gif", "webp", "big", "remote", "remotegone", "noicon"):
        os.makedirs(os.path.join(specs, app))
        shutil.copy(os.path.join(specs, "web", "docker-compose.yaml"), os.path.join(specs, app))
    files = {
        "app-specs/web/icon.png": WEB_PNG,
        "app-specs/alicesonly/icon.png": ALICE_PNG,
        "app-specs/broken/icon.png": SVG,
        "icons/a.jpg": JPEG,
        "icons/a.gif": GIF,
        "icons/a.webp": WEBP,
        "icons/big.png": BIG,
    }
    for rel, data in files.items():
        path = os.path.join(reg, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    path = os.path.join(reg, "app-registry.yaml")
    with open(path) as f:
        text = f.read()
    # The extra apps go at the end of context `default`'s apps, and its
    # overrides right after them (before context `other`).
    head, sep, tail = text.partition("  other:\n")
    with open(path, "w") as f:
        f.write(head.rstrip("\n") + "\n" + EXTRA % {"port": port} + sep + tail)
    return reg


def get(s, path, token=None, headers=None):
    """(status, headers, body bytes): the body stays binary."""
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    conn.request("GET", path, headers=h)
    r = conn.getresponse()
    body = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, hdrs, body


def message(body):
    try:
        return json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return None


def main():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    tmp = tempfile.mkdtemp(prefix="tyapi-icons-")
    reg = make_registry(tmp, httpd.server_address[1])
    boot = Server(tmp=tmp, registry=reg)
    tok = {
        "alice": boot.token("user", "alice"),
        "bob": boot.token("user", "bob"),
        "admin": boot.token("admin"),
        "platform": boot.token("platform", name="appstore"),
    }
    boot.stop()
    env = {"TYCHO_CACHE_DIR": os.path.join(tmp, "cache")}
    with Server(tmp=tmp, registry=reg, env=env) as s:
        # The views carry icon_url, null only when the entry names no icon.
        st, _, apps = s.request("GET", "/v1/apps", token=tok["admin"])
        urls = {a["id"]: a["icon_url"] for a in apps["items"]}
        check(st == 200 and urls.get("web") == "/v1/apps/web/icon" and
              urls.get("adminonly") == "/v1/apps/adminonly/icon" and
              "noicon" in urls and urls["noicon"] is None, "icon_url in the list", urls)
        st, _, web = s.request("GET", "/v1/apps/web", token=tok["alice"])
        check(st == 200 and web["icon_url"] == "/v1/apps/web/icon", "icon_url in one app", web)

        # A visible app's PNG, byte for byte, cacheable by the browser only.
        st, h, body = get(s, "/v1/apps/web/icon", tok["alice"])
        check(st == 200 and body == WEB_PNG, "alice gets web's icon", "%s %r" % (st, body[:80]))
        check(h.get("content-type") == "image/png", "icon content type", h)
        check(h.get("cache-control") == "private, max-age=300", "icon cache-control", h)
        check("Authorization" in h.get("vary", ""), "icon varies by caller", h)
        check(h.get("x-content-type-options") == "nosniff", "icon nosniff", h)

        # Visibility: alice sees hers; bob and a platform token naming bob do
        # not, exactly like a missing app; the admin sees it.
        st, h, body = get(s, "/v1/apps/alicesonly/icon", tok["alice"])
        check(st == 200 and body == ALICE_PNG, "alice gets her app's icon", st)
        for who, hdr in (("bob", None), ("platform", {"X-Tycho-User": "bob"})):
            st, h, body = get(s, "/v1/apps/alicesonly/icon", tok[who], hdr)
            check(st == 404 and message(body) == "no such app: alicesonly",
                  "%s cannot get alice's app's icon" % who, "%s %r" % (st, body))
            check(h.get("cache-control") == "no-store", "errors are not cached", h)
        st, _, body = get(s, "/v1/apps/adminonly/icon", tok["alice"])
        check(st == 404 and message(body) == "no such app: adminonly",
              "alice cannot see the admin-only app's icon", body)
        st, _, body = get(s, "/v1/apps/alicesonly/icon", tok["admin"])
        check(st == 200 and body == ALICE_PNG, "admin gets alice's app's icon", st)
        st, _, body = get(s, "/v1/apps/nope/icon", tok["alice"])
        check(st == 404 and message(body) == "no such app: nope", "unknown app", body)

        # No icon file, and no icon in the entry.
        st, h, body = get(s, "/v1/apps/adminonly/icon", tok["admin"])
        check(st == 404 and message(body) == "app adminonly has no icon", "missing icon file",
              "%s %r" % (st, body))
        st, _, body = get(s, "/v1/apps/noicon/icon", tok["alice"])
        check(st == 404 and message(body) == "app noicon has no icon", "entry without icon",
              "%s %r" % (st, body))

        # Only raster images are served: an SVG named icon.png is refused.
        st, h, body = get(s, "/v1/apps/broken/icon", tok["alice"])
        msg = message(body) or ""
        check(st == 404 and "not a PNG, JPEG, GIF or WebP image" in msg and
              msg.startswith("app broken has no icon that can be served"),
              "SVG refused", "%s %r" % (st, body))
        check(b"<script>" not in body and "svg" not in h.get("content-type", ""),
              "the SVG is not passed on", h)
        for app, ctype, data in (("jpeg", "image/jpeg", JPEG), ("gif", "image/gif", GIF),
                                 ("webp", "image/webp", WEBP)):
            st, h, body = get(s, "/v1/apps/%s/icon" % app, tok["alice"])
            check(st == 200 and h.get("content-type") == ctype and body == data,
                  "%s served as %s" % (app, ctype), "%s %s" % (st, h.get("content-type")))

        # Over the 1 MiB cap.
        st, _, body = get(s, "/v1/apps/big/icon", tok["alice"])
        msg = message(body) or ""
        check(st == 404 and msg.startswith("app big has no icon that can be served"),
              "oversized icon refused", "%s %r" % (st, body[:200]))

        # An http(s) icon comes through the fetch cache; a remote 404 is no icon.
        st, h, body = get(s, "/v1/apps/remote/icon", tok["alice"])
        check(st == 200 and body == REMOTE_PNG and h.get("content-type") == "image/png",
              "remote icon", "%s %r" % (st, body[:200]))
        st, _, body = get(s, "/v1/apps/remotegone/icon", tok["alice"])
        check(st == 404 and message(body) == "app remotegone has no icon", "remote 404",
              "%s %r" % (st, body))

        # Authentication is required.
        st, h, body = get(s, "/v1/apps/web/icon")
        check(st == 401, "no token: 401", "%s %r" % (st, body))
        st, _, _ = get(s, "/v1/apps/web/icon", "tyt_" + "0" * 64)
        check(st == 401, "bad token: 401", st)
        st, _, _ = s.request("POST", "/v1/apps/web/icon", token=tok["alice"])
        check(st == 405, "POST: 405", st)
    httpd.shutdown()
    httpd.server_close()
    if not FAILURES:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
