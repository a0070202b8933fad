"""Foreign models → convcalc YAML (SPEC §7).

``graph`` holds the shared form every importer produces — a list of :class:`graph.Node`, one
per leaf layer, in topological order, the last one the network's output — and
:func:`graph.write_yaml`, which turns it into the YAML a person would write. ``onnx`` reads
ONNX files (the ``onnx`` package, imported lazily, only there).
"""
