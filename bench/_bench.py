"""Shared timing helpers for the scripts in bench/ (not a test module; nothing here asserts speed).

Every measurement is the wall-clock time of a whole command run in a subprocess — interpreter
start, imports, work, output — because that is what a user waits for. Commands are warmed up
once, then run round-robin (A B C A B C ...) so that drift in machine load hits every column
alike, and summarised by median (the typical run) and min (the run least disturbed by noise).
The CPU time (user + sys) of the child is shown too: on a busy machine it moves less than the
wall clock.

Bytecode: an installed convcalc has its ``.pyc`` files; an editable install run with
``PYTHONDONTWRITEBYTECODE=1`` recompiles every convcalc module on every call. By default the
children run with bytecode caching on and ``PYTHONPYCACHEPREFIX`` pointing at a temporary
directory (filled by the warm-up run; nothing is written into the repository), which is what a
user's installed copy does. ``--inherit-env`` runs them in this shell's environment unchanged.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
EXAMPLES = REPO / "examples"
PYTHON = sys.executable
# the CLI stack's floor: what any typer + rich program pays before doing anything
FLOOR = [PYTHON, "-c", "import typer, rich.table"]
# the children's environment, set by parse_args (None: inherit ours unchanged)
CHILD_ENV: dict | None = None
ENV_NOTE = "environment inherited"


def convcalc() -> list[str]:
    """The ``convcalc`` console script of this interpreter's environment."""
    exe = Path(PYTHON).parent / ("convcalc.exe" if os.name == "nt" else "convcalc")
    if exe.exists():
        return [str(exe)]
    sys.exit(f"no convcalc next to {PYTHON}; install the package into this environment "
             "(pip install -e .)")


def has_module(*names: str) -> bool:
    """Whether ``names`` import in this interpreter. Really imported, in a subprocess (no cost
    here): torchinfo installs without its numpy dependency, which only an import reveals."""
    code = "import " + ", ".join(names)
    return subprocess.run([PYTHON, "-c", code], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env=child_env()).returncode == 0


def parse_args(doc: str, default_repeat: int = 20, extra=None) -> argparse.Namespace:
    """``--repeat N``; ``extra(parser)`` may add a script's own options."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--repeat", type=int, default=default_repeat,
                        help=f"timed runs per command after one warm-up (default {default_repeat})")
    parser.add_argument("--inherit-env", action="store_true",
                        help="run commands in this environment unchanged (default: bytecode "
                             "caching on, cache in a temporary PYTHONPYCACHEPREFIX)")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    global CHILD_ENV, ENV_NOTE
    if args.inherit_env:
        CHILD_ENV = None
        flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
        ENV_NOTE = ("environment inherited" + (" (PYTHONDONTWRITEBYTECODE set: convcalc "
                    "is recompiled on every call)" if flag else ""))
    else:
        prefix = tempdir("convcalc-bench-pyc-")
        atexit.register(cleanup, prefix)
        CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        CHILD_ENV["PYTHONPYCACHEPREFIX"] = str(prefix)
        ENV_NOTE = "bytecode cached in a temporary PYTHONPYCACHEPREFIX (as in an installed copy)"
    return args


def child_env() -> dict | None:
    return CHILD_ENV


@dataclass
class Case:
    label: str
    argv: list[str]
    ok_codes: tuple[int, ...] = (0,)
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu else None


def _children_cpu() -> float | None:
    try:
        import resource
    except ImportError:  # Windows: no CPU column
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(case: Case) -> tuple[float, float | None]:
    """Wall-clock seconds and child CPU seconds of one run; a failing command stops the bench."""
    cpu0 = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(case.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=child_env())
    elapsed = time.perf_counter() - start
    cpu1 = _children_cpu()
    if proc.returncode not in case.ok_codes:
        err = proc.stderr.decode(errors="replace").strip()
        sys.exit(f"benchmark command failed (exit {proc.returncode}): {' '.join(case.argv)}\n{err}")
    return elapsed, (None if cpu0 is None or cpu1 is None else cpu1 - cpu0)


def measure(cases: list[Case], repeat: int) -> list[Case]:
    """Warm each command up once, then time ``repeat`` rounds, interleaving the commands."""
    for case in cases:
        run_once(case)
    for _ in range(repeat):
        for case in cases:
            wall, cpu = run_once(case)
            case.times.append(wall)
            if cpu is not None:
                case.cpu.append(cpu)
    return cases


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.3f} s"


def table(headers: list[str], rows: list[list[str]]) -> None:
    """A plain fixed-width table: first column left-aligned, the rest right-aligned."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def header(title: str, repeat: int) -> None:
    print(f"{title}")
    print(f"python {sys.version.split()[0]} at {PYTHON}; {repeat} timed runs per command "
          f"after 1 warm-up; wall clock of the whole subprocess")
    print(f"{ENV_NOTE}; {os.cpu_count()} CPUs, load average {load_average()}")
    print()


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def targets(results: list[tuple[str, bool | None, str]]) -> None:
    """Print PASS/MISS per target (SKIP when it could not be measured). Informative only."""
    print()
    print("targets (informative; the script exits 0 either way):")
    width = max(len(text) for text, _, _ in results)
    for text, ok, detail in results:
        mark = "SKIP" if ok is None else ("PASS" if ok else "MISS")
        print(f"  {mark}  {text:<{width}}  {detail}")


def tempdir(prefix: str) -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix=prefix))


def cleanup(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
