"""Data movement: gathering batches and embedding rows, layouts between layers
and directions, pooling, masks.

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
    def gather_batch(values, vmask, idx, t0, noise, imask, use_noise, use_imask, X, M):
        """``X[t, b] = (values[idx[b], t0 + t] + noise[t, b]) * imask[b]``; ``M[t, b]``."""
        T, B, F = X.shape
        n_all = T * B * F
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, n_all, stride):
            t = i // (B * F)
            rem = i - t * (B * F)
            b = rem // F
            f = rem - b * F
            s = idx[b]
            x = values[s, t0 + t, f]
            if use_noise:
                x = x + noise[t, b, f]
            if use_imask:
                x = x * imask[b, f]
            X[t, b, f] = x
            if f == 0:
                M[t, b] = vmask[s, t0 + t]

    @cuda.jit
    def gather_tokens(ids, vmask, idx, t0, E, noise, imask, use_noise, use_imask, X, M):
        """Embedding lookup: ``X[t, b] = (E[ids[idx[b], t0 + t]] + noise) * imask``."""
        T, B, F = X.shape
        n_all = T * B * F
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, n_all, stride):
            t = i // (B * F)
            rem = i - t * (B * F)
            b = rem // F
            f = rem - b * F
            s = idx[b]
            x = E[ids[s, t0 + t], f]
            if use_noise:
                x = x + noise[t, b, f]
            if use_imask:
                x = x * imask[b, f]
            X[t, b, f] = x
            if f == 0:
                M[t, b] = vmask[s, t0 + t]

    @cuda.jit
    def rows_sum(dX2, pos, seg, out):
        """``out[r] = sum of dX2[pos[k]]`` for ``k`` in ``seg[r]:seg[r + 1]``, in order.

        The embedding gradient of the batch's unique ids (``np.add.at`` order).
        """
        D = out.shape[1]
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, out.shape[0] * D, stride):
            r = i // D
            d = i - r * D
            acc = cast(0)
            for k in range(seg[r], seg[r + 1]):
                acc += dX2[pos[k], d]
            out[r, d] = acc

    @cuda.jit
    def scatter_rows(src, rows, dense):
        """``dense[rows[r]] = src[r]`` (``dense`` zeroed before)."""
        D = src.shape[1]
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, src.shape[0] * D, stride):
            r = i // D
            d = i - r * D
            dense[rows[r], d] = src[r, d]

    @cuda.jit
    def fill(x, value):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, x.shape[0], stride):
            x[i] = value

    @cuda.jit
    def adam_rows(p, g, rows, m, v, b1, c1, b2, c2, neg_lr, eps, g_min, s_min):
        """Lazy Adam on the rows ``rows`` of ``p`` (``g`` holds those rows' gradients).

        Gradient entries below ``g_min`` count as zero and moments below
        ``s_min`` are stored as zero, as on the host
        (``AdamOptimizer._flush_limits``).
        """
        D = g.shape[1]
        zero = cast(0)
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, g.shape[0] * D, stride):
            r = i // D
            d = i - r * D
            row = rows[r]
            gi = g[r, d]
            if abs(gi) < g_min:
                gi = zero
            mi = m[row, d] * b1
            mi = mi + c1 * gi
            vi = v[row, d] * b2
            vi = vi + (gi * gi) * c2
            if abs(mi) < s_min:
                mi = zero
            if vi < s_min:
                vi = zero
            m[row, d] = mi
            v[row, d] = vi
            p[row, d] = p[row, d] + (neg_lr * mi) / (math.sqrt(vi) + eps)

    @cuda.jit
    def pool_forward(out, mask, mode, pooled, arg, count):
        """Mean (``mode`` 1) or max (2) of ``out (T, B, C)`` over the valid steps; zeros if none.

        ``arg[b, j]`` is the first step holding the max; ``count[b]`` the
        number of valid steps (at least 1), as the CPU kernel set's pooling.
        """
        T = mask.shape[0]
        B, U = pooled.shape
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, B * U, stride):
            b = i // U
            j = i - b * U
            n = 0
            if mode == 1:
                acc = cast(0)
                for t in range(T):
                    if mask[t, b] != 0:
                        acc += out[t, b, j]
                        n += 1
                c = cast(max(n, 1))
                pooled[b, j] = acc / c
                if j == 0:
                    count[b] = c
            else:
                best = cast(0)
                at = 0
                for t in range(T):
                    if mask[t, b] != 0:
                        v = out[t, b, j]
                        if n == 0 or v > best:
                            best = v
                            at = t
                        n += 1
                pooled[b, j] = best if n > 0 else cast(0)
                arg[b, j] = at if n > 0 else -1

    @cuda.jit
    def pool_backward(dpooled, mask, mode, arg, count, dH_seq):
        """Gradient on every state from the gradient on the pooled state."""
        T = mask.shape[0]
        B, U = dpooled.shape
        zero = cast(0)
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, B * U, stride):
            b = i // U
            j = i - b * U
            if mode == 1:
                d = dpooled[b, j] / count[b]
                for t in range(T):
                    dH_seq[t, b, j] = d if mask[t, b] != 0 else zero
            else:
                at = arg[b, j]
                for t in range(T):
                    dH_seq[t, b, j] = dpooled[b, j] if t == at else zero

    @cuda.jit
    def transpose(A, AT):
        n0, n1 = A.shape
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, n0 * n1, stride):
            r = i // n1
            c = i - r * n1
            AT[c, r] = A[r, c]

    @cuda.jit
    def apply_rmask(H, rmask, out):
        """``out[t, b, j] = H[t, b, j] * rmask[b, j]``."""
        T, B, U = out.shape
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, T * B * U, stride):
            t = i // (B * U)
            rem = i - t * (B * U)
            b = rem // U
            j = rem - b * U
            out[t, b, j] = H[t, b, j] * rmask[b, j]

    @cuda.jit
    def add_row_vector(C, v):
        """``C[i, j] += v[j]`` (the head's bias at inference)."""
        n0, n1 = C.shape
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, n0 * n1, stride):
            r = i // n1
            c = i - r * n1
            C[r, c] = C[r, c] + v[c]

    @cuda.jit
    def take_features(src, c0, reverse, dst):
        """``dst[t, b, j] = src[t', b, c0 + j]``, ``t' = T - 1 - t`` when ``reverse``."""
        T, B, C = dst.shape
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, T * B * C, stride):
            t = i // (B * C)
            rem = i - t * (B * C)
            b = rem // C
            j = rem - b * C
            ts = T - 1 - t if reverse else t
            dst[t, b, j] = src[ts, b, c0 + j]

    @cuda.jit
    def put_features(src, c0, reverse, dst):
        """``dst[t, b, c0 + j] = src[t', b, j]``, ``t' = T - 1 - t`` when ``reverse``."""
        T, B, C = src.shape
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, T * B * C, stride):
            t = i // (B * C)
            rem = i - t * (B * C)
            b = rem // C
            j = rem - b * C
            ts = T - 1 - t if reverse else t
            dst[t, b, c0 + j] = src[ts, b, j]

    @cuda.jit
    def add_reversed(a, b):
        """``a[t] += b[T - 1 - t]`` for 3-D ``a`` and ``b`` of one shape."""
        T, B, C = a.shape
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, T * B * C, stride):
            t = i // (B * C)
            rem = i - t * (B * C)
            r = rem // C
            j = rem - r * C
            a[t, r, j] = a[t, r, j] + b[T - 1 - t, r, j]

    @cuda.jit
    def add_into(x, y):
        """``x += y`` (flat arrays)."""
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, x.shape[0], stride):
            x[i] = x[i] + y[i]

    @cuda.jit
    def gather_rows(table, ids, out):
        """``out[t, b] = table[ids[t, b]]``: embedded ids, or projected-embedding rows."""
        T, B, D = out.shape
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, T * B * D, stride):
            t = i // (B * D)
            rem = i - t * (B * D)
            b = rem // D
            d = rem - b * D
            out[t, b, d] = table[ids[t, b], d]

    return {
        "gather_batch": gather_batch,
        "gather_tokens": gather_tokens,
        "rows_sum": rows_sum,
        "scatter_rows": scatter_rows,
        "fill": fill,
        "adam_rows": adam_rows,
        "pool_forward": pool_forward,
        "pool_backward": pool_backward,
        "transpose": transpose,
        "apply_rmask": apply_rmask,
        "add_row_vector": add_row_vector,
        "take_features": take_features,
        "put_features": put_features,
        "add_reversed": add_reversed,
        "add_into": add_into,
        "gather_rows": gather_rows,
    }
