"""Changing the number of steps of sequences: by a factor, or to a fixed length."""

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import _SequenceTransformer

__all__ = ["SequenceResampler"]


def _block_means(values, starts):
    """Means of ``values (n, T, F)`` over the steps ``starts[j]`` to ``starts[j + 1] - 1``.

    ``starts`` is strictly increasing from 0; the last block ends at ``T``.
    """
    sizes = np.diff(np.append(starts, values.shape[1]))
    sums = np.add.reduceat(values, starts, axis=1, dtype=np.float64)
    return (sums / sizes[:, None]).astype(values.dtype)


def _interpolate(values, n_steps):
    """``np.interp`` of every channel at ``n_steps`` positions evenly spaced over ``[0, T - 1]``."""
    T = values.shape[1]
    if T == 1:
        return np.repeat(values, n_steps, axis=1)
    positions = np.linspace(0, T - 1, n_steps)
    left = np.minimum(positions.astype(np.intp), T - 2)
    w = (positions - left).astype(values.dtype)[:, None]
    # (1 - w) * a + w * b is exactly a at w = 0 and exactly b at w = 1.
    return (1 - w) * values[:, left] + w * values[:, left + 1]


class SequenceResampler(_SequenceTransformer):
    """Resample sequences: by an integer ``factor``, or to exactly ``n_steps`` steps.

    Exactly one of ``n_steps`` and ``factor`` is set.

    ``factor=k`` shortens every sequence about ``k`` times, to
    ``ceil(T / k)`` steps: ``method="mean"`` averages each block of ``k``
    consecutive steps (the last, partial block over the steps it has), a
    low-pass filter before decimation; ``method="subsample"`` keeps steps
    ``0, k, 2k, ...``. A ragged list stays a ragged list.

    ``n_steps=m`` gives every sequence exactly ``m`` steps, so sequences of
    different lengths, or recorded at different rates, become one
    equal-length 3-D array: **a ragged list in gives a 3-D array out**
    (``(n_samples, m, n_features)``; a 2-D ``X`` gives a 2-D array).
    ``method="linear"`` interpolates each channel (``np.interp``) at ``m``
    positions evenly spaced from the first step to the last (both kept; for
    ``m=1`` only the first). ``method="mean"`` averages, for a sequence of
    ``T >= m`` steps, the ``m`` blocks between the boundaries
    ``np.linspace(0, T, m + 1)`` rounded down (block ``j`` holds steps
    ``j * T // m`` to ``(j + 1) * T // m - 1``); a shorter sequence has
    nothing to average and is interpolated linearly.

    A GRU trains faster on, and remembers across, fewer steps; averaging
    keeps what a step-by-step reading at a coarser rate would see.

    The transformer is stateless: ``fit`` only records the number of
    features. Each ragged sequence is resampled on its own steps.

    Parameters
    ----------
    n_steps : int or None, default=None
        Number of steps of every output sequence.

    factor : int or None, default=None
        Steps per output step.

    method : {"mean", "subsample", "linear"}, default="mean"
        ``"mean"`` (with either), ``"subsample"`` (with ``factor``) or
        ``"linear"`` (with ``n_steps``).

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

    Examples
    --------
    >>> import numpy as np
    >>> from skgru.preprocessing import SequenceResampler
    >>> X = np.arange(7.0).reshape(1, 7)
    >>> SequenceResampler(factor=3).fit_transform(X).tolist()
    [[1.0, 4.0, 6.0]]
    >>> SequenceResampler(factor=3, method="subsample").fit_transform(X).tolist()
    [[0.0, 3.0, 6.0]]
    >>> SequenceResampler(n_steps=3).fit_transform(X).tolist()
    [[0.5, 2.5, 5.0]]
    >>> SequenceResampler(n_steps=4, method="linear").fit_transform(X).tolist()
    [[0.0, 2.0, 4.0, 6.0]]
    >>> SequenceResampler(n_steps=4).fit_transform([np.ones((9, 2)), np.ones((3, 2))]).shape
    (2, 4, 2)
    """

    _parameter_constraints: dict = {
        "n_steps": [None, Interval(Integral, 1, None, closed="left")],
        "factor": [None, Interval(Integral, 1, None, closed="left")],
        "method": [StrOptions({"mean", "subsample", "linear"})],
    }

    def __init__(self, n_steps=None, factor=None, method="mean"):
        self.n_steps = n_steps
        self.factor = factor
        self.method = method

    def _check_params(self):
        if (self.n_steps is None) == (self.factor is None):
            given = "both were given" if self.n_steps is not None else "neither was given"
            raise ValueError(
                f"Set exactly one of n_steps (a fixed output length) or factor (steps per "
                f"output step) of SequenceResampler; {given} "
                f"(n_steps={self.n_steps!r}, factor={self.factor!r})."
            )
        if self.factor is not None and self.method == "linear":
            raise ValueError(
                "method='linear' needs n_steps; with factor, use method='mean' or 'subsample'."
            )
        if self.n_steps is not None and self.method == "subsample":
            raise ValueError(
                "method='subsample' needs factor; with n_steps, use method='mean' or 'linear'."
            )

    def _equal_length_output(self):
        return self.n_steps is not None

    def _transform_values(self, values):
        T = values.shape[1]
        if self.factor is not None:
            k = self.factor
            if self.method == "subsample":
                return values[:, ::k].copy()
            return _block_means(values, np.arange(0, T, k))
        m = self.n_steps
        if self.method == "mean" and T >= m:
            # Integer arithmetic: floor(j * T / m) exactly, which floating-point
            # linspace boundaries may miss by one where j * T / m is an integer.
            return _block_means(values, np.arange(m) * T // m)
        return _interpolate(values, m)

    def transform(self, X):
        """Resample the sequences.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or (n_samples, \
n_timesteps), or list of arrays of shape (T_i, n_features) or (T_i,)
            Sequences, in any format that :class:`~skgru.ConstrainedGRUClassifier`
            accepts, with as many features per step as in ``fit``.

        Returns
        -------
        X_resampled : ndarray of shape (n_samples, n_out, n_features) or \
(n_samples, n_out), or list of ndarray of shape (n_out_i, n_features)
            The resampled sequences, ``n_out = ceil(T / factor)`` or
            ``n_steps``: of the kind of ``X``, except that with ``n_steps``
            a ragged list gives a 3-D array. float32 for float32 input, else
            float64.
        """
        self._validate_params()
        self._check_params()
        return self._transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags
