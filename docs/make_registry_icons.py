#!/usr/bin/env python3
"""Draws the bundled registry's app icons (registry/app-specs/<app>/icon.png):
64x64 RGBA PNGs, a rounded square in the app's colour, a darker geometric
shape, and the app's letter from a 5x7 bitmap font.  Python standard library
only (zlib + struct); the output is deterministic.

    python3 docs/make_registry_icons.py [registry/app-specs]

A new bundled app gets an entry in APPS (and its letter in FONT)."""
import math
import struct
import sys
import zlib

S = 64
FONT = {  # 5x7, rows top to bottom, '#' = ink
    "F": ["#####", "#....", "#....", "####.", "#....", "#....", "#...."],
    "J": ["..###", "...#.", "...#.", "...#.", "#..#.", "#..#.", ".##.."],
    "N": ["#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#", "#...#"],
    "R": ["####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"],
    "W": ["#...#", "#...#", "#...#", "#.#.#", "#.#.#", "##.##", "#...#"],
}
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
    cx = min(max(x, r), S - r)
    cy = min(max(y, r), S - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def in_shape(kind, x, y):
    dx, dy = x - S / 2, y - S / 2
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


def in_letter(ch, x, y, scale=5):
    w, h = 5 * scale, 7 * scale
    x0, y0 = (S - w) // 2, (S - h) // 2
    if not (x0 <= x < x0 + w and y0 <= y < y0 + h):
        return False
    return FONT[ch][(y - y0) // scale][(x - x0) // scale] == "#"


def pixel(app, x, y):
    letter, bg, shape = APPS[app]
    # 4x4 supersampling of the edges of the square and the shape.
    cover = shape_cover = 0
    for sy in range(4):
        for sx in range(4):
            fx, fy = x + (sx + 0.5) / 4, y + (sy + 0.5) / 4
            if inside_rounded(fx, fy):
                cover += 1
                if in_shape(shape, fx, fy):
                    shape_cover += 1
    if not cover:
        return (0, 0, 0, 0)
    light = tuple(c * 72 // 100 for c in bg)  # the shape: a darker shade
    t = shape_cover / cover
    rgb = tuple(round(b * (1 - t) + l * t) for b, l in zip(bg, light))
    if in_letter(letter, x, y):
        rgb = (255, 255, 255)
    return rgb + (round(255 * cover / 16),)


def png(app):
    rows = b"".join(b"\0" + bytes(c for x in range(S) for c in pixel(app, x, y))
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
