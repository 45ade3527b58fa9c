"""Gradient attributions per step and input channel, from the training backward pass.

The gradient of one output (a class probability, a logit, or a regression
output) with respect to every input value is the backward pass of training
(:func:`skgru.engine._stack.backward`) seeded with that output's gradient
instead of the loss's: the same kernels that fit the model, so the
attributions follow the exact GRU equations, masking included (a masked step,
padding wherever it stands, has a zero gradient: the state skips it).
"""

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from ..data._sequences import _is_ragged
from ..engine import _stack
from ..kernels.cpu._kernel_set import CPUKernelSet
from ..model._network import head_proba, split_params

__all__ = ["saliency", "integrated_gradients"]

# Samples per forward/backward pass: bounds the stored gates (T * B * 4U).
_BATCH = 256


def _check_estimator(estimator, output):
    check_is_fitted(estimator, "_weights")
    if estimator.device == "cuda":
        raise ValueError(
            "Attributions run on the CPU only; set the estimator's device to 'cpu' (its "
            "fitted weights are NumPy arrays)."
        )
    classifier = is_classifier(estimator)
    allowed = ("proba", "logit") if classifier else ("prediction",)
    if output is None:
        output = allowed[0]
    if output not in allowed:
        raise ValueError(
            f"output must be one of {allowed} for a {type(estimator).__name__}, got {output!r}."
        )
    return output


def _target_columns(estimator, target, n, logits):
    """Per sample, the index of the output differentiated (and its label)."""
    if is_classifier(estimator):
        classes = estimator.classes_
        if target is None:
            proba = head_proba(logits, estimator.out_activation_)
            if estimator._multilabel:
                raise ValueError("For a multilabel model, name the label: target=<label index>.")
            idx = np.argmax(proba, axis=1)
        else:
            labels = np.broadcast_to(np.asarray(target), (n,))
            idx = np.searchsorted(classes, labels)
            bad = (idx >= len(classes)) | (classes[np.minimum(idx, len(classes) - 1)] != labels)
            if bad.any():
                raise ValueError(
                    f"target {labels[np.argmax(bad)]!r} is not one of classes_ {classes.tolist()}."
                )
        return idx, classes[idx]
    n_out = logits.shape[1]
    idx = (
        np.zeros(n, dtype=np.int64) if target is None else np.broadcast_to(np.asarray(target), (n,))
    )
    if idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= n_out:
        raise ValueError(f"target must be an output index in [0, {n_out}), got {target!r}.")
    return idx.astype(np.int64), idx.astype(np.int64)


def _output_and_grad(estimator, logits, idx, output):
    """The differentiated value per sample and its gradient on the logits."""
    logits = logits.astype(np.float64)
    B, K = logits.shape
    rows = np.arange(B)
    d = np.zeros_like(logits)
    act = getattr(estimator, "out_activation_", "identity")
    if act == "identity" or (output == "logit" and act == "softmax"):
        value = logits[rows, idx]
        d[rows, idx] = 1.0
    elif act == "logistic" and K == 1:  # binary: column 0 is class 1's logit
        z = logits[:, 0]
        sign = np.where(idx == 1, 1.0, -1.0)
        if output == "logit":
            value, d[:, 0] = sign * z, sign
        else:
            p1 = head_proba(logits, act)[:, 1]
            value = np.where(idx == 1, p1, 1.0 - p1)
            d[:, 0] = sign * p1 * (1.0 - p1)
    elif act == "logistic":  # multilabel: one logistic output per label
        z = logits[rows, idx]
        if output == "logit":
            value = z
            d[rows, idx] = 1.0
        else:
            p = 1.0 / (1.0 + np.exp(-z))
            value = p
            d[rows, idx] = p * (1.0 - p)
    else:  # softmax probability
        p = head_proba(logits, act)
        value = p[rows, idx]
        d = -p * value[:, None]
        d[rows, idx] += value
    return value, d


