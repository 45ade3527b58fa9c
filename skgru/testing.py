"""Tools for testing code built on skgru: gradient checks and hypothesis strategies.

:func:`check_gradients` compares the analytic gradient of a fitted estimator's
training loss with central finite differences and returns a
:class:`GradientCheckReport`. :func:`gru_configs` and :func:`sequence_batches`
are `hypothesis <https://hypothesis.readthedocs.io>`_ strategies for estimator
configurations and batches of (possibly ragged) sequences; hypothesis is needed
only when they are called (``pip install hypothesis``).

skgru's own test suite is written with these tools. A property test in a user's
suite looks like this:

.. code-block:: python

    from hypothesis import given, settings
    from skgru import ConstrainedGRUClassifier
    from skgru.testing import check_gradients, gru_configs, sequence_batches

    @settings(max_examples=20, deadline=None)
    @given(config=gru_configs(dtype="float64"), batch=sequence_batches(n_classes=2))
    def test_gradients(config, batch):
        clf = ConstrainedGRUClassifier(**config, max_iter=1).fit(batch.X, batch.y)
        assert check_gradients(clf, batch.X, batch.y).passed
"""

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

__all__ = [
    "GradientCheckReport",
    "TensorCheck",
    "SequenceBatch",
    "check_gradients",
    "gru_configs",
    "sequence_batches",
]

# Keras names of a GRU block's weights and of the output layer, ``get_weights()`` order.
_WEIGHT_NAMES = ("kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")


def _weight_names(estimator, n_weights, has_embedding):
    """Keras-style names in ``get_weights()`` order; ``l{i}_`` / ``backward_`` prefixes
    for stacked and bidirectional models; ``weight_{i}`` if the count does not fit."""
    num_layers = getattr(estimator, "num_layers", 1)
    directions = ("", "backward_") if getattr(estimator, "bidirectional", False) else ("",)
    names = ["embedding"] if has_embedding else []
    for layer in range(num_layers):
        for direction in directions:
            prefix = (f"l{layer}_" if num_layers > 1 else "") + direction
            names += [prefix + n for n in _WEIGHT_NAMES[:3]]
    names += list(_WEIGHT_NAMES[3:])
    if len(names) != n_weights:
        return [f"weight_{i}" for i in range(n_weights)]
    return names


# -- gradient check -----------------------------------------------------------------


@dataclass
class TensorCheck:
    """Finite-difference comparison for one weight tensor.

    Attributes
    ----------
    name : str
        Keras name of the weight (``"kernel"``, ``"recurrent_kernel"``, ...).
    shape : tuple of int
        Shape of the weight.
    n_checked : int
        Number of entries compared.
    max_abs_error : float
        Largest ``|analytic - numerical|`` over the checked entries.
    max_rel_error : float
        Largest ``|analytic - numerical| / max(|analytic|, |numerical|)`` over
        the checked entries whose gradient exceeds ``atol`` in magnitude (0 if
        there is none).
    passed : bool
        Every checked entry satisfies ``|analytic - numerical| <= atol + rtol *
        max(|analytic|, |numerical|)``.
    """

    name: str
    shape: tuple
    n_checked: int
    max_abs_error: float
    max_rel_error: float
    passed: bool


@dataclass
class GradientCheckReport:
    """Result of :func:`check_gradients`.

    Attributes
    ----------
    tensors : list of TensorCheck
        One entry per weight tensor, in :meth:`get_weights` order.
    loss : float
        Training loss at the estimator's weights.
    eps, rtol, atol : float
        Settings of the check.
    analytic, numerical : list of ndarray
        The two gradients, one array per tensor shaped like the weight;
        unchecked entries (see ``max_entries``) are NaN in ``numerical``.
    """

    tensors: list
    loss: float
    eps: float
    rtol: float
    atol: float
    analytic: list = field(repr=False)
    numerical: list = field(repr=False)

    @property
    def passed(self):
        """True when every tensor passed."""
        return all(t.passed for t in self.tensors)

    @property
    def max_rel_error(self):
        """Largest relative error over all tensors (dict of name to float)."""
        return {t.name: t.max_rel_error for t in self.tensors}

    def __str__(self):
        verdict = "passed" if self.passed else "FAILED"
        w = max([len("tensor")] + [len(t.name) for t in self.tensors]) + 2
        lines = [
            f"Gradient check ({verdict}): loss = {self.loss:.6g}, central differences "
            f"eps={self.eps:g}, rtol={self.rtol:g}, atol={self.atol:g}",
            f"{'tensor':<{w}}{'shape':<14}{'checked':>8}{'max abs err':>14}{'max rel err':>14}  ok",
        ]
        for t in self.tensors:
            lines.append(
                f"{t.name:<{w}}{str(t.shape):<14}{t.n_checked:>8}{t.max_abs_error:>14.3e}"
                f"{t.max_rel_error:>14.3e}  {'yes' if t.passed else 'NO'}"
            )
        return "\n".join(lines)


