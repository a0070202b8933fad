"""The command line: parse → library call → render → exit status. Nothing else lives here."""

from __future__ import annotations

import gc
import os
import re
import sys
from typing import List, Optional

import typer

from . import __version__
from .errors import ConvcalcError, ExitStatus, Loc, SpecError

app = typer.Typer(
    name="convcalc", add_completion=False, no_args_is_help=True,
    pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Shapes, parameters, MACs/FLOPs and receptive fields of convolutional networks — "
         "exact, framework-free, conventions stated.\n\n"
         "\b\n"
         "  convcalc layer --k 3 --s 2 --p 1 --n 224     one layer\n"
         "  convcalc net examples/vgg16.yaml              a network (YAML or .onnx)\n"
         "  convcalc net FILE --training --batch 64       memory and training cost\n"
         "  convcalc sizes examples/unet.yaml             the valid input sizes\n"
         "  convcalc net FILE --format html -o r.html     a report to look at\n"
         "  convcalc import model.onnx -o model.yaml      a real model as YAML\n"
         "  convcalc export FILE --to torch -o model.py   YAML as PyTorch code\n"
         "  convcalc check examples/*.yaml                CI gate over YAMLs\n"
         "  convcalc ops                                  every op and formula")

INTERNAL_ERROR = 3  # a bug in convcalc, not the user's input

FORMAT_HELP = "table (for people) or json (for machines)"


def _version(value: bool) -> None:
    if value:
        print(f"convcalc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    pass


# -- parsing command-line values ----------------------------------------------------------

_SEP = re.compile(r"[x×,]")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _components(text: str, option: str, hint: str = "write 3, 3x1 or 224x192") -> list[str]:
    parts = [p.strip() for p in _SEP.split(text.strip())]
    if not text.strip() or any(not p for p in parts):
        raise SpecError(f"{option}: cannot read {text!r}", hint=hint)
    return parts


def _within_limit(value, option: str):
    """README "Safety": integers beyond 2**62 are errors, on the command line as in YAML."""
    from .spec import MAX_INT

    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
            raise SpecError(f"{option}: {v} is too large (convcalc takes numbers up to 2**62)")
    return value


def _int_or_list(text: str | None, option: str, hint: str = "write 3 or 3x1"):
    if text is None:
        return None
    parts = _components(text, option, hint)
    values = []
    for p in parts:
        if not re.fullmatch(r"-?\d+", p):
            raise SpecError(f"{option}: {p!r} is not an integer", hint=hint)
        values.append(int(p))
    return _within_limit(values[0] if len(values) == 1 else values, option)


PAD_HINT = "write 1, 1x0, same, valid or full"


def _padding(text: str):
    from .errors import did_you_mean
    from .ops import PAD_MODES

    if re.fullmatch(r"\s*[A-Za-z_]\w*\s*", text):
        word = text.strip()
        if word in PAD_MODES:
            return word
        raise SpecError(f"--p: padding must be a number, per-axis numbers or one of "
                        f"{', '.join(PAD_MODES)}; got {word!r}",
                        hint=did_you_mean(word.lower(), PAD_MODES) or PAD_HINT)
    return _int_or_list(text, "--p", PAD_HINT)


def _sizes(text: str, option: str):
    from .dims import symbol

    sizes = []
    for p in _components(text, option, "write 224, 224x192 or HxW"):
        if re.fullmatch(r"-?\d+", p):
            v = _within_limit(int(p), option)
            if v < 1:
                raise SpecError(f"{option}: sizes must be positive, got {v}")
            sizes.append(v)
        elif _NAME.match(p) and option == "--n":
            sizes.append(symbol(p))
        else:
            raise SpecError(f"{option}: {p!r} is neither a size nor a symbol name"
                            if option == "--n" else f"{option}: {p!r} is not a size",
                            hint="write 224, 224x192 or HxW" if option == "--n" else
                            "write 224 or 224x192")
    return sizes


def _value(text: str, option: str = "--arg"):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if re.fullmatch(r"-?\d+(?:[x×,]-?\d+)*", text):
        return _int_or_list(text, option)
    try:
        return float(text)
    except ValueError:
        return text


DTYPE_HELP = "bytes per element: fp32 (default), fp16, bf16, fp64 or int8 (SPEC §8)."
TRAINING_HELP = "add the training columns: train MACs, saved activations, train memory."
OPTIMIZER_HELP = "optimizer state per parameter: sgd (0), momentum (1), adam (2, default), " \
                 "adamw (2); with --training."


def _memory_options(dtype: str, optimizer: Optional[str], training: bool,
                    needs_training: bool = True) -> dict:
    """--dtype and --optimizer checked, as memory.analyse's keywords."""
    from .errors import did_you_mean
    from .memory import DTYPES, OPTIMIZERS

    if dtype not in DTYPES:
        raise SpecError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}",
                        hint=did_you_mean(dtype.lower(), DTYPES))
    if optimizer is not None:
        if optimizer not in OPTIMIZERS:
            raise SpecError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got "
                            f"{optimizer!r}", hint=did_you_mean(optimizer.lower(), OPTIMIZERS))
        if needs_training and not training:
            raise SpecError("--optimizer needs --training", hint="add --training")
    return {"dtype": dtype, "optimizer": optimizer or "adam"}


