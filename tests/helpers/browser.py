"""A real headless Chromium (Debian's ``chromium`` package) for checking HTML pages.

``check_page`` loads the page inside an iframe of a probe page served from the same origin, waits
for it, opens every collapsed ``<details>``, and reads back from the DOM how many images loaded
(``naturalWidth > 0``), how many tables rendered (rows and a non-zero height) and how many
heatmap cells there are; ``screenshot`` saves a PNG of the page as a reader first sees it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROBE = """<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="page" src="{page}" style="width:1300px;height:900px"></iframe>
<script>
const frame = document.getElementById("page");
frame.addEventListener("load", () => {{
  const doc = frame.contentDocument;
  const details = [...doc.querySelectorAll("details")];
  const collapsed = details.filter(d => !d.open).length;
  details.forEach(d => d.open = true);  // collapsed tables count as rendered once opened
  const images = [...doc.images];
  const tables = [...doc.querySelectorAll("table")];
  const done = () => images.every(img => img.complete);
  const report = () => {{
    document.getElementById("result").textContent = "RESULT" + JSON.stringify({{
      images: images.length,
      loaded: images.filter(img => img.naturalWidth > 0).length,
      broken: images.filter(img => img.naturalWidth === 0).map(img => img.alt),
      tables: tables.length,
      rendered: tables.filter(t => t.rows.length > 1 && t.getBoundingClientRect().height > 0).length,
      details: details.length,
      collapsed: collapsed,
      heatmap_cells: doc.querySelectorAll("table.heatmap td[title]").length,
      not_significant: doc.querySelectorAll("table.heatmap td.ns").length,
      captions: tables.filter(t => t.caption && t.caption.textContent.length > 0).length
        + images.filter(img => img.closest("figure")?.querySelector("figcaption")?.textContent.length > 0).length,
    }}) + "END";
  }};
  const wait = () => done() ? report() : setTimeout(wait, 50);
  wait();
}});
</script></body></html>
"""


def chromium() -> str:
    """The Chromium binary; fails with the fix when it is not installed."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("headless Chromium is not installed: `apt-get install -y chromium` (tests/run.sh does it)")
    return binary


def _run(*args: str) -> subprocess.CompletedProcess:
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def check_page(folder: Path, name: str, base_url: str) -> dict:
    """Load ``folder/name`` (served at ``base_url``) in Chromium; counts of images and tables."""
    probe = folder / "_probe.html"
    probe.write_text(PROBE.format(page=name))
    try:
        dom = _run("--virtual-time-budget=20000", "--dump-dom", f"{base_url}/_probe.html").stdout
    finally:
        probe.unlink()
    match = re.search(r"RESULT(.*?)END", dom, re.S)
    assert match, f"the probe page never reported (Chromium's DOM: {dom[:2000]})"
    return json.loads(match.group(1).replace("&quot;", '"'))


def screenshot(url: str, out: Path, width: int = 1300, height: int = 5000) -> Path:
    """A PNG of the page at ``url``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(f"--screenshot={out}", f"--window-size={width},{height}", url)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return out
