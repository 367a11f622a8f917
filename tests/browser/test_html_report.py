#!/usr/bin/env python3
"""
test_html_report: the HTML report in a real browser (Debian's chromium,
headless).  Not in the default suite (a browser is large and slow to start);
run it with `tests/run.sh --browser` or, after a build,

    LLMBATCH=build/llmbatch python3 tests/browser/test_html_report.py

It runs a job against the mock API (four models, three keys of which one
has a hostile label and one runs out of quota, 429s and 500s, interrupted by
SIGINT and resumed, --html), renders `llmbatch report RESULTS --html`, and
checks in chromium:
  - no console message at all (errors, warnings, failed loads);
  - the rendered DOM holds every chart (svg elements, lines, bars) and the
    hostile label as text, with no <script> element;
  - a 1280x2400 screenshot is a PNG that is not blank: many colours, and
    pixels of the chart colours (bars and lines).
A control page with a deliberate script error proves the console check can
fail.  Set LLMB_KEEP_SHOT=FILE to keep the screenshot.
"""

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import run, tmpdir  # noqa: E402
from report_html_util import (realistic_run, check_page, HOSTILE_LABEL,  # noqa: E402
                              N_SVG)

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


def chromium(page, *extra, timeout=90):
    """Runs headless chromium on a local file; returns (stdout, console lines)."""
    with tempfile.TemporaryDirectory(prefix="llmb-chromium-", dir="/tmp") as prof:
        p = subprocess.run([CHROMIUM] + FLAGS + ["--user-data-dir=" + prof] + list(extra)
                           + ["file://" + os.path.abspath(page)],
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    console = [line for line in p.stderr.splitlines() if ":CONSOLE" in line]
    return p, console


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG: (width, height, rows of bytes, bpp)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError("not a PNG")
    pos, idat, w = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise AssertionError("unexpected PNG format %d/%d/%d" % (depth, ctype, interlace))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif ft == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows, bpp


def colour_counts(path, wanted):
    """Distinct colours (sampled) and the count of pixels near each wanted RGB."""
    w, h, rows, bpp = png_pixels(path)
    seen, hits = set(), {c: 0 for c in wanted}
    for y in range(0, h, 2):
        r = rows[y]
        for x in range(0, w, 2):
            px = tuple(r[x * bpp:x * bpp + 3])
            seen.add(px)
            for c in wanted:
                if all(abs(px[i] - c[i]) <= 6 for i in range(3)):
                    hits[c] += 1
    return w, h, len(seen), hits


def rgb(hexcol):
    return tuple(int(hexcol[i:i + 2], 16) for i in (1, 3, 5))


class BrowserTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.access(CHROMIUM, os.X_OK):
            raise unittest.SkipTest("chromium is not installed (tests/run.sh --browser "
                                    "installs it)")
        cls._tmp = tmpdir()
        cls.d = cls._tmp.name
        cls.res = realistic_run(cls.d)
        cls.page = os.path.join(cls.d, "report.html")
        r = run(["report", cls.res["out"], "--html", cls.page])
        if r.returncode != 0:
            raise AssertionError("report --html failed: %s" % r.stderr)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_console_check_can_fail(self):
        bad = os.path.join(self.d, "control.html")
        with open(bad, "w") as f:
            f.write("<!DOCTYPE html><html><body><p>control</p>"
                    "<script>undefinedFunction();</script></body></html>")
        _, console = chromium(bad, "--dump-dom")
        self.assertTrue(any("undefinedFunction" in c for c in console), console)

    def test_dom_without_console_messages(self):
        self.assertEqual(self.res["second"].returncode, 0, self.res["second"].stderr)
        for page in (self.page, self.res["html"]):
            with self.subTest(page=os.path.basename(page)):
                p, console = chromium(page, "--dump-dom")
                self.assertEqual(console, [])
                dom = p.stdout
                info = check_page(dom)
                self.assertEqual(info.counts.get("svg", 0), N_SVG)
                self.assertGreaterEqual(info.counts.get("polyline", 0), 4)
                self.assertGreaterEqual(info.counts.get("rect", 0), 10)
                self.assertEqual(info.counts.get("script", 0), 0)
                self.assertIn(HOSTILE_LABEL, info.all_text)

    def test_screenshot_shows_the_charts(self):
        shot = os.path.join(self.d, "shot.png")
        p, console = chromium(self.page, "--screenshot=" + shot, "--window-size=1280,2400")
        self.assertTrue(os.path.exists(shot), p.stderr[-2000:])
        self.assertEqual(console, [])
        keep = os.environ.get("LLMB_KEEP_SHOT")
        if keep:
            shutil.copyfile(shot, keep)
        # green = HTTP 200 and ok keys; blue = cost bars and spend line;
        # purple = token bars; cyan = latency histogram
        want = [rgb(c) for c in ("#16a34a", "#2563eb", "#7c3aed", "#0891b2")]
        w, h, ncolours, hits = colour_counts(shot, want)
        self.assertEqual((w, h), (1280, 2400))
        self.assertGreater(ncolours, 50)
        for c, n in hits.items():
            self.assertGreater(n, 200, "too few pixels of colour %s" % (c,))


if __name__ == "__main__":
    unittest.main()