def _loss_function(estimator, X, y, sample_weight):
    """A float64 CPU trainer on the estimator's training loss, regularisers off."""
    from .data._sequences import Sequences
    from .engine._trainer import Trainer
    from .kernels.cpu._kernel_set import CPUKernelSet

    seqs = estimator._validate_X(X, reset=False)
    if not seqs.is_tokens:
        seqs = Sequences(seqs.values.astype(np.float64), seqs.mask)
    if is_classifier(estimator):
        y = estimator._validate_y(y, seqs.n_samples)
        unseen = np.setdiff1d(np.unique(y), estimator.classes_)
        if len(unseen):
            raise ValueError(
                f"y contains labels {unseen.tolist()} the estimator was not fitted on."
            )
        w = estimator._weights_for(y, sample_weight, seqs)
        Y = estimator._encode_y(y).astype(np.float64)
    else:
        y = estimator._validate_targets(y, seqs.n_samples)
        Y = (y[:, None] if y.ndim == 1 else y).astype(np.float64)
        w = _check_sample_weight(
            sample_weight, seqs.values, dtype=np.float64, ensure_non_negative=True
        )
    if w.sum() <= 0:
        raise ValueError("The sample weights sum to zero; the loss is undefined.")
    # A frozen embedding is checked too: its gradient exists, training just ignores it.
    config = dataclasses.replace(
        estimator._train_config(),
        dropout=0.0,
        recurrent_dropout=0.0,
        input_noise=0.0,
        embedding_trainable=True,
    )
    params = [np.array(p, dtype=np.float64) for p in estimator.get_weights()]
    # loss_and_grads never touches an optimizer.
    trainer = Trainer(CPUKernelSet(np.float64), params, None, config, seqs, Y, w)
    return trainer, np.arange(seqs.n_samples)


def check_gradients(
    estimator,
    X,
    y,
    *,
    eps=1e-6,
    sample_weight=None,
    rtol=1e-5,
    atol=1e-8,
    max_entries=None,
    random_state=None,
):
    """Compare analytic gradients of the training loss with central differences.

    The loss is the one ``fit`` minimises (sample- and class-weighted mean
    cross-entropy, or squared error for a regressor, plus the L2 term
    ``alpha``) on the whole of ``(X, y)``, at a
    float64 copy of the estimator's weights, with dropout and input noise off.
    The analytic gradient comes from the CPU kernel set (the same code that
    trains); each numerical entry is ``(L(w + eps) - L(w - eps)) / (2 eps)``.
    The estimator is not modified.

    Parameters
    ----------
    estimator : fitted ConstrainedGRUClassifier or ConstrainedGRURegressor
        The weights at which the gradient is checked (any ``dtype``; the check
        runs in float64).
    X : array-like or list of arrays
        Sequences, as accepted by ``fit``.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Labels among the estimator's ``classes_`` (or regression targets).
    eps : float, default=1e-6
        Finite-difference step.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights of the loss.
    rtol, atol : float, default=1e-5, 1e-8
        An entry passes when ``|analytic - numerical| <= atol + rtol *
        max(|analytic|, |numerical|)``.
    max_entries : int or None, default=None
        Check at most this many randomly chosen entries per tensor (every
        entry with ``None``); each entry costs two evaluations of the loss.
    random_state : int, Generator or None, default=None
        Chooses the entries when ``max_entries`` is set.

    Returns
    -------
    report : GradientCheckReport
        ``report.passed`` says whether every tensor passed; ``print(report)``
        shows a table of the largest absolute and relative error per tensor.

    Examples
    --------
    >>> import numpy as np
    >>> import warnings
    >>> from skgru import ConstrainedGRUClassifier
    >>> from skgru.testing import check_gradients
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(int(n), 2)) for n in rng.integers(1, 6, size=8)]
    >>> y = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     clf = ConstrainedGRUClassifier(units=3, max_iter=2, dtype="float64",
    ...                                    random_state=0).fit(X, y)
    >>> report = check_gradients(clf, X, y)
    >>> report.passed
    True
    >>> [t.name for t in report.tensors]
    ['kernel', 'recurrent_kernel', 'bias', 'dense_kernel', 'dense_bias']
    """
    check_is_fitted(estimator, "_weights")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}.")
    trainer, idx = _loss_function(estimator, X, y, sample_weight)
    has_embedding = trainer.config.embedding

    # A generator, not None: the trainer treats rng=None as inference (no
    # stored activations); with dropout and noise off it draws nothing.
    def loss_at():
        return trainer.loss_and_grads(idx, np.random.default_rng(0))[0]

    loss, grads, _ = trainer.loss_and_grads(idx, np.random.default_rng(0))
    if has_embedding:
        rows, grad_rows = grads[0]
        dense = np.zeros_like(trainer.param_arrays[0])
        dense[rows] = grad_rows
        grads[0] = dense
    analytic = [np.asarray(g, dtype=np.float64).reshape(p.shape) for g, p in
                zip(grads, trainer.param_arrays)]  # fmt: skip
    names = _weight_names(estimator, len(trainer.param_arrays), has_embedding)
    rng = np.random.default_rng(random_state)
    tensors, numerical = [], []
    for name, p, a in zip(names, trainer.param_arrays, analytic):
        flat = p.reshape(-1)  # a view: the trainer reads these parameters
        entries = np.arange(flat.size)
        if max_entries is not None and flat.size > max_entries:
            entries = np.sort(rng.choice(flat.size, size=max_entries, replace=False))
        num = np.full(flat.size, np.nan)
        for j in entries:
            old = flat[j]
            flat[j] = old + eps
            plus = loss_at()
            flat[j] = old - eps
            minus = loss_at()
            flat[j] = old
            num[j] = (plus - minus) / (2 * eps)
        a_chk, n_chk = a.reshape(-1)[entries], num[entries]
        diff = np.abs(a_chk - n_chk)
        scale = np.maximum(np.abs(a_chk), np.abs(n_chk))
        big = scale > atol
        tensors.append(
            TensorCheck(
                name=name,
                shape=tuple(p.shape),
                n_checked=len(entries),
                max_abs_error=float(diff.max(initial=0.0)),
                max_rel_error=float((diff[big] / scale[big]).max(initial=0.0)),
                passed=bool(np.all(diff <= atol + rtol * scale)),
            )
        )
        numerical.append(num.reshape(p.shape))
    return GradientCheckReport(
        tensors=tensors,
        loss=float(loss),
        eps=eps,
        rtol=rtol,
        atol=atol,
        analytic=analytic,
        numerical=numerical,
    )


