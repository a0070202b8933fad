"""The networks in ``examples/``: each loads, walks, adds up and meets its own ``expect:``;
the ImageNet classifiers reproduce published numbers (REFERENCE.md), each with its source.

An example that is not there yet is skipped with the file's name, never silently passed.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from convcalc.check import check_report
from convcalc.dims import substitute
from convcalc.spec import evaluate, load
from convcalc.walk import walk

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# the examples the project promises (README); each gets the generic tests below
PROMISED = ["vgg16", "alexnet", "resnet50", "mobilenet_v2", "googlenet", "lenet5",
            "resnext50_32x4d", "shufflenet_v1_stage", "deeplabv3_aspp", "unet",
            "dcgan_generator", "c3d", "tcn", "deformable", "separable"]
ALL = sorted(set(PROMISED) | {p.stem for p in EXAMPLES.glob("*.yaml")})


def path_of(name: str) -> str:
    path = EXAMPLES / f"{name}.yaml"
    if not path.exists():
        pytest.skip(f"examples/{name}.yaml does not exist yet")
    return str(path)


@functools.lru_cache(maxsize=None)
def _report(name: str, sets: tuple = ()):
    return walk(load(str(EXAMPLES / f"{name}.yaml")), sets=dict(sets))


def report(name: str, **sets):
    path_of(name)
    return _report(name, tuple(sorted(sets.items())))


def row_named(rep, name: str):
    (row,) = [r for r in rep.rows if r.name == name]
    return row


# -- every example -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_example_walks_and_totals_are_row_sums(name):
    rep = report(name)
    assert rep.rows, name
    for key in ("params", "macs", "flops", "activations"):
        values = [getattr(r, key) for r in rep.rows]
        assert rep.totals[key] == substitute(sum(values), {}), key
    assert rep.output == rep.rows[-1].output


@pytest.mark.parametrize("name", ALL)
def test_example_meets_its_expectations(name):
    rep = report(name)
    findings = check_report(rep)
    assert [f.message for f in findings] == []


@pytest.mark.parametrize("name", ALL)
def test_example_has_a_name_and_comments_citing_a_source(name):
    text = Path(path_of(name)).read_text()
    assert report(name).name
    assert text.lstrip().startswith("#"), "an example opens with where it comes from"


# -- published totals (REFERENCE.md: torchvision's model table) -----------------------------

PUBLISHED = [
    # torchvision model table: num_params; "GFLOPS" = conv + linear MACs, exact value
    # recomputed from the definition (REFERENCE.md)
    ("vgg16", 138_357_544, 15_470_264_320),
    ("alexnet", 61_100_840, 714_188_480),
    ("resnet50", 25_557_032, 4_089_184_256),
    # torchvision model table: num_params only (published GFLOPS 0.301 and 1.498 are rounded)
    ("mobilenet_v2", 3_504_872, None),
    ("googlenet", 6_624_904, None),
]


@pytest.mark.parametrize("name, params, macs", PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_published_params_and_macs(name, params, macs):
    rep = report(name)
    assert rep.input.dims == (3, 224, 224)
    assert rep.output.dims == (1000,)
    assert rep.totals["params"] == params
    if macs is not None:
        assert rep.totals["macs"] == macs


@pytest.mark.parametrize("name, gmacs", [("mobilenet_v2", 0.301), ("googlenet", 1.498)])
def test_published_gflops_rounded(name, gmacs):
    """torchvision's "GFLOPS" column (MACs of conv and linear), published to 3 decimals."""
    assert round(report(name).totals["macs"] / 1e9, 3) == gmacs


# -- published receptive fields (Araujo, Norris & Sim, Distill 2019) --------------------------

@pytest.mark.parametrize("name, layer, size, jump", [
    ("vgg16", "conv3_2", 32, 4),
    ("vgg16", "pool4", 100, 16),
    ("vgg16", "pool5", 212, 32),
    # torchvision's AlexNet, last pool of `features`; same value as TF-Slim alexnet_v2 there
    ("alexnet", "pool5", 195, 32),
])
def test_published_receptive_fields(name, layer, size, jump):
    row = row_named(report(name), layer)
    assert row.rf.size == (size, size)
    assert row.rf.jump == (jump, jump)


def test_vgg16_shapes_at_the_named_layers():
    rep = report("vgg16")
    assert row_named(rep, "pool5").output.dims == (512, 7, 7)
    assert row_named(rep, "conv3_2").output.dims == (256, 56, 56)
    # fc6 is the big one: 25088*4096 + 4096
    assert row_named(rep, "fc6").params == 512 * 7 * 7 * 4096 + 4096


# -- U-Net: the symbolic output formula equals the numeric walk ------------------------------

# Sizes that tile seamlessly (every 2×2 pool sees an even size) are 16m + 124 — the example's
# header, Ronneberger et al. 2015 §2; 572 is the paper's Fig. 1.
UNET_SIZES = [(188, 188), (572, 572), (252, 508), (316, 204)]


@pytest.mark.parametrize("h, w", UNET_SIZES)
def test_unet_symbolic_output_and_totals_equal_the_numeric_walk(h, w):
    symbolic = report("unet")
    numeric = report("unet", H=h, W=w)
    env = {"H": h, "W": w}
    assert tuple(substitute(d, env) for d in symbolic.output.dims) == numeric.output.dims
    assert {k: substitute(v, env) for k, v in symbolic.totals.items()} == numeric.totals
    # the printed assumptions (equal sizes at each skip concat) hold at these sizes; they
    # print in the YAML's expression syntax, so the safe evaluator reads them back
    for assumption in symbolic.assumptions:
        left, right = assumption.split(" = ")
        assert evaluate(left, env, None) == evaluate(right, env, None), assumption


def test_unet_at_the_papers_size():
    """Ronneberger et al. 2015, Fig. 1: 572×572 → 388×388, 2 classes."""
    rep = report("unet", H=572, W=572)
    assert rep.output.dims == (2, 388, 388)
    assert rep.assumptions == ()
