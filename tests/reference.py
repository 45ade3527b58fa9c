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


def gru_forward(x, W, R, b, mask=None, h0=None, reset_after=True):
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

    h = h0.copy()
    for t in range(T):
        xt = x[:, t, :]
        a_z = xt @ Wz + b_i[:U]
        a_r = xt @ Wr + b_i[U : 2 * U]
        a_n = xt @ Wn + b_i[2 * U :]
        if reset_after:
            m_z = h @ Rz + b_h[:U]
            m_r = h @ Rr + b_h[U : 2 * U]
            m_n = h @ Rn + b_h[2 * U :]
            z = sigmoid(a_z + m_z)
            r = sigmoid(a_r + m_r)
            n = np.tanh(a_n + r * m_n)
            m_n_all[:, t] = m_n
        else:
            z = sigmoid(a_z + h @ Rz)
            r = sigmoid(a_r + h @ Rr)
            rh = r * h
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
            dR += h.T @ dm
            db_h += dm.sum(axis=0)
            dh = g_cell * z + dm @ R.T
        else:
            rh = cache["rh"][:, t]
            d_rh = dn_pre @ Rn.T
            dr_pre = d_rh * h * r * (1.0 - r)
            dzr = np.concatenate([dz_pre, dr_pre], axis=1)
            dR[:, 2 * U :] += rh.T @ dn_pre
            dR[:, : 2 * U] += h.T @ dzr
            da = np.concatenate([dz_pre, dr_pre, dn_pre], axis=1)
            dh = g_cell * z + d_rh * r + dzr @ R_zr.T
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
