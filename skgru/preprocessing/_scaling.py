"""Z-normalisation of sequences: per sequence, or per channel over the training set."""

from numbers import Real

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import _SequenceTransformer, _valid_steps

__all__ = ["SequenceScaler"]


def _scale(std, epsilon):
    """``std`` with its values below ``epsilon`` set to 1 (a constant is not divided)."""
    return np.where(std < epsilon, 1.0, std)


class SequenceScaler(_SequenceTransformer):
    """Z-normalise sequences, each on its own or per channel.

    ``mode="sequence"`` (the default) scales every sequence and channel by its
    own mean and standard deviation over its own steps: what matters is then
    the shape of a series, not its offset or amplitude, the usual
    preprocessing for shape-based time-series classes (the UCR archive
    distributes its series this way). It is stateless: ``fit`` only records
    the number of features.

    ``mode="channel"`` is :class:`~sklearn.preprocessing.StandardScaler` for
    sequences: the mean and standard deviation of each channel over all steps
    of all training sequences are learnt in ``fit`` (``mean_``, ``scale_``)
    and applied by ``transform``, so offsets and amplitudes that tell the
    classes apart are kept, on a scale that suits the GRU's gates.

    A ragged sequence is scaled on its own steps; padding is never counted.

    Parameters
    ----------
    mode : {"sequence", "channel"}, default="sequence"
        Statistics of each sequence (``"sequence"``) or of the whole training
        set (``"channel"``).

    with_mean : bool, default=True
        Subtract the mean.

    with_std : bool, default=True
        Divide by the standard deviation (``ddof=0``).

    epsilon : float, default=1e-8
        A standard deviation below ``epsilon`` is taken as 1: a constant
        channel is not divided by about 0, so with ``with_mean=True`` it
        becomes zeros (its mean removed).

    Attributes
    ----------
    mean_ : ndarray of shape (n_step_features_,) or None
        Mode ``"channel"``: the mean of each channel over all training steps.
        None when ``with_mean=False`` and ``with_std=False``, and in mode
        ``"sequence"``.

    scale_ : ndarray of shape (n_step_features_,) or None
        Mode ``"channel"``: the standard deviation of each channel over all
        training steps, 1 where it is below ``epsilon``. None when
        ``with_std=False``, and in mode ``"sequence"``.

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
    sklearn.preprocessing.StandardScaler : The same per column of a 2-D array.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru.preprocessing import SequenceScaler
    >>> X = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    >>> SequenceScaler().fit_transform(X).round(3).tolist()
    [[-1.225, 0.0, 1.225], [-1.225, 0.0, 1.225]]
    >>> scaler = SequenceScaler(mode="channel").fit(X)
    >>> scaler.mean_.round(3).tolist(), scaler.scale_.round(3).tolist()
    ([11.0], [10.708])
    >>> SequenceScaler().fit_transform([np.ones(3), np.arange(2.0)])
    [array([[0.],
           [0.],
           [0.]]), array([[-1.],
           [ 1.]])]
    """

    _parameter_constraints: dict = {
        "mode": [StrOptions({"sequence", "channel"})],
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
        "epsilon": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, mode="sequence", *, with_mean=True, with_std=True, epsilon=1e-8):
        self.mode = mode
        self.with_mean = with_mean
        self.with_std = with_std
        self.epsilon = epsilon

    def _fit_values(self, values, lengths):
        self.mean_ = None
        self.scale_ = None
        if self.mode != "channel" or not (self.with_mean or self.with_std):
            return
        # Statistics in float64 whatever the data dtype (as StandardScaler).
        steps = _valid_steps(values, lengths)
        self.mean_ = steps.mean(axis=0, dtype=np.float64)
        if self.with_std:
            self.scale_ = _scale(steps.std(axis=0, dtype=np.float64), self.epsilon)

    def _transform_values(self, values):
        dtype = values.dtype
        if self.mode == "channel":
            mean, scale = self.mean_, self.scale_
        else:
            # Statistics in float64, applied in the data dtype.
            mean = values.mean(axis=1, keepdims=True, dtype=np.float64) if self.with_mean else None
            scale = None
            if self.with_std:
                scale = _scale(values.std(axis=1, keepdims=True, dtype=np.float64), self.epsilon)
        out = values - mean.astype(dtype) if self.with_mean else values.copy()
        if scale is not None:
            out /= scale.astype(dtype)
        return out

    def transform(self, X):
        """Z-normalise the sequences.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or (n_samples, \
n_timesteps), or list of arrays of shape (T_i, n_features) or (T_i,)
            Sequences, in any format that :class:`~skgru.ConstrainedGRUClassifier`
            accepts, with as many features per step as in ``fit``.

        Returns
        -------
        X_scaled : ndarray of the shape of ``X``, or list of ndarray of shape \
(T_i, n_features)
            The scaled sequences, of the kind of ``X``: float32 for float32
            input, else float64.
        """
        if self.mode == "channel":
            check_is_fitted(self, "n_step_features_")
            if (self.with_mean and self.mean_ is None) or (self.with_std and self.scale_ is None):
                raise NotFittedError(
                    "This SequenceScaler was fitted with other parameters "
                    f"(mode={self.mode!r} needs statistics that fit did not compute); "
                    "call fit again."
                )
        else:
            self._validate_params()
        return self._transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = self.mode == "channel"
        return tags
