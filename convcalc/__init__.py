"""convcalc: exact shape and cost arithmetic for convolutional networks, without a framework."""

__version__ = "0.3.0"

from .core import CONVENTIONS, RF, Effect, Shape  # noqa: E402
from .errors import ConvcalcError, Loc, ShapeError, SpecError  # noqa: E402
from .ops import OPS, apply  # noqa: E402
from .walk import LayerReport, layer_report  # noqa: E402

__all__ = ["CONVENTIONS", "RF", "Effect", "Shape", "ConvcalcError", "Loc", "ShapeError",
           "SpecError", "OPS", "apply", "LayerReport", "layer_report", "__version__"]
