"""Clipping, the L2 term, optimizer steps and constraints on flat parameter buffers.

Compile-time constants (the dtype, tile sizes) go into the kernels as closure
variables of :func:`build`; :mod:`._kernels` builds each set once per dtype and
launch configuration and launches it.
"""

import math

import numpy as np
from numba import cuda

__all__ = ["build"]


def build(dtype):
    """The kernels of this module compiled for ``dtype``, by name."""
    cast = np.dtype(dtype).type

    @cuda.jit
    def axpy(y, x, a):
        """``y += a * x``."""
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, y.shape[0], stride):
            y[i] = y[i] + a * x[i]

    @cuda.jit
    def clip_by_norm(g, starts, lengths, norms, c):
        """Per segment: ``g *= c / max(||g||, c)`` (Keras ``clipnorm``)."""
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        nseg = starts.shape[0]
        for i in range(start, g.shape[0], stride):
            for s in range(nseg):
                if i >= starts[s] and i < starts[s] + lengths[s]:
                    scale = c / max(math.sqrt(norms[s]), c)
                    g[i] = g[i] * cast(scale)

    @cuda.jit
    def clip_global(g, starts, lengths, norms, c):
        """All segments together: ``g *= c * min(1 / G, 1 / c)`` (NaN if G is not finite)."""
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        nseg = starts.shape[0]
        total = 0.0
        for s in range(norms.shape[0]):
            total += norms[s]
        total = math.sqrt(total)
        if math.isfinite(total):
            if total > 0:
                scale = c * min(1.0 / total, 1.0 / c)
            else:
                scale = c * (1.0 / c)
        else:
            scale = math.nan
        for i in range(start, g.shape[0], stride):
            for s in range(nseg):
                if i >= starts[s] and i < starts[s] + lengths[s]:
                    g[i] = g[i] * cast(scale)

    @cuda.jit
    def clip_value(g, c):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, g.shape[0], stride):
            v = g[i]
            if v > c:
                v = c
            elif v < -c:
                v = -c
            g[i] = v

    @cuda.jit
    def adam_update(p, g, m, v, b1, c1, b2, c2, neg_lr, eps):
        """scikit-learn's Adam (``c1 = 1 - b1``, ``c2 = 1 - b2``, ``neg_lr = -lr_t``)."""
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, p.shape[0], stride):
            gi = g[i]
            mi = m[i] * b1
            mi = mi + c1 * gi
            vi = v[i] * b2
            vi = vi + c2 * (gi * gi)
            m[i] = mi
            v[i] = vi
            p[i] = p[i] + (neg_lr * mi) / (math.sqrt(vi) + eps)

    @cuda.jit
    def sgd_update(p, g, vel, mom, lr, nesterov):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, p.shape[0], stride):
            gi = g[i]
            vi = vel[i] * mom
            vi = vi - lr * gi
            vel[i] = vi
            if nesterov:
                p[i] = p[i] + (mom * vi - lr * gi)
            else:
                p[i] = p[i] + vi

    @cuda.jit
    def rmsprop_update(p, g, vel, momb, rho, c, lr, eps, momentum, use_momentum):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, p.shape[0], stride):
            gi = g[i]
            vi = vel[i] * rho
            vi = vi + c * (gi * gi)
            vel[i] = vi
            inc = (lr * gi) / math.sqrt(vi + eps)
            if use_momentum:
                mo = momb[i] * momentum
                mo = mo + inc
                momb[i] = mo
                p[i] = p[i] - mo
            else:
                p[i] = p[i] - inc

    @cuda.jit
    def constrain_norm(w, by_row, kind, lo, hi, rate, one_minus_rate, eps):
        """Column (or row) norm constraints, Keras formulas (``docs/user_guide/constraints.rst``).

        ``kind`` 0: MaxNorm, 1: UnitNorm, 2: MinMaxNorm. One thread per
        vector, elements summed in order.
        """
        j = cuda.grid(1)
        nvec = w.shape[0] if by_row else w.shape[1]
        L = w.shape[1] if by_row else w.shape[0]
        if j >= nvec:
            return
        s = cast(0)
        for k in range(L):
            x = w[j, k] if by_row else w[k, j]
            s += x * x
        n = math.sqrt(s)
        if kind == 1:
            d = eps + n
            for k in range(L):
                if by_row:
                    w[j, k] = w[j, k] / d
                else:
                    w[k, j] = w[k, j] / d
            return
        if kind == 0:
            desired = min(max(n, cast(0)), hi)
        else:
            desired = rate * min(max(n, lo), hi) + one_minus_rate * n
        factor = desired / (eps + n)
        for k in range(L):
            if by_row:
                w[j, k] = w[j, k] * factor
            else:
                w[k, j] = w[k, j] * factor

    @cuda.jit
    def nonneg(x):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        zero = cast(0)
        for i in range(start, x.shape[0], stride):
            if x[i] < zero:
                x[i] = zero

    return {
        "axpy": axpy,
        "clip_by_norm": clip_by_norm,
        "clip_global": clip_global,
        "clip_value": clip_value,
        "adam_update": adam_update,
        "sgd_update": sgd_update,
        "rmsprop_update": rmsprop_update,
        "constrain_norm": constrain_norm,
        "nonneg": nonneg,
    }
