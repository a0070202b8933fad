"""The pictures in real renderers (issue 11): the HTML reports in headless Chromium, the
Mermaid flowcharts with Mermaid's own library in that browser, the DOT files with Graphviz.

Needs Playwright (``pip install -e '.[browser]'``), a Chromium (the system one:
``apt-get install chromium``; ``CONVCALC_CHROMIUM`` names another), Graphviz's ``dot``, and for
Mermaid a pinned copy of the ``mermaid`` npm package, fetched once with ``npm pack`` into a
cache outside the repository (``CONVCALC_TEST_CACHE``, default ``~/.cache/convcalc-tests``) and
checked against the registry's integrity hash. Without them these tests skip; CI installs
them and requires that none skips (``.ci/run``).

Each page is served from a made-up origin through Playwright's router, which answers the
page's own URL and refuses and records every other request: a report must make none. The
ResNet-50 screenshot is kept in ``tests/output/`` (git-ignored) as a CI artifact.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from convcalc.diff import diff_reports
from convcalc.render import diagram
from convcalc.render.html import diff_html, net_html
from convcalc.spec import load
from convcalc.walk import collapse, walk

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"
OUTPUT = Path(__file__).resolve().parent / "output"
URL = "http://convcalc.invalid/report.html"

MERMAID_VERSION = "11.12.1"
# `npm view mermaid@11.12.1 dist.integrity`
MERMAID_INTEGRITY = ("sha512-UlIZrRariB11TY1RtTgUWp65tphtBv4CSq7vyS2ZZ2TgoMjs2nloq+wFqxiwcxlhHUvs7"
                     "DPGgMjs2aeQxz5h9g==")


def report_of(path, **sets):
    return walk(load(str(path)), sets=sets)


# -- the browser ----------------------------------------------------------------------------------

def _chromium() -> str | None:
    named = os.environ.get("CONVCALC_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    path = _chromium()
    if path is None:
        pytest.skip("no Chromium (apt-get install chromium, or set CONVCALC_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield b
        b.close()


class Opened:
    """A page opened in the browser, with what it asked for and what it complained about."""

    def __init__(self, browser, html: str, width: int = 1400, ready: bool = True) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": width, "height": 1000})
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

        def route(r):
            if r.request.url == URL:
                r.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)
            else:
                self.requests.append(r.request.url)
                r.abort()

        self.page.route("**/*", route)
        start = time.perf_counter()
        self.page.goto(URL)
        if ready:  # the report's script has drawn the graphs and wired the tables
            self.page.wait_for_selector("html[data-ready]", state="attached")
        self.seconds = time.perf_counter() - start

    def paths(self, selector: str) -> list[str]:
        return self.page.eval_on_selector_all(
            selector, "els => els.map(e => e.getAttribute('data-path'))")

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def opened(browser):
    pages = []

    def open_(html: str, **kw) -> Opened:
        o = Opened(browser, html, **kw)
        pages.append(o)
        return o

    yield open_
    for o in pages:
        o.close()


REPORTS = {
    "resnet50": lambda: report_of(EXAMPLES / "resnet50.yaml"),
    "unet-572": lambda: report_of(EXAMPLES / "unet.yaml", H=572, W=572),
    "unet-symbolic": lambda: report_of(EXAMPLES / "unet.yaml"),
    "densenet121": lambda: report_of(EXAMPLES / "densenet121.yaml"),
    "googlenet": lambda: report_of(EXAMPLES / "googlenet.yaml"),
    "deeplabv3_aspp": lambda: report_of(EXAMPLES / "deeplabv3_aspp.yaml"),
}


@pytest.mark.parametrize("name", REPORTS)
def test_report_opens_clean_and_offline(name, opened):
    """No console error or warning, no request beyond the page itself, and every layer path
    on a table row; expanded, on a graph node too."""
    rep = REPORTS[name]()
    o = opened(net_html(rep))
    assert o.errors == [] and o.requests == []
    paths = [r.path for r in rep.rows]
    assert o.paths("table.layers tbody tr") == paths
    o.page.click("#graph button[data-action=expand]")
    assert sorted(o.paths("svg.graph g.node.row")) == sorted(paths)
    assert o.paths("svg.graph g.node.group") == []
    o.page.click("#graph button[data-action=collapse]")
    # collapsed: one node per top-level item (the walk's own collapse), plus input and output
    assert o.page.eval_on_selector_all("svg.graph g.node", "e => e.length") == \
        len(collapse(rep, 0)) + 2
    assert o.errors == [] and o.requests == []


def test_blocks_collapse_and_expand(opened):
    """ResNet-50 opens at depth 1: stage blocks open, their residuals closed. A click on a
    closed residual opens it (its layers appear, its body and shortcut side by side); a click
    on its label closes it again."""
    rep = report_of(EXAMPLES / "resnet50.yaml")
    o = opened(net_html(rep))
    page = o.page
    inside = [r.path for r in rep.rows if r.path.startswith("4.0.")]
    assert len(inside) == 8 + 2 + 1  # body, shortcut, add
    assert page.query_selector('g.node.group[data-path="4.0"]') is not None
    assert not set(inside) & set(o.paths("g.node.row"))
    page.click('g.node.group[data-path="4.0"]')
    assert set(inside) <= set(o.paths("g.node.row"))
    assert page.query_selector('g.node.group[data-path="4.0"]') is None
    # body and shortcut side by side: the shortcut's conv is right of the body's first conv
    x = lambda p: page.eval_on_selector(f'g.node[data-path="{p}"]',
                                        "e => e.getBoundingClientRect().x")
    y = lambda p: page.eval_on_selector(f'g.node[data-path="{p}"]',
                                        "e => e.getBoundingClientRect().y")
    assert x("4.0.shortcut.0") > x("4.0.body.0") and y("4.0.shortcut.0") == y("4.0.body.0")
    assert y("4.0.add") > y("4.0.body.7")  # the merge below both
    page.click('text.toggle[data-frame="4.0"]')
    assert not set(inside) & set(o.paths("g.node.row"))
    assert page.query_selector('g.node.group[data-path="4.0"]') is not None
    assert o.errors == []


def test_edges_carry_shapes_and_skips_go_around(opened):
    """U-Net at 572: each skip (a crop reading an encoder output) is an edge drawn round the
    side, labelled with the encoder's output shape; nested, the outer level's lane is
    further out."""
    rep = report_of(EXAMPLES / "unet.yaml", H=572, W=572)
    o = opened(net_html(rep))
    o.page.click("#graph button[data-action=expand]")
    labels = o.page.eval_on_selector_all("svg.graph text.shape", "e => e.map(t => t.textContent)")
    for r in rep.rows:
        if any(r.index in [s for s in q.reads] for q in rep.rows):
            assert str(r.output) in labels, r.path
    skips = o.page.eval_on_selector_all(
        "svg.graph path.edge.skip",
        "e => e.map(p => p.getBBox()).map(b => [b.x + b.width, b.height])")
    # the 4 skips (enc1 … enc4 to their crops) go round, nested: the longer the skip, the
    # further right its lane
    assert len(skips) == 4
    by_length = sorted(skips, key=lambda s: s[1])
    assert [s[0] for s in by_length] == sorted(s[0] for s in skips)
    # each crop (a side branch, `from: encN`) is drawn beside its level's up-conv, and the
    # concat that merges them below both
    box = lambda p: o.page.eval_on_selector(f'g.node[data-path="{p}"]',
                                            "e => {const b = e.getBoundingClientRect(); "
                                            "return [b.x, b.y];}")
    for up, crop, concat in [("up4", "10", "11"), ("up3", "14", "15"),
                             ("up2", "18", "19"), ("up1", "22", "23")]:
        assert box(crop)[1] == box(up)[1] and box(crop)[0] > box(up)[0]
        assert box(concat)[1] > box(up)[1]
    assert o.errors == []


def test_table_sorts_by_any_column(opened):
    rep = report_of(EXAMPLES / "resnet50.yaml")
    o = opened(net_html(rep))
    page = o.page
    macs = lambda: [int(v) for v in page.eval_on_selector_all(
        "table.layers tbody tr td:nth-child(8)", "e => e.map(td => td.getAttribute('data-v'))")]
    page.click("table.layers thead th:nth-child(8)")  # MACs, descending first
    assert macs() == sorted((r.macs for r in rep.rows), reverse=True)
    page.click("table.layers thead th:nth-child(8)")
    assert macs() == sorted(r.macs for r in rep.rows)
    page.click("table.layers thead th:nth-child(3)")  # op, as text
    ops = page.eval_on_selector_all("table.layers tbody tr td:nth-child(3)",
                                    "e => e.map(td => td.textContent)")
    assert ops == sorted((r.op for r in rep.rows), reverse=True)
    assert sorted(o.paths("table.layers tbody tr")) == sorted(r.path for r in rep.rows)
    assert o.errors == []


def test_hover_shows_the_rows_numbers(opened):
    o = opened(net_html(report_of(EXAMPLES / "resnet50.yaml")))
    o.page.hover('g.node[data-path="conv1"]')
    tip = o.page.inner_text("div.tip")
    assert f"params {3 * 7 * 7 * 64:,}" in tip  # 7×7 conv, 3 → 64, no bias
    assert f"MACs {3 * 7 * 7 * 64 * 112 * 112:,}" in tip
    assert "3×224×224 → 64×112×112" in tip


def test_diff_report(opened):
    old, new = EXAMPLES / "resnet50.yaml", EXAMPLES / "resnext50_32x4d.yaml"
    d = diff_reports(report_of(old), report_of(new))
    o = opened(diff_html(d))
    assert o.errors == [] and o.requests == []
    changed_new = {c.new.path for c in d.changes if c.new is not None}
    marked = o.page.eval_on_selector_all(
        "#graph-new g.node.row.mark-changed, #graph-new g.node.row.mark-added",
        "e => e.map(n => n.getAttribute('data-path'))")
    # blocks holding a change open by themselves: every changed row of the new side is drawn
    assert set(marked) == changed_new


def test_resnet50_screenshot_and_timing(opened):
    """Kept as a CI artifact: tests/output/resnet50.png (and the render times measured)."""
    OUTPUT.mkdir(exist_ok=True)
    lines = []
    for name in ("resnet50", "densenet121"):
        rep = REPORTS[name]()
        html = net_html(rep)
        o = opened(html)
        start = time.perf_counter()
        o.page.click("#graph button[data-action=expand]")
        expand = time.perf_counter() - start
        lines.append(f"{name}: {len(html.encode()):,} bytes, opened in {o.seconds:.3f} s, "
                     f"expanded ({len(rep.rows)} layers) in {expand:.3f} s")
        if name == "resnet50":
            o.page.click("#graph button[data-action=reset]")
            o.page.screenshot(path=str(OUTPUT / "resnet50.png"), full_page=False)
    (OUTPUT / "render_times.txt").write_text("\n".join(lines) + "\n")
    assert (OUTPUT / "resnet50.png").stat().st_size > 10_000


# -- Mermaid, with Mermaid's own library ------------------------------------------------------------

@pytest.fixture(scope="module")
def mermaid_js() -> str:
    cache = Path(os.environ.get("CONVCALC_TEST_CACHE",
                                Path.home() / ".cache" / "convcalc-tests"))
    tgz = cache / f"mermaid-{MERMAID_VERSION}.tgz"
    if not tgz.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is needed to fetch mermaid (apt-get install npm)")
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "pack", f"mermaid@{MERMAID_VERSION}", "--pack-destination",
                        str(cache)], check=True, capture_output=True, timeout=300)
    digest = base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
    assert f"sha512-{digest}" == MERMAID_INTEGRITY, f"{tgz} is not mermaid {MERMAID_VERSION}"
    with tarfile.open(tgz) as tar:
        return tar.extractfile("package/dist/mermaid.min.js").read().decode("utf-8")


MERMAID_CASES = {
    "golden-residual": lambda: report_of(GOLDEN / "residual.yaml"),
    "golden-skip": lambda: report_of(GOLDEN / "skip.yaml"),
    "resnet50": lambda: report_of(EXAMPLES / "resnet50.yaml"),
    "unet-symbolic": lambda: report_of(EXAMPLES / "unet.yaml"),
    "densenet121": lambda: report_of(EXAMPLES / "densenet121.yaml"),
    "googlenet": lambda: report_of(EXAMPLES / "googlenet.yaml"),
}


@pytest.mark.parametrize("name", MERMAID_CASES)
def test_mermaid_renders_with_mermaid(name, browser, mermaid_js):
    """Mermaid parses and draws the flowchart with GitHub's limits (maxTextSize 50,000,
    maxEdges 500): a node for every row, a cluster for every block and structure."""
    rep = MERMAID_CASES[name]()
    text, depth = diagram.mermaid(rep)
    o = Opened(browser, "<!DOCTYPE html><html><body><div id=x></div></body></html>",
               ready=False)
    try:
        o.page.add_script_tag(content=mermaid_js)
        svg = o.page.evaluate(
            """async (text) => {
                 mermaid.initialize({startOnLoad: false, maxTextSize: 50000, maxEdges: 500});
                 const {svg} = await mermaid.render('d', text);
                 document.getElementById('x').innerHTML = svg;
                 return svg;
               }""", text)
        assert "Syntax error" not in svg
        drawn = rep.rows if depth is None else collapse(rep, depth)
        ids = o.page.eval_on_selector_all("#x g.node", "e => e.map(n => n.id)")
        want = {f"n{r.index}" for r in drawn} | {"in", "out"}
        assert {i.split("-")[1] for i in ids} == want
        clusters = o.page.eval_on_selector_all("#x g.cluster", "e => e.length")
        assert clusters == len({a for r in drawn for a in r.ancestors})
        assert o.errors == [] and o.requests == []
    finally:
        o.close()


# -- Graphviz --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["resnet50", "unet", "densenet121", "googlenet", "tcn"])
@pytest.mark.parametrize("depth", [None, 0])
def test_dot_renders_with_graphviz(name, depth):
    exe = shutil.which("dot")
    if exe is None:
        pytest.skip("Graphviz's dot is missing (apt-get install graphviz)")
    rep = report_of(EXAMPLES / f"{name}.yaml")
    p = subprocess.run([exe, "-Tsvg"], input=diagram.dot(rep, depth), capture_output=True,
                       text=True, timeout=120)
    assert (p.returncode, p.stderr) == (0, "")
    drawn = rep.rows if depth is None else collapse(rep, depth)
    assert p.stdout.count('class="node"') == len(drawn) + 2


# -- themes and print ------------------------------------------------------------------------------

def _background(o) -> str:
    return o.page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_dark_theme_follows_the_system_and_print_is_light(browser):
    html = net_html(report_of(EXAMPLES / "lenet5.yaml"))
    o = Opened(browser, html)
    try:
        o.page.emulate_media(color_scheme="light")
        assert _background(o) == "rgb(255, 255, 255)"
        o.page.emulate_media(color_scheme="dark")
        assert _background(o) == "rgb(13, 17, 23)"  # --bg of the dark theme, #0d1117
        visible = lambda sel: o.page.eval_on_selector(
            sel, "e => getComputedStyle(e).display !== 'none'")
        assert visible(".controls")
        # printed: light whatever the system's theme, no buttons, the graph not cut to a
        # scroll box
        o.page.emulate_media(media="print", color_scheme="dark")
        assert _background(o) == "rgb(255, 255, 255)"
        assert not visible(".controls")
        assert o.page.eval_on_selector(".graph-host", "e => getComputedStyle(e).overflow") == \
            "visible"
        assert o.errors == []
    finally:
        o.close()


def test_memory_chart_marks_the_peak(opened):
    """ResNet-50 in training at batch 32, bf16: the page opens clean, the peak's dot sits on
    the live-bytes line at the layer memory.analyse names, the saved bytes are drawn too."""
    from convcalc.memory import analyse

    rep = walk(load(str(EXAMPLES / "resnet50.yaml")), batch=32)
    mem = analyse(rep, training=True, dtype="bf16")
    o = opened(net_html(rep, None, mem))
    assert o.errors == [] and o.requests == []
    label = o.page.eval_on_selector("#memory text.peak-label", "e => e.textContent")
    assert label.endswith(f"at {rep.rows[mem.peak_row].path}")
    assert o.page.query_selector("#memory polyline.line2") is not None
    assert o.page.eval_on_selector_all("table.layers thead th", "e => e.length") == 12 + 3