def _fail(err: ConvcalcError):
    from .render import error

    error(err)
    raise typer.Exit(ExitStatus.INVALID)


# -- convcalc layer ------------------------------------------------------------------------

@app.command(help="One layer: output size (with the formula), params, MACs, FLOPs and "
                  "receptive field.\n\n"
                  "Examples:\n\n"
                  "  convcalc layer --k 3 --s 2 --p 1 --n 224\n\n"
                  "  convcalc layer --k 3 --p 1 --n 56 --cin 64 --cout 128\n\n"
                  "  convcalc layer -t deconv --k 4 --s 2 --p 1 --n 32 --cin 64 --cout 32\n\n"
                  "  convcalc layer -t maxpool --k 3 --s 2 --ceil --n 112\n\n"
                  "  convcalc layer -t sepconv --k 3 --n 56 --cin 32 --cout 64 --p same\n\n"
                  "  convcalc layer --k 3 --s 2 --p 1 --n HxW    (symbolic: (H - 1)//2 + 1)\n\n"
                  "  convcalc layer --k 3 --n 224 --out 224      (solve: p = 1)")
def layer(
    type_: str = typer.Option("conv", "--type", "-t", help="op name (see `convcalc ops`)."),
    n: Optional[str] = typer.Option(None, "--n", help="input spatial size: 224, 224x192, "
                                    "16x112x112, or symbols H, HxW. Omitted: formula in n."),
    k: Optional[str] = typer.Option(None, "--k", help="kernel size: 3 or 3x1 per axis."),
    s: Optional[str] = typer.Option(None, "--s", help="stride."),
    p: Optional[str] = typer.Option(None, "--p", help="padding: 1, 1x0, same, valid or full."),
    d: Optional[str] = typer.Option(None, "--d", help="dilation."),
    g: Optional[int] = typer.Option(None, "--g", help="groups."),
    op: Optional[str] = typer.Option(None, "--op", help="output_padding (transposed conv)."),
    cin: Optional[int] = typer.Option(None, "--cin", help="input channels."),
    cout: Optional[int] = typer.Option(None, "--cout", help="output channels (out)."),
    ceil: bool = typer.Option(False, "--ceil", help="ceil_mode (pooling)."),
    bias: Optional[bool] = typer.Option(None, "--bias/--no-bias", help="bias (default on)."),
    out: Optional[str] = typer.Option(None, "--out", help="solve: the wanted output size; "
                                      "finds the one missing of p, k, s, d (or op)."),
    arg: List[str] = typer.Option([], "--arg", "-a", help="any other key of the op, "
                                  "KEY=VALUE (e.g. -a mult=2, -a mode=bilinear)."),
    dtype: str = typer.Option("fp32", "--dtype", help=DTYPE_HELP),
    training: bool = typer.Option(False, "--training", help=TRAINING_HELP),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help=OPTIMIZER_HELP),
    format: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    try:
        options = _memory_options(dtype, optimizer, training)
        _layer(type_, n, k, s, p, d, g, op, cin, cout, ceil, bias, out, arg, format,
               options, training)
    except ConvcalcError as err:
        from .ops import INFERRED_KEYS

        if err.key in INFERRED_KEYS:  # -a in_channels=64: on the command line that is --cin
            err.hint = "the input channels are inferred from the input shape: give them " \
                       "with --cin"
        _fail(err)


def _no_cout(opdef) -> SpecError:
    """--cout on an op whose output channels are not a key of their own."""
    if "mult" in opdef.keys:
        return SpecError(f"{opdef.name} takes no --cout: its output channels are cin*mult",
                         hint="set the depth multiplier with -a mult=M")
    if "out" in opdef.keys:  # adaptive pooling: 'out' is the output size
        return SpecError(f"{opdef.name} takes no --cout: it keeps the input channels",
                         hint="its output size is -a out=N")
    return SpecError(f"{opdef.name} takes no --cout: its output channels follow from its "
                     f"input channels", hint="give those with --cin")


