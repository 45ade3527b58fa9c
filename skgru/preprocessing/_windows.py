"""Windows of consecutive steps stacked as the features of one step."""

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval

from ._base import _SequenceTransformer

__all__ = ["WindowStacker", "stack_windows"]


def _n_windows(T, width, stride):
    """Windows of a ``T``-step sequence: ``ceil(max(T - width, 0) / stride) + 1``."""
    return -(-max(T - width, 0) // stride) + 1


class WindowStacker(_SequenceTransformer):
    """Stack ``width`` consecutive steps side by side into one step.

    A GRU reads one step at a time, so a long, slowly varying series is hard
    to train on (gradients fade over hundreds of steps) and slow (the steps
    are sequential). Giving it ``width`` consecutive steps per step shortens
    the sequence about ``stride`` times; with the default ``stride=width``
    the windows do not overlap and every value is still seen exactly once.
    With ``stride < width`` the windows overlap: the GRU's input weights
    then act as a learnt linear convolution of width ``width`` in front of
    the recurrence.

    Output step ``t`` holds the input steps ``t * stride`` to
    ``t * stride + width - 1``, the features of each step side by side (as
    ``x[t * stride : t * stride + width].ravel()``), so it has
    ``width * n_features`` features. A sequence of ``T`` steps gives

    ``ceil(max(T - width, 0) / stride) + 1``

    windows: the last window ends at or after the last step, and where it
    runs past the end it is padded by repeating the sequence's last step
    (``"edge"`` padding), so with ``stride <= width`` no step is lost. A
    sequence shorter than ``width`` gives one window padded the same way.
    With ``stride > width`` the steps between windows are skipped.

    Each ragged sequence is cut on its own steps (never on padding), so
    sequences of different lengths give different numbers of windows.

    Parameters
    ----------
    width : int
        Steps per window. ``width=1`` with ``stride=1`` returns the sequences
        unchanged (as new float arrays).

    stride : int or None, default=None
        Steps between the starts of two windows. None means ``width``
        (windows side by side, no overlap).

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen in ``fit``: the number of columns for a 2-D
        ``X`` (scikit-learn's convention; the length is then fixed), else the
        number of features per step.

    n_step_features_ : int
        Number of features per step seen in ``fit`` (1 for a 2-D ``X``).

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the columns of a 2-D ``X`` given as a DataFrame with string
        column names.

    See Also
    --------
    stack_windows : The same for a 3-D array, trailing steps dropped.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru.preprocessing import WindowStacker
    >>> X = np.arange(7.0).reshape(1, 7)
    >>> WindowStacker(3).fit_transform(X).tolist()
    [[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 6.0, 6.0]]]
    >>> WindowStacker(3, stride=2).fit_transform(X).tolist()
    [[[0.0, 1.0, 2.0], [2.0, 3.0, 4.0], [4.0, 5.0, 6.0]]]
    >>> [x.shape for x in WindowStacker(2).fit_transform([np.ones((5, 3)), np.ones((2, 3))])]
    [(3, 6), (1, 6)]
    """

    _parameter_constraints: dict = {
        "width": [Interval(Integral, 1, None, closed="left")],
        "stride": [None, Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, width, stride=None):
        self.width = width
        self.stride = stride

    def _transform_values(self, values):
        n, T, F = values.shape
        width = self.width
        stride = width if self.stride is None else self.stride
        L = _n_windows(T, width, stride)
        # Step index of each window position, clipped to the last step (edge padding).
        idx = np.minimum(np.arange(L)[:, None] * stride + np.arange(width), T - 1)
        return values[:, idx].reshape(n, L, width * F)

    def transform(self, X):
        """Stack the steps of each window side by side.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or (n_samples, \
n_timesteps), or list of arrays of shape (T_i, n_features) or (T_i,)
            Sequences, in any format that :class:`~skgru.ConstrainedGRUClassifier`
            accepts, with as many features per step as in ``fit``.

        Returns
        -------
        X_windows : ndarray of shape (n_samples, n_windows, width * n_features), or \
list of ndarray of shape (n_windows_i, width * n_features)
            The windows, ``n_windows = ceil(max(T - width, 0) / stride) + 1``:
            a 3-D array for array input (2-D ``(n_samples, n_windows)`` for a
            2-D ``X`` when ``width=1``), a list for a ragged list; float32 for
            float32 input, else float64.
        """
        self._validate_params()
        return self._transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags


def stack_windows(X, width=1):
    """Cut each sequence into non-overlapping windows stacked as features.

    A GRU reads one step at a time, so a long, slowly varying series is hard
    to train on (gradients fade over 150 steps). Giving it ``width``
    consecutive values per step shortens the sequence ``width`` times and
    loses nothing: every value is still seen.

    Unlike :class:`WindowStacker`, which pads the last window and accepts
    every input format of the classifier, this function takes a 3-D array
    and drops the trailing steps that do not fill a window.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_timesteps, n_features)
        The sequences.
    width : int, default=1
        Steps per window. Trailing steps that do not fill a window are
        dropped. ``width=1`` returns ``X`` unchanged.

    Returns
    -------
    ndarray of shape (n_samples, n_timesteps // width, width * n_features)
        Step ``t`` holds the original steps ``t * width`` to
        ``(t + 1) * width - 1``, features of each step side by side.

    See Also
    --------
    WindowStacker : The transformer, with overlapping windows and padding.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru.preprocessing import stack_windows
    >>> X = np.arange(14.0).reshape(1, 7, 2)
    >>> stack_windows(X, width=3).shape
    (1, 2, 6)
    >>> stack_windows(X, width=3)[0, 1].tolist()
    [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
    """
    X = np.asarray(X)
    if width == 1:
        return X
    n, T, F = X.shape
    T_used = T - T % width
    return X[:, :T_used].reshape(n, T_used // width, width * F)
