"""The model in host (NumPy) terms: weight layout, initialisation, output layer, draws.

Parameters are a list in Keras order: ``[embedding (V, D)]`` when the input is
token ids, then for each layer and direction (forward first) ``[W (F_l, 3U),
R (U, 3U), bias]``, then the output layer ``[Wd (nd * U, n_out), bd
(n_out,)]``; ``bias`` is ``(2, 3U)`` when ``reset_after=True`` and ``(3U,)``
otherwise (``docs/gru_equations.rst``). This module holds what does not depend
on where the arithmetic runs: the layout, initialisation, the output layer's
activations and loss, and the dropout and noise draws (always on the host, from
``random_state``).
"""

import numpy as np
from scipy.special import expit, log_expit

__all__ = [
    "init_params",
    "fused_bias",
    "head_loss_grad",
    "head_proba",
    "draw_regularisers",
    "init_embedding",
    "split_params",
]


def split_params(params, embedding, num_layers, bidirectional):
    """``(E or None, blocks, Wd, bd)``; ``blocks[l][d]`` is ``(W, R, bias)``.

    Works on any sequence of arrays in Keras order (host or device arrays).
    """
    k = 1 if embedding else 0
    nd = 2 if bidirectional else 1
    blocks = [
        [tuple(params[k + 3 * (l * nd + d) : k + 3 * (l * nd + d) + 3]) for d in range(nd)]
        for l in range(num_layers)
    ]
    return (params[0] if embedding else None), blocks, params[-2], params[-1]


def _glorot_uniform(rng, shape, dtype):
    fan_in, fan_out = shape
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def _orthogonal(rng, shape, dtype):
    # Keras Orthogonal: QR of a normal (max, min) matrix, sign-fixed, transposed
    # when rows < cols: for (U, 3U) this gives orthonormal rows, as Keras's initializer does.
    rows, cols = shape
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return np.ascontiguousarray(q[:rows, :cols], dtype=dtype)


def init_params(
    rng, n_features, units, n_outputs, reset_after, dtype, num_layers=1, bidirectional=False
):
    """Keras initialisation: glorot-uniform kernels, orthogonal recurrent kernel, zero biases.

    Returns ``[W, R, bias]`` for each layer and direction (layer by layer,
    forward direction first), then ``[Wd, bd]``; layer ``l > 0`` reads the
    ``nd * units`` outputs of the layer below.
    """
    nd = 2 if bidirectional else 1
    params = []
    n_in = n_features
    for _ in range(num_layers):
        for _ in range(nd):
            params.append(_glorot_uniform(rng, (n_in, 3 * units), dtype))
            params.append(_orthogonal(rng, (units, 3 * units), dtype))
            params.append(np.zeros((2, 3 * units) if reset_after else (3 * units,), dtype=dtype))
        n_in = nd * units
    params.append(_glorot_uniform(rng, (nd * units, n_outputs), dtype))
    params.append(np.zeros(n_outputs, dtype=dtype))
    return params


def init_embedding(rng, vocab_size, embedding_dim, dtype):
    """Keras's ``Embedding`` default: uniform(-0.05, 0.05)."""
    return rng.uniform(-0.05, 0.05, size=(vocab_size, embedding_dim)).astype(dtype)


def fused_bias(bias):
    """The kernels' ``(2, 3U)`` bias view of a Keras-shaped bias."""
    if bias.ndim == 2:
        return bias
    return np.stack([bias, np.zeros_like(bias)])


def head_proba(logits, out_activation):
    """Outputs from logits: class probabilities ``(B, K)`` (``[1 - p, p]`` for a
    single logistic column; one probability per label for several logistic
    columns, i.e. multilabel), or the values themselves for ``"identity"``."""
    if out_activation == "identity":
        return logits
    if out_activation == "logistic":
        if logits.shape[1] == 1:
            p = expit(logits[:, 0])
            return np.column_stack([1.0 - p, p])
        return expit(logits)
    return _softmax(logits)


def _softmax(x):
    """Row-wise softmax of a 2-D float array (scipy's formula and result,
    without its array-API dispatch: about 30 us of a 0.5 ms small predict)."""
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _log_softmax(x):
    """Row-wise log-softmax of a 2-D float array (scipy's formula, without its
    array-API dispatch, which cost about 0.15 ms per training step on small
    batches)."""
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def head_loss_grad(logits, Y, w, out_activation):
    """Weighted mean loss and its gradient with respect to the logits.

    ``Y`` is one-hot ``(B, K)`` for softmax, ``(B, K)`` of 0/1 for logistic
    outputs (binary: ``K = 1``; multilabel: the binary cross-entropies of the
    labels are summed, as MLPClassifier does) and real targets for
    ``"identity"`` (half the mean squared error over outputs, MLPRegressor's
    loss). ``w (B,)`` are combined sample and class weights. Returns ``(sum_i
    w_i L_i / sum_i w_i, dlogits, sum_i w_i)`` (``docs/gru_equations.rst``,
    "Output layer and loss").
    """
    logits64 = logits.astype(np.float64)
    w_sum = float(w.sum())
    if out_activation == "identity":
        K = logits.shape[1]
        diff = logits64 - Y
        per_sample = 0.5 * (diff * diff).sum(axis=1) / K
        dlogits = diff * (w / (w_sum * K))[:, None]
    elif out_activation == "logistic":
        per_sample = -(Y * log_expit(logits64) + (1.0 - Y) * log_expit(-logits64)).sum(axis=1)
        dlogits = (expit(logits64) - Y) * (w / w_sum)[:, None]
    else:
        logp = _log_softmax(logits64)
        per_sample = -(Y * logp).sum(axis=1)
        dlogits = (np.exp(logp) - Y) * (w / w_sum)[:, None]
    loss = float((w * per_sample).sum() / w_sum)
    return loss, dlogits.astype(logits.dtype), w_sum


def draw_regularisers(rng, B, T, F, U, *, dropout, recurrent_dropout, input_noise, dtype):
    """Host-side draws for one training batch (variational dropout, Gaussian noise).

    Returns ``(noise (T, B, F) or None, input_mask (B, F) or None, rmask (B, U)
    or None)``. Masks use inverted scaling (kept units divided by the keep
    probability) and are shared by every step of a sequence (Keras's
    variational dropout, one mask shared by the three gates). A rate of 0 or 1
    means no dropout, as in Keras.
    """
    noise = None
    if input_noise > 0:
        noise = rng.normal(0.0, input_noise, size=(T, B, F)).astype(dtype)
    input_mask = None
    if 0.0 < dropout < 1.0:
        keep = 1.0 - dropout
        input_mask = ((rng.random((B, F)) < keep) / keep).astype(dtype)
    rmask = None
    if 0.0 < recurrent_dropout < 1.0:
        keep = 1.0 - recurrent_dropout
        rmask = ((rng.random((B, U)) < keep) / keep).astype(dtype)
    return noise, input_mask, rmask
