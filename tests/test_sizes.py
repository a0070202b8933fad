"""``convcalc sizes`` (SPEC §6): the exact rule of the valid input sizes.

Rules of hand-made networks are written as arithmetic from PyTorch's output-size formulas;
a property test compares the rule with a brute-force walk at every size over several periods
beyond the minimum, for generated networks (``tests/sizes_nets.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from convcalc.errors import ConvcalcError
from convcalc.sizes import analyse
from convcalc.spec import load, parse
from convcalc.walk import walk

from tests.clirun import cli
from tests.sizes_nets import channels, networks, yaml_text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def sizes(text: str, **kw):
    return analyse(parse(text, "net.yaml"), **kw)


def valid_set(s, hi: int) -> set[int]:
    return set(s.in_range(1, hi))


# -- rules of small networks, as arithmetic ----------------------------------------------------

def test_a_valid_conv_needs_the_kernel():
    # floor((n - 3)/1) + 1 >= 1  <=>  n >= 3
    s = sizes("input: [1, 10]\nlayers:\n  - conv: {out: 1, k: 3}\n")
    assert (s.period, s.residues, s.min, s.isolated) == (1, (0,), 3, ())
    assert s.text() == "every n ≥ 3"


@pytest.mark.parametrize("p, drops", [
    (0, lambda n: (n - 3) % 2 != 0),  # the last window ends at 2*floor((n - 3)/2) + 2 < n - 1
    (1, lambda n: False),             # with p = 1 the floor only ever drops padding
])
def test_a_stride_that_does_not_divide_drops_pixels(p, drops):
    s = sizes(f"input: [1, 10]\nlayers:\n  - conv: {{out: 1, k: 3, s: 2, p: {p}}}\n")
    first = 3 - 2 * p
    assert s.min == first and s.period == 1
    assert [n for n in range(first, 60) if s.drops_at(n)] == [
        n for n in range(first, 60) if drops(n)]


def test_unet_is_16m_plus_124_from_188():
    # README, examples/unet.yaml: four levels of (two valid 3×3 convs, 2×2 pool): the bottom
    # is m = (n - 124)/16 and must be >= 4 for the decoder's convs (4 → 8 → 6 → 4 per level)
    s = analyse(load(str(EXAMPLES / "unet.yaml")))
    assert (s.period, s.residues, s.min, s.start, s.first) == (16, (124 % 16,), 16 * 4 + 124,
                                                               124, 4)
    assert s.isolated == ()
    assert s.text() == "n = 16·m + 124, m ≥ 4 (188, 204, 220, …)"
    assert valid_set(s, 1024) == {16 * m + 124 for m in range(4, (1024 - 124) // 16 + 1)}


def test_padded_unet_takes_the_multiples_of_16():
    s = analyse(load(str(EXAMPLES / "unet_padded.yaml")))
    assert (s.period, s.residues, s.min, s.start, s.first) == (16, (0,), 16, 0, 1)
    assert s.text() == "n = 16·m, m ≥ 1 (16, 32, 48, …)"


FPN = """input: [1, 32]
layers:
  - conv: {out: 4, k: 3, s: 2, p: 1}
    name: c1
  - conv: {out: 4, k: 3, s: 2, p: 1}
  - upsample: {scale: 2}
  - add: c1