class _Model:
    """A fitted estimator's network on the CPU kernel set, for input gradients."""

    def __init__(self, estimator):
        self.est = estimator
        self.config = estimator._train_config()
        self.dtype = np.dtype(estimator._weights[-1].dtype)
        self.ks = CPUKernelSet(self.dtype, self.config.n_threads)
        cfg = self.config
        self.E, self.blocks, self.Wd, self.bd = split_params(
            estimator._weights, cfg.embedding, cfg.num_layers, cfg.bidirectional
        )

    def embed(self, ids):
        return np.ascontiguousarray(self.E[ids], dtype=self.dtype)

    def logits(self, X, mask):
        """Forward only (inference arithmetic): logits ``(B, K)``."""
        ks = self.ks
        with ks.session():
            out, final, _ = _stack.forward(ks, X, mask, self.blocks, self.config, training=False)
            pooled, _ = ks.pool(out, final, mask, self.config.pooling)
            return ks.logits(np.ascontiguousarray(pooled), self.Wd, self.bd)

    def gradient(self, X, mask, idx, output):
        """``(value (B,), dvalue/dX (T, B, F))`` for the chosen output of each sample."""
        ks, cfg = self.ks, self.config
        with ks.session():
            out, final, runs = _stack.forward(ks, X, mask, self.blocks, cfg, training=True)
            pooled, aux = ks.pool(out, final, mask, cfg.pooling)
            logits = pooled.astype(np.float64) @ self.Wd + self.bd
            value, dlogits = _output_and_grad(self.est, logits, idx, output)
            d_pooled = np.ascontiguousarray((dlogits @ self.Wd.T).astype(self.dtype))
            dOut, d_final = ks.pool_backward(d_pooled, mask, cfg.pooling, aux, X.shape[0])
            grads = [[tuple(np.zeros_like(p) for p in b) for b in layer] for layer in self.blocks]
            dX = _stack.backward(ks, runs, self.blocks, grads, cfg, dOut, d_final, True)
            return value, np.array(dX, dtype=np.float64)


def _prepare(estimator, X):
    """Validated padded input: ``(values (N, T[, F]), mask (N, T), layout)``."""
    seqs = estimator._check_X_predict(X)
    tokens = seqs.is_tokens
    ragged = _is_ragged(X) or (tokens and isinstance(X, (list, tuple)))
    if tokens:
        layout = "ragged_tokens" if ragged else "tokens"
    elif ragged:
        layout = "ragged"
    elif np.ndim(X) == 2:
        layout = "2d"
    else:
        layout = "3d"
    return seqs, layout


def _shape_like_input(estimator, A, seqs, layout):
    """Attributions ``(N, T, F)`` (or ``(N, T)`` for tokens) in the layout of ``X``."""
    channels_first = getattr(estimator, "data_format", "channels_last") == "channels_first"
    if layout in ("ragged", "ragged_tokens"):
        out = [A[i, :n] for i, n in enumerate(seqs.lengths)]
        if layout == "ragged" and channels_first:
            out = [a.T for a in out]
        return out
    if layout == "2d":
        return A[:, :, 0]
    if layout == "3d" and channels_first:
        return np.ascontiguousarray(np.swapaxes(A, 1, 2))
    return A


def _resolve_targets(model, seqs, target):
    """Per sample, the output index differentiated and its label, chosen at ``X``."""
    N = seqs.n_samples
    if target is not None and np.ndim(target) and len(np.asarray(target)) != N:
        raise ValueError(f"target has {len(np.asarray(target))} entries for {N} samples.")
    logits = np.empty((N, model.Wd.shape[1]))
    for rows in _batches(N):
        Xb, mask, _ = _time_major(model, seqs, rows)
        logits[rows] = model.logits(Xb, mask)
    return _target_columns(model.est, target, N, logits)


def _batches(n):
    return [slice(s, min(s + _BATCH, n)) for s in range(0, n, _BATCH)]


def _time_major(model, seqs, rows):
    values = seqs.values[rows]
    mask = np.ascontiguousarray(seqs.mask[rows].T)
    if seqs.is_tokens:
        ids = values
        return model.embed(ids.T), mask, ids
    return np.ascontiguousarray(np.swapaxes(values, 0, 1), dtype=model.dtype), mask, None