def _layer(type_, n, k, s, p, d, g, op, cin, cout, ceil, bias, out, arg, format,
           options=None, training=False):
    from .core import Shape
    from . import ops

    if format not in ("table", "json"):
        raise SpecError(f"--format must be table or json, got {format!r}")
    opdef = ops.resolve(type_)
    raw: dict = {}
    given: dict[str, str] = {}  # canonical key -> the option that gave it, as typed

    def put(key: str, value, option: str) -> None:
        canon = ops.KEY_ALIASES.get(key, key)
        if canon in given:
            raise SpecError(f"{option} conflicts with {given[canon]}: both give {canon}",
                            hint=f"give {canon} once")
        given[canon] = option
        raw[key] = value

    for key, text in (("k", k), ("s", s), ("d", d), ("op", op)):
        value = _int_or_list(text, f"--{key}")
        if value is not None:
            put(key, value, f"--{key} {text}")
    if p is not None:
        put("p", _padding(p), f"--p {p}")
    if g is not None:
        put("g", _within_limit(g, "--g"), f"--g {g}")
    if cout is not None:
        out_key = opdef.keys.get("out")
        if out_key is None or out_key.kind != "count":
            raise _no_cout(opdef)
        put("out", _within_limit(cout, "--cout"), f"--cout {cout}")
    if ceil:
        put("ceil", True, "--ceil")
    if bias is not None:
        put("bias", bias, "--bias" if bias else "--no-bias")
    for item in arg:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise SpecError(f"--arg: expected KEY=VALUE, got {item!r}")
        put(key, _value(text.strip(), f"-a {key}"), f"-a {item}")
    if cin is not None:
        _within_limit(cin, "--cin")
        if cin < 1:
            raise SpecError(f"--cin must be positive, got {cin}")

    # the rank (SPEC §1.1): a ranked op name, else the component count of --n or of any AxB
    # option (all equal), else 2; a plain number broadcasts to every axis
    flat = opdef.ranks == (0,)
    if flat and n is not None:
        raise SpecError(f"{opdef.name} takes a flat input: --n has no meaning for it",
                        hint="give the input features with --cin")
    sizes = _sizes(n, "--n") if n is not None else None
    wanted = _sizes(out, "--out") if out is not None else None
    multi = [(f"--n {n}", len(sizes))] if sizes is not None and len(sizes) > 1 else []
    multi += [(given[ops.KEY_ALIASES.get(key, key)], len(v)) for key, v in raw.items()
              if isinstance(v, list)]
    if wanted is not None and len(wanted) > 1:
        multi.append((f"--out {out}", len(wanted)))
    ranked = ops.RANKED_ALIASES.get(type_)
    if ranked is not None:
        rank = ranked[0]
        for option, count in multi:
            if count != rank:
                fits = f"{type_[:-2]}{count}d"
                raise SpecError(f"-t {type_} is {rank}-D but {option} has {count} axes",
                                hint=(f"use -t {fits}, or " if fits in ops.RANKED_ALIASES
                                      else "use ") + f"-t {opdef.name} for any rank")
    elif multi:
        (first, rank), *others = multi
        for option, count in others:
            if count != rank:
                raise SpecError(f"{first} has {rank} axes but {option} has {count}")
    else:
        rank = 0 if flat else 2
    if sizes is None:
        if out is not None:
            raise SpecError("--out needs --n")
        from .dims import symbol

        sizes = [symbol("n")] if rank else []
    spatial = sizes * rank if len(sizes) == 1 else sizes
    x = Shape(cin, tuple(spatial))

    if wanted is not None:
        from .solve import missing_key, solve
        from . import render

        wanted = tuple(wanted) * (rank if len(wanted) == 1 else 1)
        key = missing_key(opdef.name, set(given))
        sol = solve(type_, x, raw, wanted, key)
        if format == "json":
            print(render.solve_json(sol, opdef.name))
        else:
            for line in render.solution_text(sol):
                print(line)
        return

    from .walk import layer_report
    from . import render

    from .memory import layer_memory

    report = layer_report(type_, x, raw)
    mem = layer_memory(report, training=training, **(options or {}))
    if format == "json":
        print(render.layer_json(report, mem))
    else:
        render.print_layer(report, mem)


NET_FORMATS = ("table", "json", "csv", "markdown", "html", "mermaid", "dot")
OUTPUT_HELP = "write the report to FILE instead of standard output (any format but table)."


def _emit(text: str, output: str | None) -> None:
    """A rendered report to standard output, or to ``-o FILE``."""
    if output is None:
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as err:  # located at the file, as convcalc import's -o
        raise SpecError(f"cannot write: {err.strerror or err}", loc=Loc(output)) from None


