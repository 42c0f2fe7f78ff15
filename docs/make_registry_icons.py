#!/usr/bin/env python3
"""Draws the bundled registry's app icons (registry/app-specs/<app>/icon.png):
128x128 RGBA PNGs, so that they stay crisp at twice the 64 px the UI shows
at most (a 2x screen).  A rounded square in the app's colour, a darker
geometric shape, and the app's letter drawn as strokes (segments and arcs,
a distance test per sample), every edge 4x4 supersampled.  Python standard
library only (zlib + struct); the output is deterministic.

    python3 docs/make_registry_icons.py [registry/app-specs]

A new bundled app gets an entry in APPS (and its letter in LETTERS)."""
import math
import struct
import sys
import zlib

S = 128          # pixels
K = S / 64       # the shapes below are laid out on a 64-unit square


def arc(cx, cy, r, a0, a1, n=16):
    """Points of an arc (degrees, 0 = east, counter-clockwise, y down)."""
    return [(cx + r * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
             cy - r * math.sin(math.radians(a0 + (a1 - a0) * i / n))) for i in range(n + 1)]


# Letters as polylines on a 20x28 box (y down), stroked 4.6 units wide.
LETTERS = {
    "F": [[(4, 0), (4, 28)], [(4, 2), (19, 2)], [(4, 13.5), (16, 13.5)]],
    "J": [[(9, 2), (19, 2)], [(16, 2), (16, 20)] + arc(9.5, 20, 6.5, 0, -180)[1:]],
    "N": [[(3, 28), (3, 0), (17, 28), (17, 0)]],
    "R": [[(3, 28), (3, 2), (11, 2)] + arc(11, 9, 7, 90, -90)[1:] + [(3, 16)],
          [(10, 16), (18, 28)]],
    "W": [[(1, 0), (5.5, 28), (10, 9), (14.5, 28), (19, 0)]],
}
STROKE = 4.6
# app id -> (letter, background RGB, shape)
APPS = {
    "filebrowser": ("F", (0x2e, 0x7d, 0x32), "folder"),
    "jupyterlab": ("J", (0xe6, 0x5c, 0x00), "ring"),
    "jupyterlab-r": ("R", (0x1f, 0x5f, 0xa8), "ring"),
    "nginx": ("N", (0x00, 0x8a, 0x7a), "hexagon"),
    "rstudio": ("R", (0x6a, 0x3d, 0x9a), "diamond"),
    "webtop": ("W", (0xb0, 0x2a, 0x4a), "screen"),
}


def inside_rounded(x, y, r=12):
    cx = min(max(x, r), 64 - r)
    cy = min(max(y, r), 64 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def in_shape(kind, x, y):
    dx, dy = x - 32, y - 32
    if kind == "ring":
        return 22 <= math.hypot(dx, dy) <= 28
    if kind == "diamond":
        return abs(dx) + abs(dy) <= 27
    if kind == "hexagon":
        a = abs(dx)
        b = abs(dy)
        return b <= 26 and a <= 26 * math.sqrt(3) / 2 and a * 0.5 + b * math.sqrt(3) / 2 <= 26
    if kind == "folder":
        return (8 <= x <= 56 and 16 <= y <= 52) or (8 <= x <= 28 and 11 <= y <= 16)
    if kind == "screen":
        return (6 <= x <= 58 and 9 <= y <= 46) or (26 <= x <= 38 and 46 <= y <= 55) or \
            (18 <= x <= 46 and 52 <= y <= 56)
    raise ValueError(kind)


def segments(ch):
    """The letter's segments in 64-unit coordinates, centred (20x28 box at 22,18)."""
    out = []
    for line in LETTERS[ch]:
        pts = [(22 + x, 18 + y) for x, y in line]
        out += list(zip(pts, pts[1:]))
    return out


def near(segs, x, y, w):
    for (ax, ay), (bx, by) in segs:
        vx, vy = bx - ax, by - ay
        t = ((x - ax) * vx + (y - ay) * vy) / (vx * vx + vy * vy)
        t = min(1.0, max(0.0, t))
        if (ax + t * vx - x) ** 2 + (ay + t * vy - y) ** 2 <= w * w:
            return True
    return False


def pixel(app, segs, x, y):
    letter, bg, shape = APPS[app]
    # 4x4 samples per pixel, in 64-unit coordinates.
    cover = shape_cover = ink = 0
    for sy in range(4):
        for sx in range(4):
            fx, fy = (x + (sx + 0.5) / 4) / K, (y + (sy + 0.5) / 4) / K
            if inside_rounded(fx, fy):
                cover += 1
                if near(segs, fx, fy, STROKE / 2):
                    ink += 1
                elif in_shape(shape, fx, fy):
                    shape_cover += 1
    if not cover:
        return (0, 0, 0, 0)
    dark = tuple(c * 72 // 100 for c in bg)  # the shape: a darker shade
    rgb = tuple(round((b * (cover - shape_cover - ink) + d * shape_cover + 255 * ink) / cover)
                for b, d in zip(bg, dark))
    return rgb + (round(255 * cover / 16),)


def png(app):
    segs = segments(APPS[app][0])
    rows = b"".join(b"\0" + bytes(c for x in range(S) for c in pixel(app, segs, x, y))
                    for y in range(S))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", S, S, 8, 6, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "registry/app-specs"
    for app in APPS:
        with open("%s/%s/icon.png" % (out, app), "wb") as f:
            f.write(png(app))
