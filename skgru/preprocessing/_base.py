"""What the sequence transformers share: reading ``X`` and giving back its kind.

Each transformer computes on one padded ``(n, T, F)`` float array of
equal-length sequences (:meth:`_SequenceTransformer._transform_values`,
vectorised with NumPy). A 3-D or 2-D array is passed as it is; a ragged list
is passed one sequence at a time, sliced to its own valid steps, so padding
never enters a result.
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, validate_data

from ..data._sequences import _is_ragged, check_input_array, to_sequences

# float32 input stays float32; every other input becomes float64.
_FLOAT_DTYPES = (np.float64, np.float32)


def _valid_steps(values, lengths):
    """All valid steps of all sequences, ``(n_valid_steps, F)``."""
    if lengths is None:
        return values.reshape(-1, values.shape[2])
    return values[np.arange(values.shape[1]) < lengths[:, None]]


def _ragged_dtype(X):
    """float32 when every sequence of a ragged list is float32, else float64."""
    if all(getattr(x, "dtype", None) == np.float32 for x in X):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


class _SequenceTransformer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Base of the transformers of :mod:`skgru.preprocessing`.

    Subclasses define ``_transform_values(values)`` (``(n, T, F)`` in,
    ``(n, T', F')`` out, a new array), and may define ``_check_params()``
    (checks between parameters), ``_fit_values(values, lengths)`` (fitted
    state) and ``_equal_length_output()`` (True when every output sequence
    has the same length whatever the input lengths).
    """

    # -- input handling ---------------------------------------------------------

    def _validate(self, X, reset):
        """Read ``X`` like the classifier does.

        Returns ``(values, lengths, kind)``: ``values (n, T, F)`` float32 or
        float64, ``lengths`` the valid steps of each sequence (None for an
        array, whose every step is valid) and ``kind`` in ``{"2d", "3d",
        "ragged"}``.
        """
        if _is_ragged(X):
            seqs, kind = to_sequences(X, _ragged_dtype(X))
            self._check_step_features(seqs.n_features, reset, kind)
            return seqs.values, seqs.lengths, kind
        if check_input_array(X) == 3:
            X = check_array(X, dtype=_FLOAT_DTYPES, allow_nd=True, ensure_all_finite=False)
            seqs, kind = to_sequences(X, X.dtype, array_validated=True)
            if seqs.n_features == 0:
                raise ValueError(
                    f"X has 0 features per timestep (shape {X.shape}); at least one is required."
                )
            self._check_step_features(seqs.n_features, reset, kind)
            return seqs.values, None, kind
        # 2-D: as for the classifier, n_features_in_ is the number of columns
        # (scikit-learn's convention), so the length is fixed by fit.
        fitted = hasattr(self, "n_step_features_")
        if reset or (fitted and self._input_kind == "2d"):
            X = validate_data(self, X=X, reset=reset, dtype=_FLOAT_DTYPES, ensure_all_finite=False)
        else:
            X = check_array(X, dtype=_FLOAT_DTYPES, ensure_all_finite=False)
        seqs, kind = to_sequences(X, X.dtype, array_validated=True)
        if reset:
            self._input_kind = "2d"
            self.n_step_features_ = 1
        elif fitted and self._input_kind != "2d":
            self._check_step_features(1, reset, kind)
        return seqs.values, None, kind

    def _check_step_features(self, n_features, reset, kind):
        if reset:
            self._input_kind = kind
            self.n_features_in_ = n_features
            self.n_step_features_ = n_features
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return
        expected = getattr(self, "n_step_features_", None)
        if expected is not None and n_features != expected:
            hint = " (a 2-D X is read as univariate sequences)" if kind == "2d" else ""
            raise ValueError(
                f"X has {n_features} features per timestep{hint}, but {type(self).__name__} "
                f"is expecting {expected} features per timestep as input."
            )

    def _check_params(self):
        """Checks between parameters that ``_parameter_constraints`` cannot express."""

    # -- fit and transform -------------------------------------------------------

    def _fit_values(self, values, lengths):
        """Set the fitted state from what :meth:`_validate` returned."""

    def _equal_length_output(self):
        return False

    def fit(self, X, y=None):
        """Check ``X`` and record its number of features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or (n_samples, \
n_timesteps), or list of arrays of shape (T_i, n_features) or (T_i,)
            Training sequences, in any format that
            :class:`~skgru.ConstrainedGRUClassifier` accepts.

        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The fitted transformer.
        """
        self._validate_params()
        self._check_params()
        values, lengths, _ = self._validate(X, reset=True)
        self._fit_values(values, lengths)
        return self

    def _transform(self, X):
        values, lengths, kind = self._validate(X, reset=False)
        if lengths is None:
            out = self._transform_values(values)
            if kind == "2d" and out.shape[2] == 1:
                return out[:, :, 0]
            return out
        out = [self._transform_values(values[i : i + 1, :L])[0] for i, L in enumerate(lengths)]
        if self._equal_length_output():
            return np.stack(out)
        return out

    def set_output(self, *, transform=None):
        """Accept only the default output container.

        The output holds sequences (a 3-D array, or a list of arrays), which
        a DataFrame cannot carry. This method exists so that
        ``Pipeline.set_output(transform="default")`` works with this step.

        Parameters
        ----------
        transform : {"default"} or None, default=None
            ``"default"`` (NumPy arrays) or None (unchanged).

        Returns
        -------
        self : object
            The estimator, unchanged.
        """
        if transform not in (None, "default"):
            raise ValueError(
                f"{type(self).__name__} only returns NumPy arrays or lists of them; "
                f"set_output(transform={transform!r}) is not supported."
            )
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