def saliency(estimator, X, *, target=None, output=None):
    """Gradient of one output with respect to every input value (vanilla saliency).

    For each sequence, the derivative of the chosen output (by default the
    probability of the predicted class) with respect to each input value at
    each step: ``attributions[i, t, f] = d output_i / d X[i, t, f]``. Masked
    steps (padding) get 0. Computed by the training backward pass of the
    estimator's own kernels, on the CPU, in the model's ``dtype``.

    Parameters
    ----------
    estimator : fitted ConstrainedGRUClassifier or ConstrainedGRURegressor
    X : array-like or list of arrays
        Sequences, as ``predict`` accepts them.
    target : label, array-like of labels, int or None, default=None
        Classifier: the class whose output is differentiated (a label of
        ``classes_``, one for all samples or one per sample; ``None``: each
        sample's predicted class; a multilabel model needs the label index).
        Regressor: the output index (``None``: 0).
    output : {"proba", "logit"} or None, default=None
        Classifier: differentiate the class probability (default) or its
        logit (for two classes, the log-odds of the class). A regressor
        differentiates its prediction.

    Returns
    -------
    result : Bunch
        ``attributions``: the gradient, shaped like ``X`` (``(n_samples,
        n_timesteps, n_features)``, ``(n_samples, n_timesteps)`` for 2-D
        univariate input, a list of ``(T_i, n_features)`` arrays for ragged
        input). For token ids the gradient on each embedded vector times
        that vector, summed over the embedding (gradient x input), ``(n_samples,
        n_timesteps)`` or a list. ``target``: the label (or output index)
        differentiated per sample. ``outputs``: its value per sample.

    See Also
    --------
    integrated_gradients : Attributions that add up to the change of the output.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru import ConstrainedGRUClassifier
    >>> from skgru.inspection import saliency
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 6, 2))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = ConstrainedGRUClassifier(units=4, max_iter=20, random_state=0).fit(X, y)
    >>> result = saliency(clf, X[:3])
    >>> result.attributions.shape
    (3, 6, 2)
    """
    output = _check_estimator(estimator, output)
    model = _Model(estimator)
    seqs, layout = _prepare(estimator, X)
    N, T = seqs.mask.shape
    width = 1 if seqs.is_tokens else seqs.values.shape[2]
    A = np.zeros((N, T, width))
    values = np.zeros(N)
    idx_all, labels = _resolve_targets(model, seqs, target)
    for rows in _batches(N):
        Xb, mask, ids = _time_major(model, seqs, rows)
        v, g = model.gradient(Xb, mask, idx_all[rows], output)
        g = np.swapaxes(g, 0, 1)  # (B, T, F)
        if ids is not None:  # gradient x input, summed over the embedding
            g = (g * np.swapaxes(Xb, 0, 1)).sum(axis=2, keepdims=True)
        A[rows] = g
        values[rows] = v
    A = A[:, :, 0] if seqs.is_tokens else A
    return Bunch(
        attributions=_shape_like_input(estimator, A, seqs, layout),
        target=labels,
        outputs=values,
    )


