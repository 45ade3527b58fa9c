"""The scikit-learn estimators: parameters, validation, the fit loop and prediction."""

from ._classifier import ConstrainedGRUClassifier
from ._regressor import ConstrainedGRURegressor

__all__ = ["ConstrainedGRUClassifier", "ConstrainedGRURegressor"]
