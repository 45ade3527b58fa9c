"""Reductions (bias gradients, norms) and the output layer of a training step.

Compile-time constants (the dtype, tile sizes) go into the kernels as closure
variables of :func:`build`; :mod:`._kernels` builds each set once per dtype and
launch configuration and launches it.
"""

import math

import numpy as np
from numba import cuda

__all__ = ["build"]


def build(dtype, reduce_threads):
    """The kernels of this module compiled for ``dtype``, by name."""
    cast = np.dtype(dtype).type
    f64 = np.float64
    f64dt = np.dtype(np.float64)
    RT = reduce_threads

    @cuda.jit
    def sum_rows(P, n_rows, out):
        """``out[j] = sum_i P[i, j]``, rows in order."""
        j = cuda.grid(1)
        if j < out.shape[0]:
            s = cast(0)
            for c in range(n_rows):
                s += P[c, j]
            out[j] = s

    @cuda.jit
    def sumsq_segments(x, starts, lengths, out):
        """``out[s] = sum(x[starts[s]:starts[s]+lengths[s]] ** 2)`` in float64.

        One block per segment; thread ``i`` sums elements ``i, i + RT, ...``
        in order, then a fixed tree adds the threads' sums.
        """
        buf = cuda.shared.array(RT, f64dt)
        s = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        start = starts[s]
        n = lengths[s]
        acc = f64(0)
        for i in range(tid, n, RT):
            v = f64(x[start + i])
            acc += v * v
        buf[tid] = acc
        cuda.syncthreads()
        width = RT // 2
        while width > 0:
            if tid < width:
                buf[tid] = buf[tid] + buf[tid + width]
            cuda.syncthreads()
            width //= 2
        if tid == 0:
            out[s] = buf[0]

    # -- the head --------------------------------------------------------------

    @cuda.jit(device=True)
    def row_loss_grad(logits, bd, Y, w, idx, w_sum, mode, dlogits, b):
        """Weighted loss ``w_b * L_b`` of row ``b`` (float64 inside); writes ``dlogits[b]``.

        ``mode`` 0: softmax cross-entropy; 1: logistic (binary cross-entropy
        summed over the columns); 2: identity (half the mean squared error),
        as :func:`skgru.model._network.head_loss_grad`.
        """
        K = logits.shape[1]
        s = idx[b]
        wb = w[s]
        loss = 0.0
        if mode == 2:
            scale = wb / (w_sum * K)
            for k in range(K):
                diff = f64(logits[b, k] + bd[k]) - f64(Y[s, k])
                loss += diff * diff
                dlogits[b, k] = cast(diff * scale)
            loss = 0.5 * loss / K
        elif mode == 1:
            scale = wb / w_sum
            for k in range(K):
                z = f64(logits[b, k] + bd[k])
                y = f64(Y[s, k])
                if z < 0:
                    log_p = z - math.log1p(math.exp(z))
                    log_q = -math.log1p(math.exp(z))
                else:
                    log_p = -math.log1p(math.exp(-z))
                    log_q = -z - math.log1p(math.exp(-z))
                loss -= y * log_p + (1.0 - y) * log_q
                p = 1.0 / (1.0 + math.exp(-z))
                dlogits[b, k] = cast((p - y) * scale)
        else:
            mx = f64(logits[b, 0] + bd[0])
            for k in range(1, K):
                v = f64(logits[b, k] + bd[k])
                if v > mx:
                    mx = v
            se = 0.0
            for k in range(K):
                se += math.exp(f64(logits[b, k] + bd[k]) - mx)
            lse = math.log(se)
            scale = wb / w_sum
            for k in range(K):
                logp = (f64(logits[b, k] + bd[k]) - mx) - lse
                y = f64(Y[s, k])
                loss -= y * logp
                dlogits[b, k] = cast((math.exp(logp) - y) * scale)
        return wb * loss

    @cuda.jit
    def head_step(
        pooled, Wd, bd, Y, w, idx, w_sum, mode, alpha, pnorms,
        logits, dlogits, row_loss, gWd, gbd, dpooled, acc,
    ):  # fmt: skip
        """The whole head of a training step in one block (it is tiny).

        ``logits = pooled @ Wd``; loss and ``dlogits``; ``gWd = pooled.T @
        dlogits``, ``gbd = sum_b dlogits``, ``dpooled = dlogits @ Wd.T``; and
        ``acc[0] += (mean loss + 0.5 alpha ||kernels||^2 / w_sum) * w_sum``.
        Every sum runs in ascending index order.
        """
        B, U = pooled.shape
        K = Wd.shape[1]
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        for i in range(tid, B * K, nt):
            b = i // K
            k = i - b * K
            acc_l = cast(0)
            for j in range(U):
                acc_l += pooled[b, j] * Wd[j, k]
            logits[b, k] = acc_l
        cuda.syncthreads()
        for b in range(tid, B, nt):
            row_loss[b] = row_loss_grad(logits, bd, Y, w, idx, w_sum, mode, dlogits, b)
        cuda.syncthreads()
        for i in range(tid, U * K, nt):
            j = i // K
            k = i - j * K
            acc_w = cast(0)
            for b in range(B):
                acc_w += pooled[b, j] * dlogits[b, k]
            gWd[j, k] = acc_w
        for k in range(tid, K, nt):
            acc_b = cast(0)
            for b in range(B):
                acc_b += dlogits[b, k]
            gbd[k] = acc_b
        for i in range(tid, B * U, nt):
            b = i // U
            j = i - b * U
            acc_h = cast(0)
            for k in range(K):
                acc_h += dlogits[b, k] * Wd[j, k]
            dpooled[b, j] = acc_h
        if tid == 0:
            total = 0.0
            for b in range(B):
                total += row_loss[b]
            loss = total / w_sum
            if alpha > 0:
                pen = 0.0
                for i in range(pnorms.shape[0]):
                    pen += pnorms[i]
                loss += 0.5 * alpha * pen / w_sum
            acc[0] += loss * w_sum

    return {
        "sum_rows": sum_rows,
        "sumsq_segments": sumsq_segments,
        "head_step": head_step,
    }
