"""Turning user input into padded sequence batches with masks.

Accepted numeric inputs (see :func:`to_sequences`):

* a 3-D array ``(n_samples, n_timesteps, n_features)``;
* a 2-D array ``(n_samples, n_timesteps)``, read as univariate sequences;
* a list (or 1-D object array) of 2-D arrays ``(T_i, n_features)`` or 1-D
  arrays ``(T_i,)`` of different lengths (ragged).

and, for a model with an embedding, token ids: a 2-D integer array
``(n_samples, max_len)`` where id 0 is padding (wherever it stands), or a list
of 1-D integer sequences (see :func:`to_token_sequences`).

Internally a data set is a :class:`Sequences`: values padded at the end to the
longest sequence (``(N, T, F)`` floats, or ``(N, T)`` int32 token ids), and a
``(n_samples, T)`` uint8 mask that marks the valid steps. Kernels freeze the
state on masked steps, so padding never changes a result.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils.validation import check_array

__all__ = ["Sequences", "to_sequences", "to_token_sequences", "time_major_batch"]


@dataclass
class Sequences:
    """Padded sequences: ``values (N, T, F)`` and ``mask (N, T)`` (1 = valid)."""

    values: np.ndarray
    mask: np.ndarray

    @property
    def n_samples(self):
        return self.values.shape[0]

    @property
    def is_tokens(self):
        return self.values.ndim == 2

    @property
    def n_features(self):
        return 1 if self.is_tokens else self.values.shape[2]

    @property
    def lengths(self):
        """Number of valid steps of each sequence."""
        return self.mask.sum(axis=1)

    def take(self, idx):
        return Sequences(self.values[idx], self.mask[idx])


def _is_ragged(X):
    if isinstance(X, (list, tuple)):
        return (
            len(X) > 0
            and all(hasattr(x, "__len__") and not isinstance(x, str) for x in X)
            and (any(np.ndim(x) == 2 for x in X) or len({len(x) for x in X}) > 1)
        )
    if isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 1:
        return len(X) > 0 and all(isinstance(x, (np.ndarray, list, tuple)) for x in X)
    return False


_SHAPES = (
    "(n_samples, n_timesteps) univariate sequences, (n_samples, n_timesteps, n_features), "
    "or a list of arrays (T_i,) or (T_i, n_features)"
)


def _check_finite(a, where, axes):
    """Raise a ValueError naming the first NaN or infinity of ``a`` and its position.

    Runs after the cast to the model dtype, so a finite value too large for
    float32 shows up as infinity.
    """
    finite = np.isfinite(a)
    if not finite.all():
        pos = np.unravel_index(int(np.argmin(finite)), a.shape)  # the first False
        if np.isnan(a[pos]):
            what = "NaN"
        else:
            what = f"infinity (or a value too large for {a.dtype})"
        at = ", ".join(f"{axis} {int(i)}" for axis, i in zip(axes, pos))
        raise ValueError(f"Input {where} contains {what} at {at}.")


def check_input_array(X):
    """Check that non-ragged ``X`` can be a real 2-D or 3-D array; return its ``ndim``.

    The conversion is left to scikit-learn's ``check_array``; this only
    replaces its least helpful failures (strings, complex values, wrong
    dimensionality, nested lists of mixed shapes) with messages that say
    what is wrong.
    """
    if not hasattr(X, "ndim"):
        try:
            X = np.asarray(X)
        except ValueError as exc:
            raise ValueError(
                f"X could not be read as an array of sequences ({exc}). Expected {_SHAPES}."
            ) from None
    if not hasattr(X, "dtype"):  # a DataFrame: scikit-learn checks its columns
        return X.ndim
    kind = X.dtype.kind
    strings = kind == "O" and isinstance(X, np.ndarray)
    strings = strings and any(isinstance(v, (str, bytes)) for v in X.flat)
    if kind in "USV" or strings:
        raise TypeError(
            f"X holds strings (dtype {X.dtype}); numeric values are required "
            "(use SequenceVectorizer to turn text into token ids)."
        )
    if kind == "c":
        raise ValueError(
            f"Complex data not supported: X has dtype {X.dtype}; real values are required."
        )
    if X.ndim == 1 and X.shape[0] == 0:
        raise ValueError("X is empty: at least one sequence is required.")
    if X.ndim not in (2, 3):
        raise ValueError(
            f"X has {X.ndim} dimension(s) (shape {X.shape}); expected {_SHAPES}. "
            "Reshape your data, e.g. X.reshape(1, -1) for a single univariate sequence."
        )
    return X.ndim


def _ragged_to_sequences(X, dtype):
    seqs = []
    n_features = None
    for i, x in enumerate(X):
        try:
            a = np.asarray(x)
        except ValueError as exc:
            raise ValueError(f"Sequence {i} could not be converted to an array: {exc}") from None
        if a.dtype.kind in "OUSV":
            raise TypeError(
                f"Sequence {i} has dtype {a.dtype}; numeric values are required "
                "(use SequenceVectorizer for text)."
            )
        if a.dtype.kind == "c":
            raise ValueError(
                f"Complex data not supported: sequence {i} has dtype {a.dtype}; "
                "real values are required."
            )
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2:
            raise ValueError(
                f"Sequence {i} has {a.ndim} dimensions; each sequence must be 1-D (T,) "
                "or 2-D (T, n_features)."
            )
        if a.shape[0] == 0:
            raise ValueError(f"Sequence {i} has length 0; every sequence needs at least one step.")
        if n_features is None:
            n_features = a.shape[1]
        elif a.shape[1] != n_features:
            raise ValueError(
                f"Sequence {i} has {a.shape[1]} features per step but sequence 0 has "
                f"{n_features}; all sequences must have the same number of features."
            )
        a = check_array(
            a, dtype=dtype, ensure_all_finite=False, ensure_min_samples=1, input_name=f"X[{i}]"
        )
        _check_finite(a, f"X[{i}] (sequence {i})", ("timestep", "feature"))
        seqs.append(a)
    T = max(a.shape[0] for a in seqs)
    values = np.zeros((len(seqs), T, n_features), dtype=dtype)
    mask = np.zeros((len(seqs), T), dtype=np.uint8)
    for i, a in enumerate(seqs):
        values[i, : a.shape[0]] = a
        mask[i, : a.shape[0]] = 1
    return Sequences(values, mask)


def to_sequences(X, dtype, *, array_validated=False):
    """Convert ``X`` to :class:`Sequences` of ``dtype``.

    ``array_validated=True`` says that ``X`` is already a finite 2-D or 3-D
    numeric array (the estimator validated it with scikit-learn's tools).
    Returns ``(sequences, kind)`` with ``kind`` in ``{"2d", "3d", "ragged"}``.
    """
    if not array_validated and _is_ragged(X):
        if len(X) == 0:
            raise ValueError("X is empty: at least one sequence is required.")
        return _ragged_to_sequences(X, dtype), "ragged"
    if not array_validated:
        X = check_array(X, dtype=dtype, allow_nd=True, ensure_all_finite=False, ensure_2d=True)
    if X.ndim == 2:
        values = np.ascontiguousarray(X[:, :, None], dtype=dtype)
        kind = "2d"
    elif X.ndim == 3:
        values = np.ascontiguousarray(X, dtype=dtype)
        kind = "3d"
    else:
        raise ValueError(
            f"X has {X.ndim} dimensions; expected (n_samples, n_timesteps) or "
            "(n_samples, n_timesteps, n_features), or a list of 2-D arrays."
        )
    if values.shape[1] == 0:
        raise ValueError("X has 0 timesteps; every sequence needs at least one step.")
    _check_finite(values, "X", ("sample", "timestep", "feature")[: 2 if kind == "2d" else 3])
    mask = np.ones(values.shape[:2], dtype=np.uint8)
    return Sequences(values, mask), kind


def _check_token_ids(ids, vocab_size, where="X"):
    if ids.size and ids.min() < 0:
        i, t = np.argwhere(ids < 0)[0]
        raise ValueError(
            f"{where} contains a negative token id ({ids[i, t]}) at sample {i}, step {t}; "
            "ids must be in [0, vocab_size)."
        )
    if vocab_size is not None and ids.size and ids.max() >= vocab_size:
        i, t = np.argwhere(ids >= vocab_size)[0]
        raise ValueError(
            f"{where} contains token id {ids[i, t]} at sample {i}, step {t}, outside "
            f"[0, vocab_size={vocab_size})."
        )


def _as_integer_ids(a, where):
    a = np.asarray(a)
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.dtype.kind == "b":
        raise TypeError(f"{where} must hold integer token ids, got booleans.")
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise ValueError(f"{where} contains NaN or infinity; token ids must be integers.")
        if (a != np.round(a)).any():
            i = np.argwhere(a != np.round(a))[0]
            raise TypeError(
                f"{where} must hold integer token ids; got the non-integer value "
                f"{a[tuple(i)]!r} at position {tuple(int(v) for v in i)}."
            )
        return a.astype(np.int64)
    raise TypeError(
        f"{where} must hold integer token ids (use SequenceVectorizer to turn text into "
        f"ids), got dtype {a.dtype}."
    )


def to_token_sequences(X, vocab_size=None):
    """Token-id input as :class:`Sequences` (values ``(N, T)`` int32, mask ``ids != 0``).

    ``X`` is a 2-D integer array (already validated for shape) or a list of
    1-D integer sequences of different lengths (padded with 0 at the end).
    Id 0 is padding and is masked wherever it stands.
    """
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim != 2:
            raise ValueError(
                f"Token input must be 2-D (n_samples, max_len), got {X.ndim} dimensions."
            )
        ids = _as_integer_ids(X, "X")
    else:
        rows = []
        for i, x in enumerate(X):
            a = np.asarray(x)
            if a.ndim != 1:
                raise ValueError(
                    f"Sequence {i} of token ids has {a.ndim} dimensions; expected 1-D."
                )
            if a.shape[0] == 0:
                raise ValueError(f"Sequence {i} has length 0; every sequence needs a step.")
            rows.append(_as_integer_ids(a, f"X[{i}]") if a.size else a.astype(np.int64))
        if not rows:
            raise ValueError("X is empty: at least one sequence is required.")
        T = max(len(r) for r in rows)
        ids = np.zeros((len(rows), T), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
    if ids.shape[1] == 0:
        raise ValueError("X has 0 timesteps; every sequence needs at least one step.")
    _check_token_ids(ids, vocab_size)
    ids = ids.astype(np.int32)
    return Sequences(ids, (ids != 0).astype(np.uint8))


def time_major_batch(seqs, idx, dense=False):
    """Gather rows ``idx`` as time-major ``X (Tb, B[, F])`` and ``mask (Tb, B)``.

    ``idx`` holds row indices, or is a slice (then nothing is gathered but
    the one time-major copy).

    Steps that are padding for every row of the batch, before the first valid
    step or after the last, are not computed at all: the state is frozen on
    them, so dropping them is exact. ``dense=True`` says the caller knows
    every step of every row is valid: the mask is then not searched.
    """
    if dense:
        X = np.ascontiguousarray(np.swapaxes(seqs.values[idx], 0, 1))
        return X, np.ones(X.shape[:2], dtype=seqs.mask.dtype)
    mask = seqs.mask[idx]
    valid_any = np.flatnonzero(mask.any(axis=0))
    if len(valid_any):
        start, stop = int(valid_any[0]), int(valid_any[-1]) + 1
    else:
        start, stop = 0, 1
    values = seqs.values[idx, start:stop]
    X = np.ascontiguousarray(np.swapaxes(values, 0, 1))
    M = np.ascontiguousarray(mask[:, start:stop].T)
    return X, M