@app.command(help="A whole network from YAML: one row per leaf layer (path, op, shapes, "
                  "params, MACs with its share, FLOPs, receptive field), totals, and the "
                  "declared expectations next to the computed values.\n\n"
                  "Examples:\n\n"
                  "  convcalc net examples/vgg16.yaml\n\n"
                  "  convcalc net examples/resnet50.yaml --depth 1 --format markdown\n\n"
                  "  convcalc net examples/unet.yaml --set H=572 --set W=572\n\n"
                  "  convcalc net examples/resnet50.yaml --format html -o resnet50.html\n\n"
                  "  convcalc net examples/resnet50.yaml --format mermaid --depth 1")
def net(
    file: str = typer.Argument(..., help="network YAML (format: README, SPEC §2); - reads "
                               "standard input."),
    input: Optional[str] = typer.Option(None, "--input", help="override the YAML input: "
                                        "3x224x224 (symbols allowed: 3xHxW)."),
    set_: List[str] = typer.Option([], "--set", help="bind a symbol or var: H=224 "
                                   "(repeatable)."),
    batch: int = typer.Option(1, "--batch", help="batch size: multiplies activations, MACs "
                              "and FLOPs, not params (expect: is still compared per "
                              "sample)."),
    depth: Optional[int] = typer.Option(None, "--depth", help="collapse blocks nested deeper "
                                        "than N into one row each (0 = top-level items)."),
    format: str = typer.Option("table", "--format", "-f", help="table, json, csv, "
                               "markdown, html (a self-contained page), mermaid or dot "
                               "(diagrams)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help=OUTPUT_HELP),
    dtype: str = typer.Option("fp32", "--dtype", help=DTYPE_HELP),
    training: bool = typer.Option(False, "--training", help=TRAINING_HELP),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help=OPTIMIZER_HELP),
    fit: Optional[str] = typer.Option(None, "--fit", help="with --training: the largest "
                                      "batch whose train memory fits SIZE (24GiB, 512MB)."),
) -> None:
    try:
        options = _memory_options(dtype, optimizer, training)
        _net(file, input, set_, batch, depth, format, options, training, fit, output)
    except ConvcalcError as err:
        _fail(err)


def parse_sets(items: List[str]) -> dict:
    """``--set NAME=VALUE`` options (net and check) → {name: value}; a name given twice is
    a conflict, not a silent override."""
    sets: dict[str, int] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not _NAME.match(key) or not re.fullmatch(r"\d+", value) or int(value) < 1:
            raise SpecError(f"--set: expected NAME=positive integer, got {item!r}")
        if key in sets:
            raise SpecError(f"--set {key}: given twice ({sets[key]} and {int(value)})",
                            hint="give each name once")
        sets[key] = int(value)
    return sets


def parse_input_option(text: str | None) -> list | None:
    """``--input 3x224x224`` (symbols allowed: ``3xHxW``) → the override list."""
    if text is None:
        return None
    override = [int(p) if re.fullmatch(r"-?\d+", p) else p
                for p in _components(text, "--input")]
    for v in override:
        if isinstance(v, int) and v < 1:
            raise SpecError(f"--input: sizes must be positive, got {v}",
                            hint="write 3x224x224 or 3xHxW")
    return override


def _net(file, input, set_, batch, depth, format, options=None, training=False, fit=None,
         output=None):
    from . import memory, render
    from .spec import load
    from .walk import collapse, walk

    if format not in NET_FORMATS:
        raise SpecError(f"--format must be one of {', '.join(NET_FORMATS)}, got {format!r}")
    if batch < 1:
        raise SpecError(f"--batch must be positive, got {batch}")
    if depth is not None and depth < 0:
        raise SpecError(f"--depth must be 0 or more, got {depth}")
    if output is not None and format == "table":
        raise SpecError("-o writes a file in another format than table",
                        hint="add --format html (or json, csv, markdown, mermaid, dot)")
    options = options or {"dtype": "fp32", "optimizer": "adam"}
    budget = None
    if fit is not None:
        from .check import byte_size

        if not training:
            raise SpecError("--fit needs --training", hint="add --training")
        if batch != 1:
            raise SpecError("--fit finds the batch: it takes no --batch",
                            hint="drop --batch")
        if format not in ("table", "json"):
            raise SpecError(f"--fit prints table or json, got --format {format}")
        budget = byte_size(fit, None, "--fit")
    sets = parse_sets(set_)
    override = parse_input_option(input)
    net = load(file)
    if budget is not None:
        def at(b):
            return walk(net, input_override=override, sets=sets, batch=b)

        answer = memory.fit_batch(at, budget, **options)
        print(render.fit_output(at(1), budget, answer, options, format))
        return
    report = walk(net, input_override=override, sets=sets, batch=batch)
    if format in ("mermaid", "dot"):
        _emit(_picture(report, depth, format), output)
        return
    mem = memory.analyse(report, training=training, **options)
    if format == "html":
        from .render.html import net_html

        _emit(net_html(report, depth, mem), output)
        return
    rows = report.rows if depth is None else collapse(report, depth)
    mem_rows = mem.rows if depth is None else memory.collapse_rows(report, mem, depth)
    if output is not None:
        text = (render.net_json(report, rows, mem, mem_rows) + "\n" if format == "json" else
                render.net_csv(report, rows, mem, mem_rows) if format == "csv" else
                render.net_markdown(report, rows, mem, mem_rows))
        _emit(text, output)
    elif format == "json":
        print(render.net_json(report, rows, mem, mem_rows))
    elif format == "csv":
        sys.stdout.write(render.net_csv(report, rows, mem, mem_rows))
    elif format == "markdown":
        sys.stdout.write(render.net_markdown(report, rows, mem, mem_rows))
    else:
        valid = None
        if report.assumptions:  # symbolic sizes assumed equal: say for which inputs they are
            from .sizes import symbol_rules

            valid = symbol_rules(net, input_override=override, sets=sets)
        render.print_net(report, rows, valid, mem, mem_rows)


