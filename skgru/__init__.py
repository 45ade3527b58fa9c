"""skgru: a scikit-learn compatible constrained GRU with Numba kernels."""

from . import constraints
from ._classifier import ConstrainedGRUClassifier
from ._plotting import LossCurveDisplay
from ._text import SequenceVectorizer

__version__ = "0.1.0"

__all__ = [
    "ConstrainedGRUClassifier",
    "LossCurveDisplay",
    "SequenceVectorizer",
    "constraints",
    "__version__",
]
