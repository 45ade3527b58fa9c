"""skgru's GRU classifier as an aeon classifier (``pip install aeon``).

aeon's deep-learning classifiers are tagged ``cant_pickle`` and need equal
lengths; this one pickles (the fitted state is NumPy arrays) and takes
unequal-length collections.
"""

try:
    from aeon.classification.base import BaseClassifier
except ImportError as exc:  # pragma: no cover - exercised only without aeon
    raise ImportError(
        "skgru.integrations.aeon needs aeon: pip install aeon (the adapter is an optional extra)."
    ) from exc

from ._common import AdapterMethods

__all__ = ["GRUClassifier"]


class GRUClassifier(AdapterMethods, BaseClassifier):
    """An aeon classifier running a skgru estimator.

    aeon hands collections as ``(n_cases, n_channels, n_timepoints)`` arrays
    or, for unequal lengths, lists of ``(n_channels, n_timepoints_i)``
    arrays; they are passed on in skgru's ``(n, T, F)`` layout
    (:func:`skgru.integrations.to_skgru_layout`).

    Parameters
    ----------
    estimator : scikit-learn classifier or None, default=None
        What is fitted: a :class:`~skgru.ConstrainedGRUClassifier`, or a
        pipeline ending in one. ``None`` is
        :func:`skgru.make_sequence_classifier`, the recommended pipeline.
        It is cloned at fit.
    random_state : int or None, default=None
        Set on every ``random_state`` parameter of the estimator (or seeds
        the default pipeline); ``None`` leaves them.

    Attributes
    ----------
    estimator_ : scikit-learn classifier
        The fitted clone.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru import ConstrainedGRUClassifier
    >>> from skgru.integrations.aeon import GRUClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 2, 12))             # (n_cases, n_channels, n_timepoints)
    >>> y = (X[:, 0].sum(axis=1) > 0).astype(int)
    >>> clf = GRUClassifier(ConstrainedGRUClassifier(units=4, max_iter=5), random_state=0)
    >>> clf.fit(X, y).predict(X).shape
    (20,)
    """

    _tags = {
        "capability:multivariate": True,
        "capability:unequal_length": True,
        "X_inner_type": ["np-list", "numpy3D"],
        "algorithm_type": "deeplearning",
        "non_deterministic": False,
        "cant_pickle": False,
    }

    def __init__(self, estimator=None, random_state=None):
        self.estimator = estimator
        self.random_state = random_state
        super().__init__()

    @classmethod
    def _get_test_params(cls, parameter_set="default"):
        from ..estimators import ConstrainedGRUClassifier

        return {
            "estimator": ConstrainedGRUClassifier(units=4, max_iter=5),
            "random_state": 0,
        }