def _picture(report, depth, format) -> str:
    """A diagram of ``report`` (``--depth``: blocks collapsed beyond it)."""
    from .render import diagram

    if format == "dot":
        return diagram.dot(report, depth)
    text, note = diagram.mermaid_with_note(report, depth)
    if note is not None:
        print(note, file=sys.stderr)
    return text


@app.command("import", help="A real model → a YAML network (SPEC §7): an ONNX file "
                            "(needs the onnx extra: pip install 'convcalc[onnx]') or a "
                            "PyTorch model package.module:callable traced with torch.fx on a "
                            "zero input of --input (needs the torch extra). Layers are "
                            "named after the model's module paths; residual and parallel "
                            "structures where the graph has them; repeated blocks folded.\n\n"
                            "Examples:\n\n"
                            "  convcalc import model.onnx -o model.yaml\n\n"
                            "  convcalc net model.onnx    (reads the ONNX file directly)\n\n"
                            "  convcalc import tests.torch_models:resnet50 --input 3x224x224")
def import_(
    source: str = typer.Argument(..., help="an ONNX file (model.onnx) or a PyTorch model "
                                 "(package.module:callable)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="write the YAML to "
                                         "this file (default: standard output)."),
    name: Optional[str] = typer.Option(None, "--name", help="the network's name (default: "
                                       "the file's stem, or the callable's name)."),
    input: Optional[str] = typer.Option(None, "--input", help="the input shape, channels "
                                        "first: 3x224x224 (replaces an ONNX model's sizes; "
                                        "required for a PyTorch model)."),
) -> None:
    from .importers import import_source

    try:
        override = parse_input_option(input)
        _emit(import_source(source, name=name, input_shape=override), output)
    except ConvcalcError as err:
        _fail(err)


CHECK_FORMATS = ("text", "github", "json")


@app.command(help="CI gate: load and walk every FILE, verify its expect: section and the "
                  "budgets given here. Prints file:line:col: error: ... per problem and a "
                  "summary; exit 0 all ok, 1 an expectation or budget failed, 2 invalid "
                  "input.\n\n"
                  "Examples:\n\n"
                  "  convcalc check examples/*.yaml\n\n"
                  "  convcalc check model.yaml --max-params 25M --max-macs 4.5G\n\n"
                  "  convcalc check arch/*.yaml --format github    (pull-request annotations)")
def check(
    files: List[str] = typer.Argument(..., help="network YAMLs; - reads one from standard "
                                      "input."),
    max_params: Optional[str] = typer.Option(None, "--max-params", help="budget: 25M, "
                                             "25000000."),
    max_macs: Optional[str] = typer.Option(None, "--max-macs", help="budget: 4.5G."),
    max_flops: Optional[str] = typer.Option(None, "--max-flops", help="budget: 9G."),
    max_memory: Optional[str] = typer.Option(None, "--max-memory", help="budget of the "
                                             "inference peak: 8GiB, 512MB."),
    max_train_memory: Optional[str] = typer.Option(None, "--max-train-memory", help="budget "
                                                   "of the train memory at --batch: 24GiB."),
    batch: int = typer.Option(1, "--batch", help="batch size of the budgets (expect: is "
                              "compared per sample)."),
    dtype: str = typer.Option("fp32", "--dtype", help=DTYPE_HELP),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="optimizer state per "
                                            "parameter: sgd, momentum, adam (default), "
                                            "adamw."),
    set_: List[str] = typer.Option([], "--set", help="bind a symbol or var: H=224 "
                                   "(repeatable; in every file that declares it)."),
    format: str = typer.Option("text", "--format", "-f", help="text, github or json."),
) -> None:
    from .check import byte_size, quantity, run_checks
    from .spec import STDIN
    from . import render

    try:
        if format not in CHECK_FORMATS:
            raise SpecError(f"--format must be one of {', '.join(CHECK_FORMATS)}, got "
                            f"{format!r}")
        if batch < 1:
            raise SpecError(f"--batch must be positive, got {batch}")
        options = _memory_options(dtype, optimizer, True)
        budgets = {}
        for key, text in (("params", max_params), ("macs", max_macs), ("flops", max_flops)):
            if text is not None:
                budgets[key] = quantity(text, None, f"--max-{key}")
        for key, option, text in (("peak_memory", "--max-memory", max_memory),
                                  ("train_memory", "--max-train-memory", max_train_memory)):
            if text is not None:
                budgets[key] = byte_size(text, None, option)
        sets = parse_sets(set_)
        if files.count(STDIN) > 1:
            raise SpecError("standard input ('-') can be read once", hint="give '-' once")
    except ConvcalcError as err:
        _fail(err)
    try:
        results = run_checks(files, budgets, sets, batch=batch, options=options)
    except ConvcalcError as err:
        _fail(err)
    sys.stdout.write(render.check_output(results, format))
    if any(r.status == "invalid" for r in results):
        raise typer.Exit(ExitStatus.INVALID)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(ExitStatus.FAILED)