# -- hypothesis strategies ------------------------------------------------------------


def _hypothesis():
    try:
        import hypothesis.extra.numpy as hnp
        import hypothesis.strategies as st
    except ImportError as exc:
        raise ImportError(
            "The strategies of skgru.testing need hypothesis: pip install hypothesis "
            "(or pip install skgru[test])."
        ) from exc
    return st, hnp


def _as_strategy(st, value, default):
    if value is None:
        return default
    if isinstance(value, st.SearchStrategy):
        return value
    return st.just(value)


def gru_configs(*, units=None, reset_after=None, dtype=None, pooling=None, **fixed):
    """Hypothesis strategy for estimator parameters (a dict for ``**`` use).

    Each argument is a plain value (always used), a hypothesis strategy, or
    ``None`` for the default strategy.

    Parameters
    ----------
    units : int, strategy or None, default=None
        Hidden units; default ``integers(1, 6)``.
    reset_after : bool, strategy or None, default=None
        Default ``booleans()``.
    dtype : {"float32", "float64"}, strategy or None, default=None
        Default: either.
    pooling : {"last", "mean", "max"}, strategy or None, default=None
        Default: any of the three.
    **fixed
        Further estimator parameters copied into every dict (for example
        ``max_iter=1, random_state=0``).

    Returns
    -------
    strategy : hypothesis.strategies.SearchStrategy of dict
        Dicts with keys ``units``, ``reset_after``, ``dtype``, ``pooling`` and
        those of ``fixed``.

    Examples
    --------
    >>> from skgru.testing import gru_configs
    >>> config = gru_configs(units=3, reset_after=True, max_iter=1).example()  # doctest: +SKIP
    >>> sorted(config)  # doctest: +SKIP
    ['dtype', 'max_iter', 'pooling', 'reset_after', 'units']
    """
    st, _ = _hypothesis()
    parts = {
        "units": _as_strategy(st, units, st.integers(1, 6)),
        "reset_after": _as_strategy(st, reset_after, st.booleans()),
        "dtype": _as_strategy(st, dtype, st.sampled_from(["float32", "float64"])),
        "pooling": _as_strategy(st, pooling, st.sampled_from(["last", "mean", "max"])),
    }
    return st.fixed_dictionaries(parts).map(lambda d: {**d, **fixed})


