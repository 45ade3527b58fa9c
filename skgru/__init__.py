"""skgru: a scikit-learn compatible constrained GRU with Numba kernels."""

from . import constraints
from ._classifier import ConstrainedGRUClassifier
from ._onnx import to_onnx
from ._persistence import load_model, save_model
from ._plotting import LossCurveDisplay
from ._regressor import ConstrainedGRURegressor
from ._text import SequenceVectorizer

__version__ = "0.1.0"

__all__ = [
    "ConstrainedGRUClassifier",
    "ConstrainedGRURegressor",
    "LossCurveDisplay",
    "SequenceVectorizer",
    "constraints",
    "to_onnx",
    "load_model",
    "save_model",
    "__version__",
]