def integrated_gradients(
    estimator,
    X,
    *,
    target=None,
    baseline=None,
    n_steps=50,
    method="gausslegendre",
    output=None,
):
    """Integrated gradients (Sundararajan et al., 2017) per step and input channel.

    ``attributions[i, t, f] = (X - B)[i, t, f] * integral_0^1 d output_i / d
    X[i, t, f] at B + a (X - B) da`` for a baseline ``B``: the attributions of
    a sequence add up to ``output(X) - output(B)`` (completeness), up to the
    quadrature error reported in ``delta``. The path keeps the mask: padding
    stays padding, and masked steps get 0. Computed by the training backward
    pass of the estimator's own kernels, on the CPU, in the model's
    ``dtype`` (float64 gives the smallest ``delta``).

    Parameters
    ----------
    estimator : fitted ConstrainedGRUClassifier or ConstrainedGRURegressor
    X : array-like or list of arrays
        Sequences, as ``predict`` accepts them.
    target : label, array-like of labels, int or None, default=None
        As in :func:`saliency`; chosen at ``X``, not along the path.
    baseline : float, array-like or None, default=None
        The reference input: ``None`` is all zeros (for token ids, a zero
        embedding vector at each valid step); a number is that constant; an
        array of shape ``(n_features,)`` is a per-channel value (a training
        mean, say); an array shaped like a padded ``X`` (``(n_samples,
        n_timesteps, n_features)``) gives every value.
    n_steps : int, default=50
        Quadrature nodes along the path. A confident model's output can jump
        within a short stretch of the path, which few nodes miss: a large
        ``delta`` says to use more.
    method : {"gausslegendre", "riemann_trapezoid"}, default="gausslegendre"
        Quadrature rule (Gauss-Legendre nodes on [0, 1], as Captum's
        default, or the trapezoidal rule).
    output : {"proba", "logit"} or None, default=None
        As in :func:`saliency`.

    Returns
    -------
    result : Bunch
        ``attributions`` (shaped as in :func:`saliency`; token ids: summed
        over the embedding, one value per token), ``target``, ``outputs``
        (the output at ``X``), ``baseline_outputs`` (at the baseline) and
        ``delta``: ``sum(attributions) - (outputs - baseline_outputs)`` per
        sample.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru import ConstrainedGRUClassifier
    >>> from skgru.inspection import integrated_gradients
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 6, 2))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = ConstrainedGRUClassifier(units=4, max_iter=20, dtype="float64",
    ...                                random_state=0).fit(X, y)
    >>> result = integrated_gradients(clf, X[:3])
    >>> bool(np.abs(result.delta).max() < 1e-6)
    True
    """
    output = _check_estimator(estimator, output)
    if int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}.")
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(int(n_steps))
        alphas, weights = (nodes + 1) / 2, weights / 2
    elif method == "riemann_trapezoid":
        if n_steps < 2:
            raise ValueError("riemann_trapezoid needs n_steps >= 2.")
        alphas = np.linspace(0.0, 1.0, int(n_steps))
        weights = np.full(int(n_steps), 1.0 / (n_steps - 1))
        weights[[0, -1]] /= 2
    else:
        raise ValueError(f"method must be 'gausslegendre' or 'riemann_trapezoid', got {method!r}.")
    model = _Model(estimator)
    seqs, layout = _prepare(estimator, X)
    N, T = seqs.mask.shape
    width = model.E.shape[1] if seqs.is_tokens else seqs.values.shape[2]
    base = _baseline(estimator, baseline, seqs, width)
    A = np.zeros((N, T, 1 if seqs.is_tokens else width))
    values, base_values = np.zeros(N), np.zeros(N)
    idx_all, labels = _resolve_targets(model, seqs, target)
    for rows in _batches(N):
        Xb, mask, _ = _time_major(model, seqs, rows)
        Bb = np.broadcast_to(np.swapaxes(base[rows], 0, 1), Xb.shape).astype(np.float64)
        diff = Xb.astype(np.float64) - Bb
        idx = idx_all[rows]
        total = np.zeros(Xb.shape)
        for a, w in zip(alphas, weights):
            point = np.ascontiguousarray(Bb + a * diff, dtype=model.dtype)
            _, g = model.gradient(point, mask, idx, output)
            total += w * g
        attr = np.swapaxes(total * diff, 0, 1)  # (B, T, F)
        if seqs.is_tokens:
            attr = attr.sum(axis=2, keepdims=True)
        A[rows] = attr
        values[rows] = _output_and_grad(estimator, model.logits(Xb, mask), idx, output)[0]
        Bx = np.ascontiguousarray(Bb, dtype=model.dtype)
        base_values[rows] = _output_and_grad(estimator, model.logits(Bx, mask), idx, output)[0]
    delta = A.reshape(N, -1).sum(axis=1) - (values - base_values)
    A = A[:, :, 0] if seqs.is_tokens else A
    return Bunch(
        attributions=_shape_like_input(estimator, A, seqs, layout),
        target=labels,
        outputs=values,
        baseline_outputs=base_values,
        delta=delta,
    )


def _baseline(estimator, baseline, seqs, width):
    """The baseline as ``(N, T, width)`` (broadcastable), in the model's layout."""
    N, T = seqs.mask.shape
    if baseline is None:
        return np.zeros((N, 1, width))
    b = np.asarray(baseline, dtype=np.float64)
    if not np.isfinite(b).all():
        raise ValueError("baseline contains NaN or infinity.")
    if b.ndim == 0:
        return np.full((N, 1, width), float(b))
    if b.ndim == 1:
        if b.shape[0] != width:
            raise ValueError(f"A 1-D baseline needs {width} values (one per channel).")
        return np.broadcast_to(b, (N, 1, width))
    if getattr(estimator, "data_format", "channels_last") == "channels_first" and b.ndim == 3:
        b = np.swapaxes(b, 1, 2)
    if b.ndim == 2 and width == 1:
        b = b[:, :, None]
    if b.shape != (N, T, width):
        raise ValueError(
            f"baseline has shape {np.shape(baseline)}; expected a number, ({width},) or the "
            f"padded input's shape {(N, T, width)}."
        )
    return b