@app.command(help="What changed between two versions of an architecture: total deltas, "
                  "and the layers added, removed or changed (aligned by op, arguments and "
                  "names before numbers), each with what changed.\n\n"
                  "  convcalc diff old.yaml new.yaml --format markdown")
def diff(
    old: str = typer.Argument(..., help="the old network YAML."),
    new: str = typer.Argument(..., help="the new network YAML."),
    format: str = typer.Option("table", "--format", "-f", help="table, markdown, json or "
                               "html (both versions drawn, changes highlighted)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help=OUTPUT_HELP),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="compare the memory totals "
                                        "too, at these bytes per element: fp32, fp16, "
                                        "bf16, fp64 or int8."),
    training: bool = typer.Option(False, "--training", help="compare the memory and "
                                  "training totals too: train MACs, saved activations, "
                                  "train memory."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help=OPTIMIZER_HELP),
) -> None:
    from . import memory, render
    from .diff import diff_reports
    from .spec import STDIN, load
    from .walk import walk

    try:
        if format not in ("table", "markdown", "json", "html"):
            raise SpecError(f"--format must be table, markdown, json or html, got {format!r}")
        if output is not None and format == "table":
            raise SpecError("-o writes a file in another format than table",
                            hint="add --format html (or markdown, json)")
        options = _memory_options(dtype or "fp32", optimizer, training)
        if old == new == STDIN:
            raise SpecError("standard input ('-') can be read once", hint="give '-' once")
        a, b = walk(load(old)), walk(load(new))
        d = diff_reports(a, b)
        mems = tuple(memory.analyse(r, training=training, **options) for r in (a, b)) \
            if training or dtype is not None else None
        if format == "html":
            from .render.html import diff_html

            _emit(diff_html(d, mems), output)
            return
        text = render.diff_output(d, format, mems)
        if text is not None and output is not None:
            _emit(text, output)
            return
    except ConvcalcError as err:
        _fail(err)
    if text is not None:
        sys.stdout.write(text)


@app.command(help="Which input sizes the network accepts: the exact rule (period, residues, "
                  "minimum, isolated sizes), the valid sizes in a range, and the nearest "
                  "valid sizes to N with the output each gives.\n\n"
                  "  convcalc sizes examples/unet.yaml --near 224")
