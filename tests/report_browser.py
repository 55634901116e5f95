"""Headless-browser harness for HTML reports (Debian's chromium).

`chromium()` finds the browser or installs it (`apt-get install chromium`, as root), and skips the calling test
with the reason only when neither is possible. `render()` loads a page with a fresh, empty profile and no network
side traffic, and returns the DOM after scripts ran (--dump-dom) plus a screenshot.

Snakemake reports (`snakemake --report report.html`, 9.x) are one self-contained page: a React app whose data
sits in `<script id="results">var results = {...}</script>` (one entry per report() output: caption as HTML,
mime type, labels, the file as a base64 data URI) and `<script id="categories">var categories = {...}` (category
-> subcategory -> result paths). The first screen lists categories only; results appear when one navigates, via
the global `app` (app.showCategory, app.setView). `report_data()` reads both objects statically and
`probe_snakemake_report()` drives the app in the browser: it opens every category and displays every image/HTML
result, and records what the page actually showed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio",
)
_INSTALL_ATTEMPTED: dict[str, str] = {}


def _find() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium() -> str:
    """Path of the chromium binary; installs Debian's package if missing; skips (with why) if impossible."""
    path = _find()
    if path:
        return path
    if "reason" not in _INSTALL_ATTEMPTED:
        _INSTALL_ATTEMPTED["reason"] = _install()
    path = _find()
    if path:
        return path
    pytest.skip(f"chromium is not installed and could not be installed: {_INSTALL_ATTEMPTED['reason']}")


def _install() -> str:
    if shutil.which("apt-get") is None:
        return "no apt-get on this system (not Debian-like)"
    if os.geteuid() != 0:
        return "apt-get needs root and this test does not run as root"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "-o", "DPkg::Lock::Timeout=600", "chromium"]):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(cmd)} failed: {exc}"
        if done.returncode != 0:
            return f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-500:]}"
    return "apt-get reported success but no chromium binary appeared"


@dataclass
class Rendered:
    dom: str
    screenshot: Path

    def text(self) -> str:
        """The DOM's visible-ish text: scripts, styles and tags removed, whitespace collapsed."""
        body = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", self.dom, flags=re.S | re.I)
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()


def _run(html: Path, extra: list[str], timeout: int) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="e3d-chromium-profile-") as profile:
        cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, html.resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"chromium exited {done.returncode} on {html}: {done.stderr.decode(errors='replace')[-2000:]}")
    return done


def render(html: str | Path, out_dir: str | Path, *, width: int = 1280, height: int = 900,
           budget_ms: int = 5000, timeout: int = 180) -> Rendered:
    """Load `html` headless; return the DOM after scripts ran for `budget_ms` of virtual time and a screenshot."""
    html, out_dir = Path(html), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / f"{html.stem}.png"
    # one browser run does both: chromium writes the screenshot and prints the DOM of the same page state
    flags = [f"--window-size={width},{height}", f"--virtual-time-budget={budget_ms}", "--dump-dom",
             f"--screenshot={shot}"]
    dom = _run(html, flags, timeout).stdout.decode("utf-8", errors="replace")
    if "<html" not in dom.lower():
        raise AssertionError(f"chromium printed no DOM for {html}")
    if not shot.is_file() or shot.stat().st_size == 0:
        raise AssertionError(f"chromium wrote no screenshot for {html}")
    return Rendered(dom=dom, screenshot=shot)


def _script_json(html: str, element_id: str, variable: str) -> dict:
    match = re.search(
        rf'<script id="{element_id}">\s*var {variable} = (.*?);\s*</script>', html, flags=re.S
    )
    if not match:
        raise AssertionError(f"no <script id={element_id!r}> with `var {variable} = ...` in the report")
    return json.loads(match.group(1))


def report_data(report_html: str | Path) -> tuple[dict, dict]:
    """(results, categories) embedded in a self-contained snakemake HTML report."""
    html = Path(report_html).read_text(encoding="utf-8")
    return _script_json(html, "results", "results"), _script_json(html, "categories", "categories")


# Runs inside the report page after the app mounted: visit every category, then display every image/HTML
# result, and write what was on the page into <pre id="e3d-probe"> as JSON.
_PROBE_JS = r"""
<script>
window.addEventListener("load", function () {
  const probe = {categories: {}, shown: {}, errors: []};
  window.addEventListener("error", function (ev) { probe.errors.push(String(ev.message)); });
  const steps = [];
  Object.keys(categories).forEach(function (cat) {
    // back to the menu first: the results list keeps its first category's rows if switched directly
    steps.push(function () { app.setView({navbarMode: "menu"}); });
    steps.push(function () { app.showCategory(cat); });
    steps.push(function () {
      probe.categories[cat] = document.querySelector("nav") ? document.querySelector("nav").innerText : "";
    });
  });
  Object.keys(results).forEach(function (path) {
    const entry = results[path];
    const kind = entry.mime_type.startsWith("image/") ? "img" : (entry.mime_type === "text/html" ? "html" : null);
    if (!kind) { return; }
    steps.push(function () { app.setView({content: kind, contentPath: entry.data_uri, resultPath: path}); });
    steps.push(function () {
      const tag = kind === "img" ? "img" : "iframe";
      const el = Array.from(document.querySelectorAll(tag)).find(function (n) { return n.getAttribute("src") === entry.data_uri; });
      probe.shown[path] = {kind: kind, present: !!el,
                           width: el && kind === "img" ? el.naturalWidth : null,
                           height: el && kind === "img" ? el.naturalHeight : null};
    });
  });
  function next(i) {
    if (i >= steps.length) {
      const pre = document.createElement("pre");
      pre.id = "e3d-probe";
      pre.textContent = JSON.stringify(probe);
      document.body.appendChild(pre);
      return;
    }
    try { steps[i](); } catch (err) { probe.errors.push(String(err)); }
    setTimeout(function () { next(i + 1); }, 200);
  }
  setTimeout(function () { next(0); }, 500);
});
</script>
"""


def probe_snakemake_report(report_html: str | Path, out_dir: str | Path, budget_ms: int = 30000) -> tuple[dict, Rendered]:
    """Drive a copy of the report in the browser; return (probe, rendered). probe: `categories` (category ->
    navigation text shown), `shown` (result path -> {kind, present, width, height} for images and HTML results),
    `errors` (script errors on the page)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = Path(report_html).read_text(encoding="utf-8")
    if "</body>" not in html:
        raise AssertionError(f"{report_html}: no </body> in the report")
    probed = out_dir / f"{Path(report_html).stem}.probe.html"
    head, tail = html.rsplit("</body>", 1)
    probed.write_text(head + _PROBE_JS + "</body>" + tail, encoding="utf-8")
    rendered = render(probed, out_dir, budget_ms=budget_ms)
    match = re.search(r'<pre id="e3d-probe">(.*?)</pre>', rendered.dom, flags=re.S)
    if not match:
        raise AssertionError(f"the probe did not finish within {budget_ms} ms of virtual time")
    import html as html_lib

    return json.loads(html_lib.unescape(match.group(1))), rendered
