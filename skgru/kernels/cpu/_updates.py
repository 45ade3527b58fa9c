"""Optimizer steps and clipping on host arrays, in place, in each array's own dtype.

The formulas are scikit-learn's (SGD, Adam) and Keras 3's (RMSprop, clipping);
:mod:`skgru.training._optimizers` documents them. Scalars are Python floats,
so float32 arrays stay float32 (NumPy's weak scalars). The CUDA kernels of
:mod:`skgru.kernels.cuda` apply the same operations in the same order.
"""

import math

import numpy as np

from ._gru import adam_rows as _adam_rows_kernel

__all__ = ["adam", "adam_rows", "clip_by_norm", "global_scale", "rmsprop", "sgd", "sumsq"]


def _adam_moments(m, v, grad, beta_1, beta_2, lr_t, eps, flush=None):
    """Update ``m``, ``v`` in place; return the parameter increment.

    ``flush = (g_min, s_min)`` zeroes gradient entries below ``g_min`` and
    moments below ``s_min``. In place where possible: for an embedding these
    arrays are large, and each temporary adds to the fit's peak memory. The
    operations of ``-lr_t * m / (sqrt(v) + eps)``, in that order.
    """
    if flush is not None:
        grad = np.where(np.abs(grad) >= flush[0], grad, grad.dtype.type(0))
    m *= beta_1
    m += (1 - beta_1) * grad
    v *= beta_2
    tmp = np.square(grad)
    tmp *= 1 - beta_2
    v += tmp
    if flush is not None:
        m[np.abs(m) < flush[1]] = 0
        v[v < flush[1]] = 0
    np.sqrt(v, out=tmp)
    tmp += eps
    step = -lr_t * m
    step /= tmp
    return step


def adam(p, g, m, v, beta_1, beta_2, lr_t, eps):
    """One Adam step: moments ``m``, ``v`` and the parameter ``p`` in place."""
    p += _adam_moments(m, v, g, beta_1, beta_2, lr_t, eps)


def adam_rows(p, rows, grad_rows, m, v, beta_1, beta_2, lr_t, eps, g_min, s_min):
    """Lazy Adam on the rows ``rows`` of ``p`` (their moments only), flushing tiny values.

    A contiguous 2-D ``p`` goes through the ``@njit`` kernel (the same
    operations, bitwise, without gathered copies); anything else through
    NumPy on gathered rows.
    """
    if p.ndim == 2 and all(a.flags.c_contiguous for a in (p, m, v)):
        dt = p.dtype.type
        _adam_rows_kernel(
            p, m, v, rows.astype(np.int64, copy=False), np.ascontiguousarray(grad_rows),
            dt(beta_1), dt(1 - beta_1), dt(beta_2), dt(1 - beta_2), dt(-lr_t), dt(eps),
            dt(g_min), dt(s_min),
        )  # fmt: skip
        return
    m_rows, v_rows = m[rows], v[rows]
    step = _adam_moments(m_rows, v_rows, grad_rows, beta_1, beta_2, lr_t, eps, flush=(g_min, s_min))
    m[rows] = m_rows
    v[rows] = v_rows
    p[rows] += step


def sgd(p, g, velocity, momentum, lr, nesterov):
    """One SGD step with (Nesterov) momentum."""
    velocity *= momentum
    velocity -= lr * g
    if nesterov:
        p += momentum * velocity - lr * g
    else:
        p += velocity


def rmsprop(p, g, velocity, momentum_buf, rho, lr, eps, momentum):
    """One RMSprop step (Keras: ``eps`` inside the square root; heavy-ball momentum)."""
    velocity *= rho
    velocity += (1 - rho) * np.square(g)
    increment = lr * g / np.sqrt(velocity + eps)
    if momentum > 0:
        momentum_buf *= momentum
        momentum_buf += increment
        p -= momentum_buf
    else:
        p -= increment


def sumsq(g):
    """``sum(g ** 2)`` accumulated in float64."""
    return float(np.sum(np.square(g, dtype=np.float64)))


def clip_by_norm(g, norm_sq, c):
    """``g *= c / max(||g||, c)`` given ``||g||^2``."""
    g *= c / max(math.sqrt(norm_sq), c)


def global_scale(norms_sq, c):
    """``c * min(1 / G, 1 / c)`` for ``G = sqrt(sum(norms_sq))``; NaN when ``G`` is not finite."""
    total = math.sqrt(sum(float(n) for n in norms_sq))
    if not math.isfinite(total):
        return math.nan
    return c * min(1.0 / total if total > 0 else math.inf, 1.0 / c)
