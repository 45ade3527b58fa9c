"""skgru's GRU classifier as an sktime classifier (``pip install sktime``)."""

try:
    from sktime.classification.base import BaseClassifier
except ImportError as exc:  # pragma: no cover - exercised only without sktime
    raise ImportError(
        "skgru.integrations.sktime needs sktime: pip install sktime (the adapter is an "
        "optional extra)."
    ) from exc

from ._common import AdapterMethods

__all__ = ["GRUClassifier"]


class GRUClassifier(AdapterMethods, BaseClassifier):
    """An sktime classifier running a skgru estimator.

    sktime hands equal-length collections as ``(n_instances, n_channels,
    n_timepoints)`` arrays (``numpy3D``) and unequal-length ones as lists of
    ``(n_timepoints_i, n_channels)`` DataFrames (``df-list``); they are
    passed on in skgru's ``(n, T, F)`` layout.

    Parameters
    ----------
    estimator : scikit-learn classifier or None, default=None
        What is fitted: a :class:`~skgru.ConstrainedGRUClassifier`, or a
        pipeline ending in one; ``None`` is
        :func:`skgru.make_sequence_classifier`. Cloned at fit.
    random_state : int or None, default=None
        Set on every ``random_state`` parameter of the estimator.

    Attributes
    ----------
    estimator_ : scikit-learn classifier
        The fitted clone.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru import ConstrainedGRUClassifier
    >>> from skgru.integrations.sktime import GRUClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 2, 12))
    >>> y = (X[:, 0].sum(axis=1) > 0).astype(int)
    >>> clf = GRUClassifier(ConstrainedGRUClassifier(units=4, max_iter=5), random_state=0)
    >>> clf.fit(X, y).predict(X).shape
    (20,)
    """

    _tags = {
        "authors": ["skgru developers"],
        "maintainers": ["skgru developers"],
        "python_dependencies": "skgru",
        "X_inner_mtype": ["df-list", "numpy3D"],
        "y_inner_mtype": "numpy1D",
        "capability:multivariate": True,
        "capability:unequal_length": True,
        "capability:predict_proba": True,
        "capability:random_state": True,
        "property:randomness": "derandomized",
    }

    def __init__(self, estimator=None, random_state=None):
        self.estimator = estimator
        self.random_state = random_state
        super().__init__()

    @classmethod
    def get_test_params(cls, parameter_set="default"):
        """Small configurations for sktime's estimator checks."""
        from ..estimators import ConstrainedGRUClassifier

        return [
            {"estimator": ConstrainedGRUClassifier(units=4, max_iter=5), "random_state": 0},
            {
                "estimator": ConstrainedGRUClassifier(units=3, max_iter=5, pooling="mean"),
                "random_state": 1,
            },
        ]
