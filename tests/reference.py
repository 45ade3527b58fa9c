"""Plain-NumPy float64 reference ("oracle") for the skgru GRU classifier.

Written for clarity, not speed: explicit loops over time, one step at a time.
This module must never import anything from ``skgru``; the fast kernels are
tested against it.  Equations follow ``docs/gru_equations.rst`` (Keras 3
GRU, column blocks [z | r | h], state frozen on masked steps,
back-propagation through time) and scikit-learn's MLP for the L2 term.

Shapes: B batch, T timesteps, F input features, U units, K head outputs.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "sigmoid",
    "gru_forward",
    "gru_backward",
    "gru_loss_and_grads",
    "predict_proba_reference",
    "numerical_gradient",
    "model_forward",
    "model_loss_and_grads",
    "fit_reference",
]


def sigmoid(x):
    """Numerically stable logistic function (never overflows ``exp``)."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))  # in (0, 1]
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _split_bias(b, U, reset_after):
    """Return (input bias (3U,), recurrent bias (3U,) or None)."""
    b = np.asarray(b, dtype=np.float64)
    if reset_after:
        if b.shape != (2, 3 * U):
            raise ValueError(f"reset_after=True needs bias of shape (2, {3 * U}), got {b.shape}")
        return b[0], b[1]
    if b.shape != (3 * U,):
        raise ValueError(f"reset_after=False needs bias of shape ({3 * U},), got {b.shape}")
    return b, None


def gru_forward(x, W, R, b, mask=None, h0=None, reset_after=True, rmask=None):
    """Keras-3 GRU forward pass over a batch-major sequence.

    Parameters
    ----------
    x : (B, T, F) inputs.
    W : (F, 3U) kernel, column blocks [z | r | h].
    R : (U, 3U) recurrent kernel, column blocks [z | r | h].
    b : (2, 3U) if ``reset_after`` (row 0 input bias, row 1 recurrent bias),
        else (3U,) (input bias only).
    mask : (B, T) bool, True = valid step.  Default: all True.  On a masked
        step the state is carried unchanged.
    h0 : (B, U) initial state.  Default: zeros.
    rmask : (B, U) recurrent dropout mask (Keras's variational form, one
        mask for the three gates): the state entering the recurrent products
        is ``h * rmask``; the update ``z * h`` uses ``h`` itself.

    Returns
    -------
    h_seq : (B, T, U) state after each step (the carried state on masked steps).
    cache : dict with everything ``gru_backward`` needs:
        ``x, W, R, b, mask, h0, reset_after`` (float64 / bool copies) and the
        per-step arrays, each (B, T, U): ``h_prev`` (state entering the step),
        ``z``, ``r``, ``n`` (gate values, computed even on masked steps),
        ``m_n`` (reset_after=True: h_prev @ R_n + b_h_n, else zeros) and
        ``rh`` (reset_after=False: r * h_prev, else zeros); plus ``h_seq``.
    """
    x = np.asarray(x, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"x must be (B, T, F), got shape {x.shape}")
    B, T, F = x.shape
    U = R.shape[0]
    if W.shape != (F, 3 * U) or R.shape != (U, 3 * U):
        raise ValueError(f"bad weight shapes W{W.shape} R{R.shape} for F={F}, U={U}")
    b_i, b_h = _split_bias(b, U, reset_after)
    b = np.asarray(b, dtype=np.float64).copy()

    if mask is None:
        mask = np.ones((B, T), dtype=bool)
    mask = np.asarray(mask).astype(bool)
    if mask.shape != (B, T):
        raise ValueError(f"mask must be ({B}, {T}), got {mask.shape}")
    if h0 is None:
        h0 = np.zeros((B, U))
    h0 = np.asarray(h0, dtype=np.float64)
    if h0.shape != (B, U):
        raise ValueError(f"h0 must be ({B}, {U}), got {h0.shape}")

    Wz, Wr, Wn = W[:, :U], W[:, U : 2 * U], W[:, 2 * U :]
    Rz, Rr, Rn = R[:, :U], R[:, U : 2 * U], R[:, 2 * U :]

    h_seq = np.zeros((B, T, U))
    h_prev_all = np.zeros((B, T, U))
    z_all = np.zeros((B, T, U))
    r_all = np.zeros((B, T, U))
    n_all = np.zeros((B, T, U))
    m_n_all = np.zeros((B, T, U))
    rh_all = np.zeros((B, T, U))

    rm = np.ones((B, U)) if rmask is None else np.asarray(rmask, dtype=np.float64)
    h = h0.copy()
    for t in range(T):
        xt = x[:, t, :]
        hm = h * rm
        a_z = xt @ Wz + b_i[:U]
        a_r = xt @ Wr + b_i[U : 2 * U]
        a_n = xt @ Wn + b_i[2 * U :]
        if reset_after:
            m_z = hm @ Rz + b_h[:U]
            m_r = hm @ Rr + b_h[U : 2 * U]
            m_n = hm @ Rn + b_h[2 * U :]
            z = sigmoid(a_z + m_z)
            r = sigmoid(a_r + m_r)
            n = np.tanh(a_n + r * m_n)
            m_n_all[:, t] = m_n
        else:
            z = sigmoid(a_z + hm @ Rz)
            r = sigmoid(a_r + hm @ Rr)
            rh = r * hm
            n = np.tanh(a_n + rh @ Rn)
            rh_all[:, t] = rh
        h_new = z * h + (1.0 - z) * n

        h_prev_all[:, t] = h
        z_all[:, t] = z
        r_all[:, t] = r
        n_all[:, t] = n

        valid = mask[:, t][:, None]
        h = np.where(valid, h_new, h)  # masked step: state carried unchanged
        h_seq[:, t] = h

    cache = {
        "x": x,
        "W": W.copy(),
        "R": R.copy(),
        "b": b,
        "mask": mask.copy(),
        "h0": h0.copy(),
        "reset_after": bool(reset_after),
        "rmask": rm,
        "h_prev": h_prev_all,
        "z": z_all,
        "r": r_all,
        "n": n_all,
        "m_n": m_n_all,
        "rh": rh_all,
        "h_seq": h_seq,
    }
    return h_seq, cache