def sizes(
    file: str = typer.Argument(..., help="network YAML; - reads standard input."),
    range_: str = typer.Option("1..1024", "--range", help="list the valid sizes in LO..HI."),
    near: Optional[int] = typer.Option(None, "--near", help="the closest valid sizes below "
                                       "and above N, with their output shapes."),
    axis: str = typer.Option("all", "--axis", help="vary one axis (H, W, its symbol), the "
                             "others as declared; default all: every axis the same n."),
    input: Optional[str] = typer.Option(None, "--input", help="override the YAML input (the "
                                        "reference size for size-dependent weights)."),
    set_: List[str] = typer.Option([], "--set", help="bind a symbol or var: H=224 "
                                   "(repeatable)."),
    format: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    try:
        _sizes_command(file, range_, near, axis, input, set_, format)
    except ConvcalcError as err:
        _fail(err)


MAX_RANGE = 1_000_000


def parse_range(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*\.\.\s*(\d+)\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise SpecError(f"--range: expected LO..HI with 1 <= LO <= HI, got {text!r}",
                        hint="write 1..1024")
    lo, hi = int(m.group(1)), int(m.group(2))
    if hi - lo + 1 > MAX_RANGE:
        raise SpecError(f"--range: {hi - lo + 1:,} sizes, more than {MAX_RANGE:,}",
                        hint="list a narrower range; the rule covers every size")
    return lo, hi


def _sizes_command(file, range_, near, axis, input, set_, format):
    from .render.sizes import sizes_json, sizes_table
    from .sizes import analyse, near as near_sizes
    from .spec import load

    if format not in ("table", "json"):
        raise SpecError(f"--format must be table or json, got {format!r}")
    lo, hi = parse_range(range_)
    if near is not None and near < 1:
        raise SpecError(f"--near must be a positive size, got {near}")
    sets = parse_sets(set_)
    override = parse_input_option(input)
    net = load(file)
    result = analyse(net, axis=axis, input_override=override, sets=sets)
    valid = result.in_range(lo, hi)
    close = [] if near is None else near_sizes(net, result, near, input_override=override,
                                                sets=sets)
    if format == "json":
        print(sizes_json(result, lo, hi, valid, near, close))
    else:
        sys.stdout.write(sizes_table(result, net.name, lo, hi, valid, near, close))


@app.command(help="A YAML network as plain PyTorch code: one self-contained file with one "
                  "nn.Module class per YAML block, a top-level module named after the "
                  "network, build() and INPUT_SHAPE. Every leaf layer's output shape, params "
                  "and MACs equal its row of `convcalc net`.\n\n"
                  "  convcalc export examples/resnet50.yaml --to torch -o resnet50.py")
def export(
    file: str = typer.Argument(..., help="network YAML; - reads standard input."),
    to: str = typer.Option(..., "--to", help="target: torch."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="write the code to "
                                         "this file (default: standard output)."),
    input: Optional[str] = typer.Option(None, "--input", help="override the YAML input: "
                                        "3x224x224."),
    set_: List[str] = typer.Option([], "--set", help="bind a symbol or var: H=224 "
                                   "(repeatable)."),
) -> None:
    from .exporters import export as export_code
    from .spec import load
    from .walk import walk

    try:
        sets, override = parse_sets(set_), parse_input_option(input)
        net = load(file)
        result = export_code(net, walk(net, input_override=override, sets=sets), to)
        _emit(result.code, output)
    except ConvcalcError as err:
        _fail(err)


@app.command(help="The op catalog: every op, its keys with defaults, its shape and cost "
                  "formulas. With --conventions: the full statement of the counting "
                  "conventions every report ends with.")
def ops(format: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
        conventions: bool = typer.Option(False, "--conventions", help="print the counting "
                                         "conventions (params, MACs, FLOPs, receptive "
                                         "field) in full.")) -> None:
    from . import render

    if format not in ("table", "json"):
        _fail(SpecError(f"--format must be table or json, got {format!r}"))
    render.print_ops(format, conventions)


def main() -> None:
    # a short-lived process that builds many small objects and frees none: the cyclic
    # collector would only re-scan them (a third of the time on a 100k-layer network)
    gc.disable()
    # bare `convcalc` shows the help (on stdout, exit 0) rather than a usage error
    args = sys.argv[1:] or ["--help"]
    try:
        repeated = _repeated_option(args)
        if repeated is not None:
            from .render import error

            error(repeated)
            sys.exit(ExitStatus.INVALID)
        code = app(args=args, prog_name="convcalc", standalone_mode=False)
    except typer.Abort:
        sys.exit(130)
    except Exception as err:
        usage = _usage_error(err, args)
        if usage is None:
            if os.environ.get("CONVCALC_TRACEBACK"):
                raise
            print(f"error: internal error ({type(err).__name__}: {err}); this is a bug in "
                  f"convcalc, please report it (hint: CONVCALC_TRACEBACK=1 shows the "
                  f"traceback)", file=sys.stderr)
            sys.exit(INTERNAL_ERROR)
        from .render import error

        error(usage)
        sys.exit(ExitStatus.INVALID)
    sys.exit(code or 0)


# -- usage errors ---------------------------------------------------------------------------
# click (inside typer) reports a malformed command line with an exception; its text changes
# between click versions (`Missing argument 'FILE'` / `'file'`), so convcalc says it in its
# own words, from the exception's attributes: which parameter, which option.

def _usage_error(err: Exception, args: List[str]) -> Optional[SpecError]:
    """click's usage error ``err`` as convcalc's one-line diagnostic; None for anything else
    (a bug)."""
    exc = sys.modules[typer.BadParameter.__module__]  # click's, or typer's vendored copy
    if not isinstance(err, exc.UsageError):
        return None
    from .errors import did_you_mean

    group = typer.main.get_command(app)
    words = [a for a in args if not a.startswith("-")]
    name = words[0] if words and words[0] in group.commands else None
    command = group.commands[name] if name else group
    path = f"convcalc {name}" if name else "convcalc"
    see = f"{path} --help"
    options = {o: p for p in command.params for o in (*p.opts, *p.secondary_opts)
               if getattr(p, "param_type_name", "") == "option"}

    if isinstance(err, exc.MissingParameter) and err.param is not None:
        return SpecError(f"missing {_label(err.param, True)}", hint=see)
    if isinstance(err, exc.BadParameter) and err.param is not None:
        label = _label(err.param)
        what = _KINDS.get(getattr(err.param.type, "name", ""), "a valid value")
        value = _given(args, (*err.param.opts, *getattr(err.param, "secondary_opts", ())))
        if value is None:
            return SpecError(f"{label} must be {what}", hint=see)
        return SpecError(f"{label}: {value!r} is not {what}", hint=see)
    if isinstance(err, exc.NoSuchOption):
        guess = did_you_mean(err.option_name, options)
        return SpecError(f"unknown option {err.option_name!r}",
                         hint=f"{guess} See {see}" if guess else see)
    if isinstance(err, exc.BadOptionUsage):
        param = options.get(err.option_name)
        if param is not None and getattr(param, "is_flag", False):
            return SpecError(f"{err.option_name} takes no value", hint=see)
        return SpecError(f"{err.option_name} needs a value", hint=see)
    if name is None and words:
        guess = did_you_mean(words[0], group.commands)
        return SpecError(f"unknown command {words[0]!r}",
                         hint=f"{guess} See {see}" if guess else see)
    extra = _extra_arguments(command, name, args)
    if extra:
        listed = ", ".join(repr(a) for a in extra[:3]) + (", …" if len(extra) > 3 else "")
        return SpecError(f"unexpected argument{'s' if len(extra) > 1 else ''} {listed}",
                         hint=see)
    return SpecError("cannot read the command line", hint=see)


def _repeated_option(args: List[str]) -> Optional[SpecError]:
    """An option that takes one value given twice (``--k 3 --k 5``, ``--bias --no-bias``):
    click would keep the last silently; convcalc names both (README: every option means
    something or is an error). Repeatable options (``-a``, ``--set``) are left to their
    command."""
    if not isinstance(app, typer.Typer):  # no command table to read (a test's stand-in)
        return None
    group = typer.main.get_command(app)
    name = next((a for a in args if not a.startswith("-")), None)
    command = group.commands.get(name) if name else None
    if command is None:
        return None
    options = {o: p for p in command.params if getattr(p, "param_type_name", "") == "option"
               for o in (*p.opts, *p.secondary_opts)}
    seen: dict[str, str] = {}  # parameter name -> the option as typed first
    rest = iter(args[args.index(name) + 1:])
    for a in rest:
        if a == "--":
            break
        opt, eq, value = a.partition("=") if a.startswith("--") else (a, "", "")
        if not eq and not a.startswith("--") and len(a) > 2 and a[:2] in options:
            opt, eq, value = a[:2], "=", a[2:]  # -tconv: click's attached short value
        param = options.get(opt)
        if param is None:
            continue
        if not param.is_flag and not eq:
            value = next(rest, "")
        if param.multiple:
            continue
        typed = f"{opt} {value}" if value else opt
        if param.name in seen:
            return SpecError(f"{param.opts[0]} given twice ({seen[param.name]}, then "
                             f"{typed})", hint=f"give {param.opts[0]} once")
        seen[param.name] = typed
    return None


# click's name of a parameter type (its spelling differs between versions) → convcalc's words
_KINDS = {"integer": "an integer", "int": "an integer", "float": "a number",
          "boolean": "true or false", "bool": "true or false"}


def _label(param, kind: bool = False) -> str:
    """How convcalc names a parameter: ``--cin`` for an option, ``FILE`` for an argument."""
    if getattr(param, "param_type_name", "") == "option" and param.opts:
        return f"option {param.opts[0]}" if kind else param.opts[0]
    label = (param.name or "argument").upper()
    return f"argument {label}" if kind else label


def _given(args: List[str], opts) -> Optional[str]:
    """The last value given to one of ``opts`` on the command line (the one click read)."""
    value = None
    for i, a in enumerate(args):
        for o in opts:
            if a == o and i + 1 < len(args):
                value = args[i + 1]
            elif o.startswith("--") and a.startswith(o + "="):
                value = a[len(o) + 1:]
    return value


def _extra_arguments(command, name: Optional[str], args: List[str]) -> List[str]:
    """The arguments ``command`` has no place for: parsed again, leniently, by click."""
    if name is None:
        return []
    try:
        ctx = command.make_context(name, list(args[args.index(name) + 1:]),
                                   resilient_parsing=True)
    except Exception:
        return []
    return [str(a) for a in ctx.args]