@dataclass
class SequenceBatch:
    """A batch of sequences drawn by :func:`sequence_batches`.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_timesteps, n_features) or list of ndarray
        What to pass to ``fit`` / ``predict``: a 3-D array (every sequence
        full length) or a ragged list of ``(length_i, n_features)`` arrays.
    values : ndarray of shape (n_samples, n_timesteps, n_features)
        The same sequences padded with zeros at the end.
    mask : ndarray of shape (n_samples, n_timesteps), dtype bool
        True on valid steps.
    lengths : ndarray of shape (n_samples,)
        Valid steps per sequence (at least 1).
    y : ndarray of shape (n_samples,) or None
        Labels in ``range(n_classes)``, every class present, when
        ``n_classes`` was given.
    """

    X: object
    values: np.ndarray
    mask: np.ndarray
    lengths: np.ndarray
    y: np.ndarray | None = None

    @property
    def ragged(self):
        """True when ``X`` is a list of arrays."""
        return isinstance(self.X, list)


def sequence_batches(
    *,
    n_samples=None,
    n_features=None,
    max_length=6,
    ragged=None,
    dtype=None,
    elements=None,
    n_classes=None,
):
    """Hypothesis strategy for batches of sequences (:class:`SequenceBatch`).

    Each argument is a plain value, a hypothesis strategy, or ``None`` for
    the default strategy.

    Parameters
    ----------
    n_samples : int, strategy or None, default=None
        Default ``integers(max(1, n_classes), 8)``.
    n_features : int, strategy or None, default=None
        Default ``integers(1, 3)``.
    max_length : int, default=6
        Longest sequence; lengths are drawn in ``[1, max_length]``.
    ragged : bool, strategy or None, default=None
        ``True`` gives a list of arrays of drawn lengths (padded at the end in
        ``values``), ``False`` a 3-D array of one drawn length; default either.
    dtype : {"float32", "float64"}, strategy or None, default=None
        dtype of the values; default either.
    elements : strategy or None, default=None
        Strategy for the values; default finite floats in [-3, 3].
    n_classes : int or None, default=None
        Also draw labels ``y`` in ``range(n_classes)`` with every class
        present (``n_samples`` is then at least ``n_classes``).

    Returns
    -------
    strategy : hypothesis.strategies.SearchStrategy of SequenceBatch

    Examples
    --------
    >>> from skgru.testing import sequence_batches
    >>> batch = sequence_batches(n_features=2, ragged=True).example()  # doctest: +SKIP
    >>> batch.values.shape[2], batch.mask.sum() == batch.lengths.sum()  # doctest: +SKIP
    (2, True)
    """
    st, hnp = _hypothesis()
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}.")
    if n_classes is not None and n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}.")
    min_n = 1 if n_classes is None else n_classes
    n_samples_st = _as_strategy(st, n_samples, st.integers(min_n, max(min_n, 8)))
    n_features_st = _as_strategy(st, n_features, st.integers(1, 3))
    ragged_st = _as_strategy(st, ragged, st.booleans())
    dtype_st = _as_strategy(st, dtype, st.sampled_from(["float32", "float64"]))

    @st.composite
    def draw_batch(draw):
        n = draw(n_samples_st)
        if n_classes is not None and n < n_classes:
            raise ValueError(f"n_samples={n} is smaller than n_classes={n_classes}.")
        F = draw(n_features_st)
        dt = np.dtype(draw(dtype_st))
        is_ragged = draw(ragged_st)
        if is_ragged:
            lengths = np.array(
                draw(st.lists(st.integers(1, max_length), min_size=n, max_size=n)), dtype=np.int64
            )
        else:
            lengths = np.full(n, draw(st.integers(1, max_length)), dtype=np.int64)
        T = int(lengths.max())
        elem = elements
        if elem is None:
            elem = st.floats(-3, 3, allow_nan=False, allow_infinity=False, width=8 * dt.itemsize)
        values = draw(hnp.arrays(dt, (n, T, F), elements=elem))
        mask = np.arange(T)[None, :] < lengths[:, None]
        values[~mask] = 0
        X = [values[i, : lengths[i]].copy() for i in range(n)] if is_ragged else values.copy()
        y = None
        if n_classes is not None:
            rest = draw(st.lists(st.integers(0, n_classes - 1), min_size=n - n_classes,
                                 max_size=n - n_classes))  # fmt: skip
            y = np.array(draw(st.permutations(list(range(n_classes)) + rest)), dtype=np.int64)
        return SequenceBatch(X=X, values=values, mask=mask, lengths=lengths, y=y)

    return draw_batch()