def gru_backward(cache, dh_seq=None, dh_last=None):
    """Back-propagation through time for ``gru_forward`` (SPEC section 1b).

    Parameters
    ----------
    cache : the dict returned by ``gru_forward``.
    dh_seq : (B, T, U) dL/d(h_seq), optional (default zeros).
    dh_last : (B, U) extra dL/d(final state h_seq[:, -1]), optional.

    Returns
    -------
    dict with ``dW`` (F, 3U), ``dR`` (U, 3U), ``db`` (same shape as b),
    ``dx`` (B, T, F), ``dh0`` (B, U).
    """
    x = cache["x"]
    W, R = cache["W"], cache["R"]
    mask = cache["mask"]
    reset_after = cache["reset_after"]
    B, T, F = x.shape
    U = R.shape[0]
    R_zr, Rn = R[:, : 2 * U], R[:, 2 * U :]

    dW = np.zeros_like(W)
    dR = np.zeros_like(R)
    db_i = np.zeros(3 * U)
    db_h = np.zeros(3 * U)
    dx = np.zeros_like(x)

    g_next = np.zeros((B, U))  # dL/dh flowing back from step t+1 into h_seq[:, t]
    if dh_last is not None:
        g_next = g_next + np.asarray(dh_last, dtype=np.float64)
    if dh_seq is not None:
        dh_seq = np.asarray(dh_seq, dtype=np.float64)
        if dh_seq.shape != (B, T, U):
            raise ValueError(f"dh_seq must be ({B}, {T}, {U}), got {dh_seq.shape}")

    for t in range(T - 1, -1, -1):
        g = g_next.copy()
        if dh_seq is not None:
            g = g + dh_seq[:, t]
        valid = mask[:, t][:, None].astype(np.float64)  # 1.0 valid, 0.0 masked
        g_cell = g * valid  # the part that flows through the cell
        g_skip = g * (1.0 - valid)  # masked step: h_t = h_{t-1}, gradient passes through

        h = cache["h_prev"][:, t]
        hm = h * cache["rmask"]
        z = cache["z"][:, t]
        r = cache["r"][:, t]
        n = cache["n"][:, t]
        xt = x[:, t]

        dz_pre = g_cell * (h - n) * z * (1.0 - z)
        dn_pre = g_cell * (1.0 - z) * (1.0 - n * n)
        if reset_after:
            m_n = cache["m_n"][:, t]
            dr_pre = dn_pre * m_n * r * (1.0 - r)
            da = np.concatenate([dz_pre, dr_pre, dn_pre], axis=1)
            dm = np.concatenate([dz_pre, dr_pre, dn_pre * r], axis=1)
            dR += hm.T @ dm
            db_h += dm.sum(axis=0)
            dh = g_cell * z + (dm @ R.T) * cache["rmask"]
        else:
            rh = cache["rh"][:, t]
            d_rh = dn_pre @ Rn.T
            dr_pre = d_rh * hm * r * (1.0 - r)
            dzr = np.concatenate([dz_pre, dr_pre], axis=1)
            dR[:, 2 * U :] += rh.T @ dn_pre
            dR[:, : 2 * U] += hm.T @ dzr
            da = np.concatenate([dz_pre, dr_pre, dn_pre], axis=1)
            dh = g_cell * z + (d_rh * r + dzr @ R_zr.T) * cache["rmask"]
        dW += xt.T @ da
        db_i += da.sum(axis=0)
        dx[:, t] = da @ W.T
        g_next = dh + g_skip

    db = np.stack([db_i, db_h]) if reset_after else db_i
    return {"dW": dW, "dR": dR, "db": db, "dx": dx, "dh0": g_next}


