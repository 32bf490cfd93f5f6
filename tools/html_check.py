#!/usr/bin/env python3
"""`make html-check`: render a small check's HTML report in headless Chromium and check it.

Runs `iommu-mc check --html` over three scenarios (two violated as expected, one holding),
then, in Debian's Chromium with an empty profile and no network:
- `--dump-dom`: the DOM Chromium built has a row in the index per run, one section and one
  SVG per violation, each with exactly one offending box, and no reference out of the file;
- `--screenshot` of the page's top, the index and the first violation: the PNG exists, is
  the window's size, is not blank, and shows the offending box of the diagram (red pixels).
Needs only python3 and chromium; the PNG is decoded here (zlib), no imaging library.
Exit 0 when every check passes, 1 when one fails, 2 when chromium is missing.
"""

import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "iommu-mc")
SCENARIOS = [
    "scenarios/reserved-iova/get-atomic-v6.toml",
    "scenarios/reserved-iova/two-gets-v6.toml",
    "scenarios/vtd-context-flush/flip-pri-one-domain-v2.toml",
]
# Each scenario names loom and shuttle-pct; the first two are violated under both.
RUNS, VIOLATIONS = 6, 4
# Tall enough to hold the index and the first violation's diagram: a fragment (#v1) is not
# scrolled to reliably in a headless screenshot.
WIDTH, HEIGHT = 1200, 1600
# No connection attempts: this machine has no network, and a profile of its own each time.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]

failures = []
checks = [0]


def check(ok, what):
    checks[0] += 1
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_chromium(exe, tmp, args, url):
    profile = tempfile.mkdtemp(dir=tmp, prefix="profile-")
    out = subprocess.run(
        [exe, *FLAGS, f"--user-data-dir={profile}", *args, url],
        capture_output=True,
        timeout=120,
        cwd=tmp,
    )
    return out


def png_pixels(path):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, head = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = head
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    at = 0
    for _ in range(height):
        f, line = raw[at], bytearray(raw[at + 1 : at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append([tuple(line[x : x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def check_screenshot(path, what):
    check(os.path.isfile(path), f"{what}: the screenshot exists")
    if not os.path.isfile(path):
        return
    width, height, rows = png_pixels(path)
    check((width, height) == (WIDTH, HEIGHT), f"{what}: {width}x{height}, want {WIDTH}x{HEIGHT}")
    pixels = [p for row in rows for p in row]
    ink = sum(1 for p in pixels if min(p) < 200)
    check(ink > len(pixels) // 100, f"{what}: not blank ({ink} of {len(pixels)} pixels not white)")
    red = sum(1 for r, g, b in pixels if r > 200 and g < 90 and b < 90)
    check(red > 500, f"{what}: the first violation's offending access is marked ({red} red pixels)")


def main():
    exe = chromium()
    if exe is None:
        print("html-check: chromium is not installed (Debian: apt-get install chromium)")
        return 2
    tmp = tempfile.mkdtemp(prefix="iommu-mc-html-")
    html = os.path.join(tmp, "report.html")
    out = subprocess.run(
        [BIN, "check", *SCENARIOS, "--reports", os.path.join(tmp, "reports"), "--html", html],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    check(out.returncode == 0, f"check --html exits 0 (got {out.returncode}) {out.stderr.strip()}")
    if not os.path.isfile(html):
        check(False, "the HTML report is written")
        return 1
    url = "file://" + html

    dom = run_chromium(exe, tmp, ["--dump-dom"], url).stdout.decode("utf-8", "replace")
    rows = len(re.findall(r'<tr class="run[ "]', dom))
    check(rows == RUNS, f"DOM: {rows} index rows, want {RUNS}")
    sections = re.findall(r'<section id="v\d+" class="violation">(.*?)</section>', dom, re.S)
    check(len(sections) == VIOLATIONS, f"DOM: {len(sections)} violation sections, want {VIOLATIONS}")
    svgs = [len(re.findall(r"<svg\b", s)) for s in sections]
    check(svgs == [1] * VIOLATIONS, f"DOM: SVGs per violation {svgs}, want one each")
    marked = [len(re.findall(r'<g class="offending">', s)) for s in sections]
    check(marked == [1] * VIOLATIONS, f"DOM: offending boxes per violation {marked}, want one each")
    details = [len(re.findall(r"<details>", s)) for s in sections]
    check(details == [2] * VIOLATIONS, f"DOM: foldable parts per violation {details}, want 2")
    check("get-atomic-v6" in dom and "flip-pri-one-domain-v2" in dom, "DOM: names the scenarios")
    remote = re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", dom)
    check(not remote, f"DOM: no reference out of the file {remote[:3]}")

    size = [f"--window-size={WIDTH},{HEIGHT}"]
    png = os.path.join(tmp, "page.png")
    run_chromium(exe, tmp, [*size, f"--screenshot={png}"], url)
    check_screenshot(png, "screenshot")
    if os.path.isfile(png):
        shutil.copy(png, os.path.join(ROOT, "target", "html-check.png"))

    shutil.rmtree(tmp, ignore_errors=True)
    print("screenshot kept in target/html-check.png")
    print(f"html-check: {checks[0] - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
