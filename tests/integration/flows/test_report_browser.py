"""The daily report in a real browser: Debian's headless Chromium renders it, the screenshot shows
the charts (decoded here with zlib and struct), and the console stays silent."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.integration.flows.flows_world import END, TZ
from touchpulse.flows.daily import daily_report
from touchpulse.report import svg

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                                          "(apt-get install chromium; `make install` does it)")]
WIDTH, HEIGHT = 1280, 2400
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]\s*(.*)")


def render(page: Path, tmp: Path) -> tuple[bytes, list[str]]:
    """Screenshot the page; return the PNG and every console message (the page has no scripts,
    so any message at all, an uncaught error above all, is a failure)."""
    shot = tmp / "screenshot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
           "--force-color-profile=srgb", "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: nothing to fetch
           f"--user-data-dir={tmp / 'profile'}", f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}",
           "--enable-logging=stderr", "--v=0", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    console = [m.group(1) for line in proc.stderr.splitlines() if (m := CONSOLE.search(line))]
    console += [line for line in proc.stderr.splitlines() if "Uncaught" in line and not CONSOLE.search(line)]
    return shot.read_bytes(), console


def decode_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, rows) of an 8-bit non-interlaced RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, head = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = head
    assert depth == 8 and ctype in (2, 6) and not interlace, head
    bpp = 3 if ctype == 2 else 4
    stride = w * bpp
    raw = zlib.decompress(b"".join(idat))
    low7, high1 = int.from_bytes(b"\x7f" * stride, "big"), int.from_bytes(b"\x80" * stride, "big")
    prev, rows = bytes(stride), []
    for y in range(h):
        kind, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)]
        if kind == 0:
            cur = line
        elif kind == 2:  # Up: a byte-wise sum without carries, on big integers
            a, b = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
            cur = (((a & low7) + (b & low7)) ^ ((a ^ b) & high1)).to_bytes(stride, "big")
        else:
            c = bytearray(line)
            if kind == 1:
                for i in range(bpp, stride):
                    c[i] = (c[i] + c[i - bpp]) & 255
            elif kind == 3:
                for i in range(stride):
                    c[i] = (c[i] + (((c[i - bpp] if i >= bpp else 0) + prev[i]) >> 1)) & 255
            elif kind == 4:
                for i in range(bpp):
                    c[i] = (c[i] + prev[i]) & 255
                for i in range(bpp, stride):
                    a, b, d = c[i - bpp], prev[i], prev[i - bpp]
                    pa, pb, pc = abs(b - d), abs(a - d), abs(a + b - d - d)
                    c[i] = (c[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else d)) & 255
            else:
                raise AssertionError(f"bad PNG filter {kind}")
            cur = bytes(c)
        rows.append(cur)
        prev = cur
    return w, h, bpp, rows


def rgb(hex_colour: str) -> bytes:
    return bytes.fromhex(hex_colour.lstrip("#"))


@pytest.fixture(scope="module")
def report(flows_db, flow_settings, tmp_path_factory) -> Path:
    # 07:00 the next morning, as scheduled: the default day is the previous business day
    now = datetime.combine(END + timedelta(days=1), time(7), ZoneInfo(TZ))
    path = daily_report(flows_db, flow_settings, now=now, out_dir=tmp_path_factory.mktemp("report"))
    assert path.name == f"daily-{END}.html"
    return path


def test_console_errors_are_caught(tmp_path):
    """The check below would see a broken page: Chromium reports console output on stderr."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>console.error('deliberate console error');"
                    "null.boom();</script></body></html>", encoding="utf-8")
    _, console = render(page, tmp_path)
    assert any("deliberate console error" in m for m in console)
    assert any("Uncaught TypeError" in m for m in console)


def test_report_renders_its_charts_without_console_errors(report, tmp_path):
    png, console = render(report, tmp_path)
    assert console == []
    w, h, bpp, rows = decode_png(png)
    assert (w, h) == (WIDTH, HEIGHT)
    pixels = Counter()
    stripes: dict[bytes, set[int]] = {}
    for y, row in enumerate(rows):
        for x in range(0, w * bpp, bpp * 2):  # every other pixel is plenty and halves the work
            px = row[x:x + 3]
            pixels[px] += 1
            stripes.setdefault(px, set()).add(y // 200)
    total = sum(pixels.values())
    background = pixels[rgb("#ffffff")] + pixels[rgb("#f4f6f8")]
    assert background < 0.93 * total, "the page is (nearly) blank"
    assert len(pixels) > 300  # text, anti-aliased lines and bands: a rendered page, not a flat fill
    bar, marker = rgb(svg.BAR), rgb(svg.MARKER)
    band = bytes(round(255 + 0.25 * (c - 255)) for c in rgb(svg.BAR))  # the margin band: 25 % bar on white
    assert pixels[bar] > 3000 and pixels[marker] > 100 and pixels[band] > 500, \
        (pixels[bar], pixels[marker], pixels[band])
    # the bar colour shows in many separate places down the page: every panel drew its chart
    assert len(stripes[bar]) >= 5, sorted(stripes[bar])
    shutil.copy(tmp_path / "screenshot.png", report.with_suffix(".png"))  # kept next to the report for a look
