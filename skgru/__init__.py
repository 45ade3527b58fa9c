"""skgru: a scikit-learn compatible constrained GRU with Numba kernels."""

from . import constraints
from ._classifier import ConstrainedGRUClassifier
from ._onnx import to_onnx
from ._plotting import LossCurveDisplay
from ._text import SequenceVectorizer

__version__ = "0.1.0"

__all__ = [
    "ConstrainedGRUClassifier",
    "LossCurveDisplay",
    "SequenceVectorizer",
    "constraints",
    "to_onnx",
    "__version__",
]