"""


def test_a_feature_pyramid_that_rounds_up_takes_several_residues():
    # stride-2 3×3 convs with p = 1 give ceil(n/2) and ceil(n/4); the top-down add needs
    # ceil(n/2) = 2*ceil(n/4): n ≡ 0 or 3 (mod 4) — not "multiples of 4"
    s = sizes(FPN)
    assert (s.period, s.residues, s.min, s.isolated) == (4, (0, 3), 3, ())
    assert valid_set(s, 200) == {n for n in range(1, 201) if (n + 1) // 2 == 2 * ((n + 3) // 4)}
    assert s.text() == "n ≡ 0, 3 (mod 4), n ≥ 3"


def test_upsampling_with_align_corners_scales_like_nearest():
    # out = n*scale in every mode (PyTorch's Upsample with an integer scale_factor): the
    # same rule as the nearest-neighbour pyramid above
    s = sizes(FPN.replace("scale: 2}", "scale: 2, mode: linear, align_corners: true}"))
    assert (s.period, s.residues, s.min) == (4, (0, 3), 3)


def test_a_ceil_pool_undone_by_a_transposed_conv_needs_even_sizes():
    # MaxPool k2 s2 ceil: ceil(n/2); ConvTranspose k2 s2: 2*ceil(n/2) = n  <=>  n even
    s = sizes("input: [1, 8, 8]\nlayers:\n  - residual:\n      body:\n"
              "        - maxpool: {k: 2, ceil: true}\n        - deconv: {out: 1, k: 2, s: 2}\n")
    assert (s.period, s.residues, s.min) == (2, (0,), 2)
    assert s.text() == "n = 2·m, m ≥ 1 (2, 4, 6, …)"


def test_branches_at_different_rates_meet_at_isolated_sizes():
    # concat of n//2 (pool) and n - 10 (crop 5): equal only at n = 19 and 20 (and n - 10 >= 1)
    s = sizes("input: [1, 40]\nlayers:\n  - parallel:\n      branches:\n"
              "        - [maxpool: {k: 2}]\n        - [crop: {p: 5}]\n")
    assert s.period is None and s.isolated == tuple(
        n for n in range(1, 200) if n // 2 == n - 10 and n - 10 >= 1) == (19, 20)
    assert s.text() == "19 ≤ n ≤ 20"


def test_branches_that_never_agree_have_no_size():
    # body floor((n - 3)/2) + 1, shortcut floor((n - 1)/2) + 1: always one apart
    s = sizes("input: [1, 16, 16]\nlayers:\n  - residual:\n      body: [conv: {out: 1, k: 3, "
              "s: 2}]\n      shortcut: [conv: {out: 1, k: 1, s: 2}]\n")
    assert (s.period, s.isolated) == (None, ())
    assert s.text() == "none"


HEAD_1D = "input: [1, 8]\nlayers:\n  - maxpool: {k: 2}\n  - flatten\n  - linear: {out: 3}\n"


def test_a_linear_after_flatten_takes_a_band_of_sizes():
    # built for 8: features 1*(8//2) = 4; n//2 = 4  <=>  n in {8, 9}
    s = sizes(HEAD_1D)
    assert s.isolated == (8, 9) and s.period is None and s.reference == (8,)
    assert s.text() == "8 ≤ n ≤ 9"
    # 2-D, every axis n: (n//2)**2 = 4*4
    s = sizes("input: [1, 8, 8]\nlayers:\n  - maxpool: {k: 2}\n  - flatten\n"
              "  - linear: {out: 3}\n")
    assert s.isolated == (8, 9)
    # one axis: H held at 8, 4*(n//2) = 4*3  <=>  n in {6, 7}
    s = sizes("input: [1, 8, 6]\nlayers:\n  - maxpool: {k: 2}\n  - flatten\n"
              "  - linear: {out: 3}\n", axis="W")
    assert s.isolated == (6, 7) and s.axes == ("W",)


def test_global_pooling_frees_the_head():
    s = sizes("input: [1, 8, 8]\nlayers:\n  - conv: {out: 4, k: 3, s: 2}\n  - gap\n"
              "  - flatten\n  - linear: {out: 3}\n")
    assert s.text() == "every n ≥ 3" and s.reference is None


def test_a_symbolic_axis_is_named_by_its_symbol():
    s = sizes("input: [1, T]\nlayers:\n  - conv: {out: 1, k: 5, s: 2}\n", axis="T")
    assert s.axes == ("T",) and s.min == 5


# -- errors ------------------------------------------------------------------------------------

def test_a_symbolic_input_with_size_dependent_weights_needs_a_reference():
    text = "input: [1, H]\nlayers:\n  - maxpool: {k: 2}\n  - flatten\n  - linear: {out: 3}\n"
    with pytest.raises(ConvcalcError) as info:
        sizes(text)
    assert info.value.line() == (
        "net.yaml:5:5: error: linear (2) has weights that depend on the input size, and the "
        "input is symbolic: no size to build them for (hint: give the size they were built "
        "for: --set H=… (or --input))")
    assert sizes(text, sets={"H": 8}).isolated == (8, 9)


def test_errors_are_one_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "net.yaml"
    path.write_text("input: [1, 8, T]\nlayers:\n  - conv: {out: 1, k: 3}\n")
    flat = tmp_path / "flat.yaml"
    flat.write_text("input: [4]\nlayers:\n  - linear: {out: 3}\n")
    cases = {
        ("--range", "5..2"): "error: --range: expected LO..HI with 1 <= LO <= HI, got '5..2' "
                             "(hint: write 1..1024)",
        ("--range", "0..9"): "error: --range: expected LO..HI with 1 <= LO <= HI, got '0..9' "
                             "(hint: write 1..1024)",
        ("--range", "1..2000000"): "error: --range: 2,000,000 sizes, more than 1,000,000 "
                                   "(hint: list a narrower range; the rule covers every "
                                   "size)",
        ("--near", "0"): "error: --near must be a positive size, got 0",
        ("--format", "csv"): "error: --format must be table or json, got 'csv'",
        ("--axis", "W"): "error: --axis W: the input [1, 8, T] has no axis W (its axes: H, T) "
                         "(hint: name one of them, or leave --axis out to vary all)",
    }
    for args, message in cases.items():
        code, out, err = cli(capsys, monkeypatch, "sizes", str(path), *args)
        assert (code, out, err) == (2, "", message + "\n"), args
    code, out, err = cli(capsys, monkeypatch, "sizes", str(flat))
    assert (code, out, err) == (2, "", f"{flat}: error: the input [4] has no spatial axes: "
                                       "sizes are about spatial inputs\n")


def test_one_axis_needs_the_others_as_numbers(tmp_path, capsys, monkeypatch):
    path = tmp_path / "net.yaml"
    path.write_text("input: [1, H, W]\nlayers:\n  - conv: {out: 1, k: 3}\n")
    code, out, err = cli(capsys, monkeypatch, "sizes", str(path), "--axis", "H")
    assert (code, out, err) == (2, "", "error: --axis H: the other axes need sizes, but W is "
                                       "symbolic (hint: give it one: --set W=…)\n")
    code, out, _ = cli(capsys, monkeypatch, "sizes", str(path), "--axis", "H", "--set", "W=9",
                       "--format", "json")
    assert code == 0 and json.loads(out)["min"] == 3


# -- the command ---------------------------------------------------------------------------------

def test_unet_json(capsys, monkeypatch):
    code, out, _ = cli(capsys, monkeypatch, "sizes", str(EXAMPLES / "unet.yaml"), "--near",
                       "224", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["schema"] == "convcalc.sizes/1"
    assert (data["axis"], data["range"], data["period"], data["min"]) == ("all", [1, 1024],
                                                                        16, 188)
    assert data["valid"] == [16 * m + 124 for m in range(4, 57)]
    assert data["drops"] == []  # 16m + 124: every pool halves an even size
    # the output is (n - 184)×(n - 184) (the paper's 572 → 388)
    assert data["near"] == {"n": 224,
                            "below": {"n": 220, "output": [2, 220 - 184, 220 - 184],
                                      "drops": False},
                            "above": {"n": 236, "output": [2, 236 - 184, 236 - 184],
                                      "drops": False}}


def test_unet_table(capsys, monkeypatch):
    code, out, _ = cli(capsys, monkeypatch, "sizes", str(EXAMPLES / "unet.yaml"), "--near",
                       "572", "--range", "180..240")
    assert code == 0
    assert out.splitlines() == [
        "unet: input sizes, every spatial axis (H and W) the same n",
        "rule       n = 16·m + 124, m ≥ 4 (188, 204, 220, …)",
        "valid in 180..240 (4): 188, 204, 220, 236",
        "  no stride drops input pixels at these sizes",
        f"near 572: 572 (valid) → output 2×{572 - 184}×{572 - 184}",
    ]


def test_net_states_the_valid_sizes_instead_of_an_assumption(capsys, monkeypatch):
    code, out, _ = cli(capsys, monkeypatch, "net", str(EXAMPLES / "unet.yaml"))
    assert code == 0
    assert "valid for H = 16·m + 124, m ≥ 4 (188, 204, 220, …)" in out.splitlines()
    assert "valid for W = 16·m + 124, m ≥ 4 (188, 204, 220, …)" in out.splitlines()
    assert "assumes" not in out


def test_check_suggests_a_valid_size(capsys, monkeypatch):
    code, out, _ = cli(capsys, monkeypatch, "check", str(EXAMPLES / "unet.yaml"),
                       "--max-macs", "200G")
    assert code == 1
    # 220 = 16*6 + 124 is the valid size nearest 224 (236 = 16*7 + 124 is farther)
    assert out.splitlines()[0].endswith("; bind H and W with --set, e.g. --set H=220")


@pytest.mark.parametrize("declared, code, message", [
    ("16*m + 124, m >= 4", 0, None),
    ("n = 16·m + 124, m ≥ 4", 0, None),
    ("16*m + 140, m >= 3", 0, None),  # the same set: 16*3 + 140 = 188
    ("16*m + 124, m >= 5", 1, "error: input sizes: expected 16*m + 124, m >= 5, got n = "
                              "16*m + 124, m >= 4 (188, 204, 220, ...)"),
    ("32*m", 2, "error: expect.sizes: expected a progression like \"16*m + 124, m >= 4\", got "
                "'32*m' (hint: the valid input sizes as STEP*m + OFFSET, m >= FIRST)"),
])
def test_expect_sizes(tmp_path, capsys, monkeypatch, declared, code, message):
    text = (EXAMPLES / "unet.yaml").read_text() + f'  sizes: "{declared}"\n'
    path = tmp_path / "unet.yaml"
    path.write_text(text)
    got, out, _ = cli(capsys, monkeypatch, "check", str(path))
    assert got == code
    if message:
        line = len(text.splitlines())
        col = text.splitlines()[-1].index('"') + 1
        assert out.splitlines()[0] == f"{path}:{line}:{col}: {message}"


# -- property: the rule equals a brute-force walk at every size -----------------------------

def brute(net, n: int, ref_params) -> bool:
    try:
        report = walk(net, input_override=[2, n, n])
    except ConvcalcError:
        return False
    return ref_params is None or [r.params for r in report.rows] == ref_params


@settings(derandomize=True, max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(networks())
def test_the_rule_equals_brute_force(case):
    items, ref = case
    if channels(items, 2) < 0:
        return
    net = parse(yaml_text(items, ref), "gen.yaml")
    try:
        s = analyse(net)
    except ConvcalcError:
        # only when the weights need the declared size and it does not run
        with pytest.raises(ConvcalcError):
            walk(net)
        return
    ref_params = None
    if items[-1][0] == "head":
        ref_params = [r.params for r in walk(net).rows]
    last = max([s.min or 0, *s.isolated])
    hi = min(last + 3 * s.full_period + 8, 400)
    got = [n for n in range(1, hi + 1) if s.valid(n)]
    assert got == [n for n in range(1, hi + 1) if brute(net, n, ref_params)], yaml_text(items,
                                                                                         ref)


def test_lenet_reads_every_pixel_only_at_32(capsys, monkeypatch):
    # conv 5 gives n - 4; a 2×2 pool drops a row when its input is odd: n - 4, and then
    # (n - 4)//2 - 4 after the second conv, must both be even
    code, out, _ = cli(capsys, monkeypatch, "sizes", str(EXAMPLES / "lenet5.yaml"), "--format",
                       "json")
    data = json.loads(out)
    assert data["valid"] == [32, 33, 34, 35]
    assert data["drops"] == [n for n in data["valid"] if (n - 4) % 2 or ((n - 4) // 2 - 4) % 2]
    assert data["drops"] == [33, 34, 35] and data["reference"] == [32, 32]
    code, out, _ = cli(capsys, monkeypatch, "sizes", str(EXAMPLES / "lenet5.yaml"))
    assert out.splitlines()[4] == ("  every input pixel is read only at: 32; at the others a "
                                   "stride drops some (a floor not exact)")
