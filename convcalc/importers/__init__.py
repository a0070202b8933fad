"""Foreign models → convcalc YAML (SPEC §7).

``graph`` holds the shared form every importer produces — a list of :class:`graph.Node`, one
per leaf layer, in topological order, the last one the network's output — and
:func:`graph.write_yaml`, which turns it into the YAML a person would write. ``onnx`` reads
ONNX files (the ``onnx`` package, imported lazily, only there); ``torch`` traces PyTorch
modules (``torch``, imported lazily, only there).
"""


def import_source(source: str, *, name: str | None = None,
                  input_shape: list | None = None) -> str:
    """The YAML for SOURCE: an ``.onnx`` file (``convcalc import model.onnx``) or a PyTorch
    model ``package.module:callable`` (needs ``--input``). ``input_shape``
    (``--input``, channels first, as the command line gives it) replaces the file's input
    sizes; ``name`` the network's name (default: the file's stem)."""
    from ..spec import is_onnx

    if is_onnx(source):
        from .onnx import onnx_yaml

        return onnx_yaml(source, name, input_shape)
    if ":" in source:  # package.module:callable, a PyTorch model
        from .torch import import_torch

        return import_torch(source, input_shape, name)
    from ..errors import SpecError

    raise SpecError(f"cannot import {source!r}: convcalc imports ONNX files (model.onnx) "
                    "and PyTorch models (package.module:callable)",
                    hint="give a path ending in .onnx, or package.module:callable")
