"""``--format html`` (issue 11, SPEC §9), read as text: one self-contained file (nothing it
could fetch), every layer path as a ``data-path``, the graph data the page draws equal to the
walk's rows and edges, names that cannot break out of the page, the size budget, ``-o``.
What the page does in a browser is in ``test_browser.py``.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from clirun import cli
from convcalc.diff import diff_reports
from convcalc.render.html import diff_html, graph_data, net_html
from convcalc.spec import load
from convcalc.walk import walk

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def report_of(path, **sets):
    return walk(load(str(path)), sets=sets)


class Page(HTMLParser):
    """The elements of a page: (tag, attributes) in order, and each script's text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.scripts: dict[str | None, str] = {}
        self._script: str | None = None
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.elements.append((tag, a))
        if tag == "script":
            self._in_script, self._script = True, a.get("id")
            self.scripts[self._script] = ""

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[self._script] += data

    def paths(self, tag: str, cls: str | None = None) -> list[str]:
        return [a["data-path"] for t, a in self.elements if t == tag and "data-path" in a
                and (cls is None or cls in a.get("class", "").split())]


@pytest.fixture(scope="module")
def resnet50():
    rep = report_of(EXAMPLES / "resnet50.yaml")
    return rep, net_html(rep)


def test_the_page_fetches_nothing(resnet50):
    """No element that loads anything (link, img, iframe, src=…), no CSS import or url(),
    in-page links only, and a policy that forbids every request."""
    _, text = resnet50
    page = Page(text)
    for tag, attrs in page.elements:
        assert tag not in ("link", "img", "iframe", "object", "embed", "base"), tag
        assert "src" not in attrs, (tag, attrs)
        assert attrs.get("href", "#").startswith("#"), attrs
    assert "@import" not in text and "url(" not in text.replace("url(#", "")
    # the one http URL is the SVG namespace the script names; nothing is loaded from it
    assert set(re.findall(r"https?://[^\s\"'<>)]+", text)) == {"http://www.w3.org/2000/svg"}
    (csp,) = [a["content"] for t, a in page.elements if a.get("http-equiv") ==
              "Content-Security-Policy"]
    assert csp.startswith("default-src 'none';")


def test_resnet50_page_is_under_one_megabyte(resnet50):
    assert len(resnet50[1].encode("utf-8")) < 1_000_000


def test_every_layer_is_a_table_row_with_its_path(resnet50):
    rep, text = resnet50
    page = Page(text)
    assert page.paths("tr") == [r.path for r in rep.rows]
    assert len(rep.rows) == 175  # the walk's rows of ResNet-50 (conv, bn, relu, add, … each)


def test_the_graph_data_is_the_walk(resnet50):
    """The rows, their data-flow edges and their blocks as the page receives them."""
    rep, text = resnet50
    data = json.loads(Page(text).scripts["data-net"])
    assert [r[0] for r in data["rows"]] == [r.path for r in rep.rows]
    assert [r[5] for r in data["rows"]] == [list(r.reads) for r in rep.rows]
    assert [r[3] for r in data["rows"]] == [str(r.output) for r in rep.rows]
    groups = data["groups"]
    for row, r in zip(data["rows"], rep.rows):
        chain, g = [], row[6]
        while g >= 0:
            chain.insert(0, (groups[g][0], groups[g][1]))
            g = groups[g][2]
        assert tuple(chain) == r.ancestors
    for path, what, parent, level, *_ in groups:
        assert level == (0 if parent < 0 else groups[parent][3] + 1)
    # shading: a row's MAC share, exact to 6 places
    conv1 = data["rows"][0]
    assert conv1[4] == round(3 * 49 * 64 * 112 * 112 / rep.totals["macs"], 6)
    assert data["out"] == rep.out == len(rep.rows) - 1