def _head(h_T, Wd, bd):
    Wd = np.asarray(Wd, dtype=np.float64)
    bd = np.asarray(bd, dtype=np.float64).reshape(-1)
    if Wd.ndim != 2 or bd.shape != (Wd.shape[1],):
        raise ValueError(f"bad head shapes Wd{Wd.shape} bd{bd.shape}")
    return h_T @ Wd + bd


def _softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _log_softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def predict_proba_reference(x, mask, W, R, b, Wd, bd, reset_after=True, h0=None):
    """Class probabilities (B, K) of the GRU + dense head model.

    With one head column the output is logistic and ``[1 - p, p]`` is
    returned (K = 2); otherwise the softmax over the K columns.
    """
    h_seq, _ = gru_forward(x, W, R, b, mask=mask, h0=h0, reset_after=reset_after)
    logits = _head(h_seq[:, -1], Wd, bd)
    if logits.shape[1] == 1:
        p = sigmoid(logits[:, 0])
        return np.stack([1.0 - p, p], axis=1)
    return _softmax(logits)


def gru_loss_and_grads(
    x,
    mask,
    W,
    R,
    b,
    Wd,
    bd,
    y_onehot_or_binary,
    sample_weight=None,
    reset_after=True,
    alpha=0.0,
    h0=None,
):
    """Loss and gradients of the full classifier model.

    Model: GRU over (x, mask) from h0 (default zeros), head on the final state
    h_T = h_seq[:, -1] (frozen through trailing padding): logits = h_T @ Wd + bd.
    - Wd with one column: logistic output, binary cross-entropy, y of shape
      (B,) (or (B, 1)) with values in {0, 1}.
    - otherwise softmax + categorical cross-entropy, y one-hot (B, K).

    loss = sum_i w_i CE_i / sum_i w_i
           + 0.5 * alpha * (|W|^2 + |R|^2 + |Wd|^2) / sum_i w_i
    (scikit-learn MLPClassifier scaling; biases not penalised; w_i = 1 when
    ``sample_weight`` is None).

    Returns (loss, grads) with grads keys ``dW, dR, db, dWd, dbd`` (same shapes
    as the parameters) and additionally ``dx`` (B, T, F), the input gradient.
    """
    x = np.asarray(x, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    Wd = np.asarray(Wd, dtype=np.float64)
    bd_arr = np.asarray(bd, dtype=np.float64)
    B = x.shape[0]
    w = np.ones(B) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (B,):
        raise ValueError(f"sample_weight must be ({B},), got {w.shape}")
    sw = w.sum()

    h_seq, cache = gru_forward(x, W, R, b, mask=mask, h0=h0, reset_after=reset_after)
    h_T = h_seq[:, -1]
    logits = _head(h_T, Wd, bd_arr)

    if logits.shape[1] == 1:
        y = np.asarray(y_onehot_or_binary, dtype=np.float64).reshape(-1)
        if y.shape != (B,):
            raise ValueError(f"binary y must have shape ({B},), got {y.shape}")
        l = logits[:, 0]
        ce = np.logaddexp(0.0, l) - y * l  # = -(y log p + (1 - y) log(1 - p))
        dlogits = (w * (sigmoid(l) - y) / sw)[:, None]
    else:
        y = np.asarray(y_onehot_or_binary, dtype=np.float64)
        if y.shape != logits.shape:
            raise ValueError(f"one-hot y must have shape {logits.shape}, got {y.shape}")
        ce = -(y * _log_softmax(logits)).sum(axis=1)
        p = _softmax(logits)
        dlogits = w[:, None] * (p * y.sum(axis=1, keepdims=True) - y) / sw

    penalty = 0.5 * alpha * (np.sum(W * W) + np.sum(R * R) + np.sum(Wd * Wd)) / sw
    loss = float(np.sum(w * ce) / sw + penalty)

    dWd = h_T.T @ dlogits + alpha * Wd / sw
    dbd = dlogits.sum(axis=0).reshape(bd_arr.shape)
    dh_T = dlogits @ Wd.T
    g = gru_backward(cache, dh_last=dh_T)
    grads = {
        "dW": g["dW"] + alpha * W / sw,
        "dR": g["dR"] + alpha * R / sw,
        "db": g["db"],
        "dWd": dWd,
        "dbd": dbd,
        "dx": g["dx"],
    }
    return loss, grads


def numerical_gradient(f, arr, eps=1e-6):
    """Central finite-difference gradient of the scalar ``f()`` w.r.t. ``arr``.

    ``arr`` (a float64 ndarray that ``f`` reads) is perturbed in place one
    element at a time and restored exactly afterwards.
    """
    grad = np.zeros(arr.shape, dtype=np.float64)
    for idx in np.ndindex(arr.shape):
        orig = arr[idx]
        arr[idx] = orig + eps
        f_plus = float(f())
        arr[idx] = orig - eps
        f_minus = float(f())
        arr[idx] = orig
        grad[idx] = (f_plus - f_minus) / (2.0 * eps)
    return grad


# --------------------------------------------------------------------------------------
# The whole model: embedding, stacked and bidirectional layers, pooling, output layer,
# and training (draws, L2, clipping, optimizers, constraints), written plainly.
# --------------------------------------------------------------------------------------


def _blocks(params, cfg):
    """``(E or None, [[(W, R, b) per direction] per layer], Wd, bd)`` of Keras-ordered params."""
    k = 1 if cfg["embedding"] else 0
    nd = 2 if cfg["bidirectional"] else 1
    blocks = [
        [tuple(params[k + 3 * (l * nd + d) : k + 3 * (l * nd + d) + 3]) for d in range(nd)]
        for l in range(cfg["num_layers"])
    ]
    return (params[0] if k else None), blocks, params[-2], params[-1]


def _reverse_valid(a, mask):
    """Each sequence of ``a (B, T, ...)`` reversed within its valid steps (padding stays put)."""
    out = np.zeros_like(a)
    for i in range(a.shape[0]):
        steps = np.flatnonzero(mask[i])
        out[i, steps] = a[i, steps[::-1]]
    return out


def model_forward(params, x, mask, cfg, masks=None, noise=None):
    """Forward pass of the whole model on batch-major ``x (B, T, F)`` (or ids ``(B, T)``).

    ``cfg`` keys: ``embedding``, ``num_layers``, ``bidirectional``,
    ``reset_after``, ``pooling`` (``"last"``, ``"mean"``, ``"max"``).
    ``masks[l][d] = (input_mask (B, F_l) or None, rmask (B, U) or None)``
    (dropout; None: no dropout); ``noise (B, T, F)`` is added to the first
    layer's input (after the embedding). The backward direction reads each sequence
    reversed within its valid steps (as Keras's ``Bidirectional`` over a
    masked sequence). Returns ``(logits (B, K), cache)``.
    """
    mask = np.asarray(mask).astype(bool)
    E, blocks, Wd, bd = _blocks(params, cfg)
    layer_in = np.asarray(E, dtype=np.float64)[x] if E is not None else np.asarray(x, float)
    if noise is not None:
        layer_in = layer_in + noise
    caches, inputs = [], [layer_in]
    for l, layer in enumerate(blocks):
        outs, layer_caches = [], []
        for d, (W, R, b) in enumerate(layer):
            imask, rmask = masks[l][d] if masks is not None else (None, None)
            xin = layer_in if imask is None else layer_in * imask[:, None, :]
            if d == 1:
                xin = _reverse_valid(xin, mask)
            h_seq, c = gru_forward(xin, W, R, b, mask=mask, reset_after=cfg["reset_after"],
                                   rmask=rmask)  # fmt: skip
            outs.append(h_seq if d == 0 else _reverse_valid(h_seq, mask))
            layer_caches.append(c)
        caches.append(layer_caches)
        layer_in = np.concatenate(outs, axis=2)
        inputs.append(layer_in)
    top = caches[-1]
    if cfg["pooling"] == "last":
        pooled = np.concatenate([c["h_seq"][:, -1] for c in top], axis=1)
    elif cfg["pooling"] == "mean":
        counts = np.maximum(mask.sum(axis=1), 1)[:, None]
        pooled = np.where(mask[:, :, None], layer_in, 0).sum(axis=1) / counts
    else:
        masked = np.where(mask[:, :, None], layer_in, -np.inf)
        pooled = np.where(mask.any(axis=1)[:, None], masked.max(axis=1), 0.0)
    logits = pooled @ np.asarray(Wd, float) + np.asarray(bd, float)
    cache = {"caches": caches, "inputs": inputs, "pooled": pooled, "mask": mask, "masks": masks}
    return logits, cache


def _head_loss(logits, Y, w, out_activation):
    """Weighted mean loss and ``dL/dlogits`` (softmax CE, summed binary CE, half mean sq. error)."""
    sw = w.sum()
    if out_activation == "identity":
        K = logits.shape[1]
        per = 0.5 * ((logits - Y) ** 2).sum(axis=1) / K
        dlogits = (logits - Y) * (w / (sw * K))[:, None]
    elif out_activation == "logistic":
        per = (np.logaddexp(0.0, logits) - Y * logits).sum(axis=1)
        dlogits = (sigmoid(logits) - Y) * (w / sw)[:, None]
    else:
        per = -(Y * _log_softmax(logits)).sum(axis=1)
        dlogits = (_softmax(logits) - Y) * (w / sw)[:, None]
    return float((w * per).sum() / sw), dlogits


def model_loss_and_grads(params, x, mask, Y, w, cfg, masks=None, noise=None):
    """Loss (with the L2 term ``0.5 alpha sum ||kernel||^2 / sum(w)``) and one gradient per param.

    ``cfg`` as :func:`model_forward`, plus ``out_activation`` and ``alpha``.
    The embedding's gradient is dense.
    """
    w = np.asarray(w, dtype=np.float64)
    logits, cache = model_forward(params, x, mask, cfg, masks, noise)
    loss, dlogits = _head_loss(logits, np.asarray(Y, float), w, cfg["out_activation"])
    E, blocks, Wd, bd = _blocks(params, cfg)
    mask = cache["mask"]
    pooled = cache["pooled"]
    grads_blocks = [[None] * len(layer) for layer in blocks]
    d_pooled = dlogits @ np.asarray(Wd, float).T
    dWd, dbd = pooled.T @ dlogits, dlogits.sum(axis=0)
    top_out = cache["inputs"][-1]
    d_out = np.zeros_like(top_out)
    d_last = None
    if cfg["pooling"] == "last":
        d_last = d_pooled
    elif cfg["pooling"] == "mean":
        counts = np.maximum(mask.sum(axis=1), 1)[:, None]
        d_out = np.where(mask[:, :, None], (d_pooled / counts)[:, None, :], 0.0)
    else:
        masked = np.where(mask[:, :, None], top_out, -np.inf)
        arg = masked.argmax(axis=1)
        any_valid = mask.any(axis=1)
        for i in range(top_out.shape[0]):
            if any_valid[i]:
                d_out[i, arg[i], np.arange(top_out.shape[2])] += d_pooled[i]
    for l in range(len(blocks) - 1, -1, -1):
        d_in = np.zeros_like(cache["inputs"][l])
        for d, (_, R, _) in enumerate(blocks[l]):
            U = R.shape[0]
            c = cache["caches"][l][d]
            dh_seq = d_out[:, :, d * U : (d + 1) * U]
            if d == 1:
                dh_seq = _reverse_valid(dh_seq, mask)
            dh_last = None if d_last is None else d_last[:, d * U : (d + 1) * U]
            g = gru_backward(c, dh_seq=dh_seq, dh_last=dh_last)
            grads_blocks[l][d] = (g["dW"], g["dR"], g["db"])
            dx = g["dx"] if d == 0 else _reverse_valid(g["dx"], mask)
            imask = cache["masks"][l][d][0] if cache["masks"] is not None else None
            d_in += dx if imask is None else dx * imask[:, None, :]
        d_out, d_last = d_in, None
    alpha, sw = cfg["alpha"], w.sum()
    grads, penalty = [], 0.0
    if E is not None:
        dE = np.zeros(np.shape(E))
        np.add.at(dE, np.asarray(x)[mask], d_out[mask])
        grads.append(dE)
    for layer, gl in zip(blocks, grads_blocks):
        for (W, R, _), (dW, dR, db) in zip(layer, gl):
            penalty += np.sum(np.square(W)) + np.sum(np.square(R))
            grads += [dW + alpha * np.asarray(W) / sw, dR + alpha * np.asarray(R) / sw, db]
    penalty += np.sum(np.square(Wd))
    grads += [dWd + alpha * np.asarray(Wd) / sw, dbd]
    return loss + 0.5 * alpha * penalty / sw, grads


def _keras_constraint(spec, w):
    """Keras's projections (eps 1e-7 in the denominator) or a callable ``w -> w``."""
    if callable(spec):
        return np.asarray(spec(w), dtype=np.float64)
    name, value, axis = spec
    n = np.sqrt(np.sum(w * w, axis=axis, keepdims=True))
    if name == "max_norm":
        return w * (np.clip(n, 0, value) / (1e-7 + n))
    raise ValueError(f"unknown constraint {name!r}")


def fit_reference(params, x, mask, Y, w, cfg, rng, *, epochs, batch_size):
    """Train a float64 copy of ``params`` as the estimators' ``fit`` does; returns the params.

    Per epoch: a permutation of the samples from ``rng``, batches of
    ``batch_size``; per batch, in this order from ``rng``: Gaussian input noise
    ``(T_b, B, F)`` over the batch's span of valid steps ``T_b``, then for each
    layer and direction (forward first) an input dropout mask ``(B, F_l)``
    and a recurrent dropout mask ``(B, U)`` (each only when its rate is in
    (0, 1); inverted scaling). Then the loss gradient, clipping (``cfg["clip"]
    = (name, c)`` or None, Keras's semantics over every gradient with the
    embedding's as its batch rows), one step of ``cfg["solver"]``
    (scikit-learn's Adam and SGD, Keras's RMSprop; ``cfg["lr"]``,
    ``"momentum"``, ``"nesterov"``, ``"beta_1"``, ``"beta_2"``, ``"epsilon"``;
    with ``cfg["sparse_embeddings"]`` and Adam the embedding takes a lazy
    step on its batch rows), and the constraints ``cfg["constraints"]`` (one
    per param: None, a callable or ``("max_norm", value, axis)``).
    """
    params = [np.array(p, dtype=np.float64) for p in params]
    x = np.asarray(x)
    mask = np.asarray(mask).astype(bool)
    n, T = mask.shape
    nd = 2 if cfg["bidirectional"] else 1
    U = params[2 if cfg["embedding"] else 1].shape[0]
    F0 = params[0].shape[1] if cfg["embedding"] else x.shape[2]
    state = [[np.zeros_like(p) for p in params] for _ in range(2)]
    t_step = 0
    lr = cfg["lr"]
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            B = len(idx)
            m = mask[idx]
            valid_steps = np.flatnonzero(m.any(axis=0))
            t0, t1 = (valid_steps[0], valid_steps[-1] + 1) if len(valid_steps) else (0, 1)
            xb, mb = x[idx][:, t0:t1], m[:, t0:t1]
            noise = None
            if cfg["input_noise"] > 0:
                noise = rng.normal(0.0, cfg["input_noise"], size=(t1 - t0, B, F0))
            masks = []
            for l in range(cfg["num_layers"]):
                layer = []
                for _d in range(nd):
                    F_l = F0 if l == 0 else nd * U
                    keep, rkeep = 1.0 - cfg["dropout"], 1.0 - cfg["recurrent_dropout"]
                    imask = rmask = None
                    if 0.0 < cfg["dropout"] < 1.0:
                        imask = (rng.random((B, F_l)) < keep) / keep
                    if 0.0 < cfg["recurrent_dropout"] < 1.0:
                        rmask = (rng.random((B, U)) < rkeep) / rkeep
                    layer.append((imask, rmask))
                masks.append(layer)
            if noise is not None:
                noise = noise.transpose(1, 0, 2)
            _, grads = model_loss_and_grads(params, xb, mb, Y[idx], w[idx], cfg, masks, noise)
            rows = None
            if cfg["embedding"]:
                rows = np.unique(xb[mb])
            clip = cfg.get("clip")
            if clip is not None:
                name, c = clip
                norms = [np.sum(g[rows] ** 2) if (i == 0 and rows is not None) else np.sum(g**2)
                         for i, g in enumerate(grads)]  # fmt: skip
                if name == "clipvalue":
                    grads = [np.clip(g, -c, c) for g in grads]
                elif name == "clipnorm":
                    grads = [g * (c / max(np.sqrt(nrm), c)) for g, nrm in zip(grads, norms)]
                else:
                    total = np.sqrt(sum(norms))
                    grads = [g * (c * min(1.0 / total, 1.0 / c)) for g in grads]
            t_step += 1
            solver = cfg["solver"]
            for i, (p, g) in enumerate(zip(params, grads)):
                lazy = i == 0 and cfg["embedding"] and cfg["sparse_embeddings"]
                sel = rows if (lazy and solver == "adam") else slice(None)
                if solver == "adam":
                    b1, b2 = cfg["beta_1"], cfg["beta_2"]
                    m1, v1 = state[0][i], state[1][i]
                    m1[sel] = b1 * m1[sel] + (1 - b1) * g[sel]
                    v1[sel] = b2 * v1[sel] + (1 - b2) * g[sel] ** 2
                    lr_t = lr * np.sqrt(1 - b2**t_step) / (1 - b1**t_step)
                    p[sel] -= lr_t * m1[sel] / (np.sqrt(v1[sel]) + cfg["epsilon"])
                elif solver == "sgd":
                    vel = state[0][i]
                    vel[...] = cfg["momentum"] * vel - lr * g
                    p += cfg["momentum"] * vel - lr * g if cfg["nesterov"] else vel
                else:
                    vel = state[0][i]
                    vel[...] = 0.9 * vel + 0.1 * g**2
                    p -= lr * g / np.sqrt(vel + cfg["epsilon"])
            for i, spec in enumerate(cfg["constraints"]):
                if spec is not None:
                    params[i] = _keras_constraint(spec, params[i])
    return params
