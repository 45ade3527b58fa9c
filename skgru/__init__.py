"""skgru: a scikit-learn compatible constrained GRU with Numba kernels."""

from . import constraints, preprocessing
from ._plotting import LossCurveDisplay
from ._recipes import (
    make_sequence_classifier,
    make_text_classifier,
    sequence_param_grid,
    text_param_grid,
)
from ._streaming import GRUStream
from ._text import SequenceVectorizer
from .estimators import ConstrainedGRUClassifier, ConstrainedGRURegressor
from .io._onnx import to_onnx
from .io._persistence import load_model, save_model

__version__ = "0.1.0"

__all__ = [
    "ConstrainedGRUClassifier",
    "ConstrainedGRURegressor",
    "GRUStream",
    "LossCurveDisplay",
    "SequenceVectorizer",
    "constraints",
    "preprocessing",
    "make_sequence_classifier",
    "make_text_classifier",
    "sequence_param_grid",
    "text_param_grid",
    "to_onnx",
    "load_model",
    "save_model",
    "__version__",
]
