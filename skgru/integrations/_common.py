"""What the toolkit adapters share: the estimator they wrap and the change of layout."""

import numpy as np
from sklearn.base import clone

__all__ = ["to_skgru_layout", "make_estimator", "AdapterMethods"]


def to_skgru_layout(X):
    """aeon / sktime series as skgru reads them.

    Parameters
    ----------
    X : ndarray of shape (n_cases, n_channels, n_timepoints) or list
        An aeon ``numpy3D`` collection, or a list of ``(n_channels,
        n_timepoints_i)`` arrays (aeon's ``np-list``, unequal lengths) or of
        ``(n_timepoints_i, n_channels)`` DataFrames (sktime's ``df-list``).

    Returns
    -------
    X : ndarray of shape (n_cases, n_timepoints, n_channels) or list of ndarray
        A list of ``(n_timepoints_i, n_channels)`` arrays when the lengths differ.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru.integrations import to_skgru_layout
    >>> to_skgru_layout(np.zeros((5, 2, 30))).shape
    (5, 30, 2)
    >>> [x.shape for x in to_skgru_layout([np.zeros((2, 10)), np.zeros((2, 7))])]
    [(10, 2), (7, 2)]
    """
    if isinstance(X, np.ndarray) and X.ndim == 3:
        return np.ascontiguousarray(np.swapaxes(X, 1, 2))
    out = []
    for x in X:
        if hasattr(x, "to_numpy"):  # a DataFrame: time on the rows, channels on the columns
            out.append(np.asarray(x.to_numpy(), dtype=np.float64))
        else:
            out.append(np.ascontiguousarray(np.asarray(x, dtype=np.float64).T))
    return out


def make_estimator(estimator, random_state):
    """A fresh clone of ``estimator`` (default: the recommended pipeline), seeded."""
    if estimator is None:
        from .._recipes import make_sequence_classifier

        return make_sequence_classifier(random_state=random_state)
    est = clone(estimator)
    if random_state is not None:
        keys = [k for k in est.get_params(deep=True) if k.split("__")[-1] == "random_state"]
        est.set_params(**dict.fromkeys(keys, random_state))
    return est


class AdapterMethods:
    """The toolkit hooks of both adapters: fit a seeded clone, predict in skgru's layout.

    Mixed in before the toolkit's ``BaseClassifier``, whose public ``fit`` /
    ``predict`` check and convert the input, then call these.
    """

    def _fit(self, X, y):
        self.estimator_ = make_estimator(self.estimator, self.random_state)
        self.estimator_.fit(to_skgru_layout(X), y)
        return self

    def _predict(self, X):
        return np.asarray(self.estimator_.predict(to_skgru_layout(X)))

    def _predict_proba(self, X):
        # Columns in the order of classes_ (np.unique of y), as both toolkits expect.
        return np.asarray(self.estimator_.predict_proba(to_skgru_layout(X)), dtype=np.float64)