def test_graph_opens_collapsed_to_a_readable_depth():
    """Without --depth: the deepest nesting with at most 48 nodes — ResNet-50's residuals
    collapsed (depth 1), U-Net's double convs collapsed (depth 0); --depth is kept."""
    r50 = report_of(EXAMPLES / "resnet50.yaml")
    unet = report_of(EXAMPLES / "unet.yaml", H=572, W=572)
    assert graph_data(r50, None)["depth"] == 1
    assert graph_data(unet, None)["depth"] == 0
    assert graph_data(r50, 2)["depth"] == 2


HOSTILE = """\
name: "</script><script>alert(1)</script>"
input: [3, 8, 8]
layers:
  - conv: {out: 4, k: 3}
    name: a_b
"""


def test_names_cannot_break_out_of_the_page(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(HOSTILE)
    text = net_html(report_of(path))
    page = Page(text)
    assert [t for t, _ in page.elements].count("script") == 2  # the graph data, the script
    assert text.count("</script>") == 2
    assert "<h1>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</h1>" in text
    data = json.loads(page.scripts["data-net"])
    assert data["rows"][0][0] == "a_b"
    assert data["rows"][0][7][0] == "a_b"  # the hover's first line


def test_symbolic_sizes_keep_the_table_and_say_why_there_are_no_charts():
    rep = report_of(EXAMPLES / "unet.yaml")
    page_text = net_html(rep)
    assert Page(page_text).paths("tr") == [r.path for r in rep.rows]
    assert "The sizes are symbolic: bind them" in page_text
    assert "576*(H - 2)*(W - 2)" in page_text  # enc1.0's MACs: 64·1·9 per output position


def test_charts_have_a_bar_per_layer():
    rep = report_of(EXAMPLES / "vgg16.yaml")
    page = Page(net_html(rep))
    bars = page.paths("rect", "bar")
    # MACs per layer, then the per-top-level-item chart's MAC bars
    assert bars[:len(rep.rows)] == [r.path for r in rep.rows]
    assert page.paths("rect", "bar2")[:len(rep.rows)] == [r.path for r in rep.rows]


def test_diff_page_marks_the_changed_layers(tmp_path):
    old = tmp_path / "old.yaml"
    new = tmp_path / "new.yaml"
    old.write_text("input: [3, 32, 32]\nlayers:\n  - conv: {out: 8, k: 3}\n  - relu\n"
                   "  - conv: {out: 8, k: 3}\n")
    new.write_text("input: [3, 32, 32]\nlayers:\n  - conv: {out: 8, k: 5}\n  - relu\n"
                   "  - conv: {out: 8, k: 3}\n  - relu\n")
    d = diff_reports(report_of(old), report_of(new))
    page = Page(diff_html(d))
    rows = [(a.get("class"), a["data-path"]) for t, a in page.elements
            if t == "tr" and "data-path" in a]
    # conv k 3 → 5 changes its output (30 → 28), so the relu's and the next conv's shapes
    # change too; a relu is added
    assert rows == [("changed", "0"), ("changed", "1"), ("changed", "2"), ("added", "3")]
    old_data = json.loads(page.scripts["data-old"])
    new_data = json.loads(page.scripts["data-new"])
    assert old_data["marks"] == {"0": "changed", "1": "changed", "2": "changed"}
    assert new_data["marks"] == {"0": "changed", "1": "changed", "2": "changed", "3": "added"}


# -- the command line ----------------------------------------------------------------------------

def test_o_writes_the_page_and_nothing_to_stdout(tmp_path, capsys, monkeypatch):
    target = tmp_path / "r.html"
    code, out, err = cli(capsys, monkeypatch, "net", str(EXAMPLES / "lenet5.yaml"),
                         "--format", "html", "-o", str(target))
    assert (code, out, err) == (0, "", "")
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_html_on_stdout_without_o(capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "net", str(EXAMPLES / "lenet5.yaml"), "-f", "html")
    assert code == 0 and out.startswith("<!DOCTYPE html>") and out.endswith("</html>\n")


def test_o_takes_every_other_format(tmp_path, capsys, monkeypatch):
    target = tmp_path / "r.json"
    code, out, err = cli(capsys, monkeypatch, "net", str(EXAMPLES / "lenet5.yaml"),
                         "-f", "json", "-o", str(target))
    assert (code, out) == (0, "")
    assert json.loads(target.read_text())["schema"] == "convcalc.net/1"


def test_o_with_the_table_is_an_error(tmp_path, capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "net", str(EXAMPLES / "lenet5.yaml"),
                         "-o", str(tmp_path / "x"))
    assert (code, out) == (2, "")
    assert err == ("error: -o writes a file in another format than table (hint: add --format "
                   "html (or json, csv, markdown, mermaid, dot))\n")


def test_o_into_a_missing_directory(tmp_path, capsys, monkeypatch):
    target = tmp_path / "no" / "r.html"
    code, out, err = cli(capsys, monkeypatch, "net", str(EXAMPLES / "lenet5.yaml"),
                         "-f", "html", "-o", str(target))
    assert (code, out) == (2, "")
    assert err == f"{target}: error: cannot write: No such file or directory\n"


def test_diff_html(tmp_path, capsys, monkeypatch):
    target = tmp_path / "d.html"
    code, out, err = cli(capsys, monkeypatch, "diff", str(EXAMPLES / "resnet50.yaml"),
                         str(EXAMPLES / "resnext50_32x4d.yaml"), "-f", "html", "-o",
                         str(target))
    assert (code, out, err) == (0, "", "")
    page = Page(target.read_text(encoding="utf-8"))
    assert set(page.scripts) == {"data-old", "data-new", None}


def test_unknown_format_lists_the_new_ones(capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "net", str(EXAMPLES / "lenet5.yaml"), "-f", "svg")
    assert code == 2
    assert err == ("error: --format must be one of table, json, csv, markdown, html, mermaid, "
                   "dot, got 'svg'\n")


# -- memory (memory.analyse's figures) -------------------------------------------------------------

TINY = """\
input: [1, 4, 4]
layers:
  - conv: {out: 2, k: 1}
  - relu
"""


def test_memory_section_and_columns(tmp_path, capsys, monkeypatch):
    """fp32, 4 bytes an element: the input 1·4·4 (held throughout), the conv's output and the
    relu's 2·4·4 each. Live while the conv runs: 16·4 + 32·4 = 192 B; while the relu runs:
    the input, the conv's output it reads and its own, 16·4 + 2·32·4 = 320 B — the peak."""
    path = tmp_path / "t.yaml"
    path.write_text(TINY)
    target = tmp_path / "t.html"
    code, out, err = cli(capsys, monkeypatch, "net", str(path), "-f", "html", "-o", str(target))
    assert (code, out, err) == (0, "", "")
    text = target.read_text(encoding="utf-8")
    rows = re.findall(r'<tr data-path="[^"]*">(.*?)</tr>', text)
    live = [re.findall(r'data-v="(\d+)"', row)[-1] for row in rows]  # the live column
    assert live == [str(16 * 4 + 32 * 4), str(16 * 4 + 2 * 32 * 4)] == ["192", "320"]
    assert '<text class="peak-label"' in text and "peak 320 B at 1</text>" in text
    assert '<div class="k">inference peak</div><div class="v">320 B</div>' in text


def test_training_adds_saved_bytes(tmp_path, capsys, monkeypatch):
    path = tmp_path / "t.yaml"
    path.write_text(TINY)
    code, out, err = cli(capsys, monkeypatch, "net", str(path), "-f", "html", "--training")
    assert code == 0
    heads = re.findall(r"<th>([^<]*)</th>", out.split('class="sortable layers"')[1])
    assert heads[-3:] == ["live", "train MACs", "saved"]
    assert 'class="line2"' in out  # saved bytes along the forward pass
    for label in ("gradients", "optimizer state", "saved activations", "train memory"):
        assert f'<div class="k">{label}</div>' in out
