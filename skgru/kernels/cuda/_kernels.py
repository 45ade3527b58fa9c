"""CUDA kernels (``@cuda.jit``) for GRU training and inference.

Importing this module needs ``numba.cuda`` (numba-cuda); only
:mod:`skgru._cuda_backend` imports it, and only when a GPU (or the simulator)
is there. Layout and argument order follow :mod:`skgru._kernels._cpu`:
time-major ``X (T, B, F)``, states ``H (T + 1, B, U)``, gate store ``S (T, B,
4U)`` as ``[z | r | n | s]``, ``mask (T, B)`` uint8, Keras-ordered weights.

Design
------
* Input projection and every weight-gradient product are one tiled
  shared-memory GEMM (:func:`gemm`, ``C = op(A) @ op(B)``) over all ``T * B``
  rows. Each output element is summed by one thread in ascending ``k``, so
  results are bitwise reproducible run to run.
* The recurrence is *persistent per batch slice*: one launch for all
  timesteps; block ``i`` owns ``rows_per_block`` sequences of the batch and
  keeps their state in shared memory, so a step needs only block barriers
  (``syncthreads``), never a grid-wide one. The recurrent product is fused
  with the gate nonlinearities and the state update (each thread computes the
  three dot products of its unit and applies :mod:`._math`). This design also
  runs in Numba's CUDA simulator, which cannot synchronise a grid.
* An alternative recurrence, ``LAUNCH["recurrent_variant"] = "split"``
  (``gru_forward_split*`` / ``gru_backward_split*``), splits the reduction
  axis of each recurrent product over ``k_split`` rows of threads (partial
  sums in shared memory, added in slice order after a barrier), so each
  thread's chain of dependent R loads is ``k_split`` times shorter and an SM
  has more warps to hide L2 latency; a block takes ``split_rows`` (1, 2, 4)
  sequences and each thread applies every R element it loads to all of them
  (accumulators in registers), dividing the L2 traffic for R by
  ``split_rows``. Same gate math, masks and summation order fixed per
  output; ``k_split=1`` gives the default kernels' bits.
* Backward through time is the same shape in reverse; it writes ``dA`` and
  ``dM`` for every step, and the weight gradients are GEMMs afterwards
  (``docs/gru_equations.rst``).
* Reductions (bias gradients, norms, the loss) run in a fixed order: each
  thread sums its own sequence over time, then one thread per column sums the
  batch in order, or one block reduces with a fixed tree; never atomics.
* The head of a training step (logits, loss, dlogits, the dense layer's
  gradients, the gradient on the pooled state, the epoch's loss sum) is one
  single-block launch: launches, not arithmetic, dominate at these sizes.

The scalar gate math is :mod:`._math` compiled with
``cuda.jit(device=True)``; it is not rewritten here.

Launch sizes come from :data:`LAUNCH`; tests shrink them (and call
:func:`clear_cache`) so that tiny inputs span several blocks.
"""

import inspect
import math

import numpy as np
from numba import cuda

from .. import _math

__all__ = ["LAUNCH", "clear_cache", "kernels", "Launchers"]

# Launch configuration. ``tile``: GEMM threads per block edge (tile x tile
# threads) and k-chunk; ``gemm_reg``: outputs per thread along each edge (a
# block computes a (tile * gemm_reg)^2 tile of C);
# ``unit_threads``: threads across hidden units in the recurrent kernels (a
# stride loop covers larger U); ``rows_per_block``: sequences per block in the
# recurrent kernels (None = 1; more rows reuse R through L1 but use fewer
# blocks); ``recurrent_variant``: ``"rows"`` (``gru_*_steps``)
# or ``"split"`` (the default: ``gru_*_split``, the reduction axis
# of the recurrent products split over ``k_split`` thread rows, with
# ``split_rows`` (1, 2 or 4) sequences per block sharing each load of R, see
# :func:`_build`); ``threads``: elementwise kernels; ``max_blocks``: cap of
# grid-stride elementwise launches; ``reduce_threads``: one-block reductions
# (a power of two).
LAUNCH = {
    "tile": 16,
    "gemm_reg": 4,
    "unit_threads": 256,
    "rows_per_block": None,
    # "split" with k_split=4: measured on an H200 (benchmarks/results/
    # gpu_check_h200.md), training 1.6x / 1.17x / 1.11x faster than "rows" on
    # W1 / W2 / W3, and it passed every device-vs-CPU check there.
    "recurrent_variant": "split",
    "k_split": 4,
    "split_rows": 1,
    "threads": 256,
    "max_blocks": 4096,
    "reduce_threads": 256,
}

# Largest dynamic shared memory a block asks for without opting in.
_SHARED_LIMIT = 48 * 1024

# Most threads per block of the split-k recurrent kernels. They are compiled
# twice, with launch bounds of 1024 threads (at most 64 registers a thread:
# ptxas spills a few hundred bytes) and of 512 (at most 128: no spills);
# launches of up to 512 threads use the second.
_SPLIT_MAX_THREADS = 1024
_SPLIT_SMALL_THREADS = 512

_VARIANTS = ("rows", "split")

# Sequences per block the split-k kernels are compiled for.
_SPLIT_ROWS = (1, 2, 4)

_CACHE = {}

# Sink for launch records (tests compile every launched signature for a real
# GPU target); None = off.
LAUNCH_LOG = None


def clear_cache():
    """Forget compiled kernel sets (call after changing :data:`LAUNCH`)."""
    _CACHE.clear()


# LAUNCH entries that are compile-time constants of the kernels; the others
# are read at each launch, so changing them needs no recompilation.
_COMPILE_KEYS = ("tile", "gemm_reg", "reduce_threads")


def kernels(dtype):
    """The :class:`Launchers` for ``dtype`` (float32 or float64), built once."""
    dtype = np.dtype(dtype)
    consts = tuple(int(LAUNCH[k]) for k in _COMPILE_KEYS)
    key = (dtype.str, consts)
    ks = _CACHE.get(key)
    if ks is None:
        ks = _CACHE[key] = Launchers(dtype, *consts)
    return ks


def _ceil_div(a, b):
    return -(-a // b)


def _build(dtype, tile, reg, reduce_threads):
    """Compile-time constants go in as closure variables (dtype, tile sizes)."""
    sdt = np.dtype(dtype)
    cast = sdt.type
    f64 = np.float64
    f64dt = np.dtype(np.float64)
    TILE = tile
    REG = reg
    BT = tile * reg
    RT = reduce_threads
    m = _math.build(cuda.jit(device=True))
    gates_reset_after = m.gates_reset_after
    update_gates = m.update_gates
    candidate_reset_before = m.candidate_reset_before
    grad_zn = m.grad_zn
    grad_r = m.grad_r

    def bounded(fn, threads):
        if "launch_bounds" in inspect.signature(cuda.jit).parameters:
            return cuda.jit(launch_bounds=threads)(fn)
        return cuda.jit(fn)  # the simulator's jit has no launch bounds

    # -- data movement ---------------------------------------------------------

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

    # -- matrix products -------------------------------------------------------

    @cuda.jit
    def gemm(A, B, C, ta, tb):
        """``C = op(A) @ op(B)``; ``op`` transposes when ``ta`` / ``tb``.

        A block of ``TILE x TILE`` threads computes a ``BT x BT`` tile of
        ``C`` (``BT = TILE * REG``), each thread ``REG x REG`` outputs held in
        registers. Chunks of ``TILE`` along ``k`` are staged in shared memory
        as ``sA[k, i]`` and ``sB[k, j]``, loaded along the contiguous axis of
        each operand (coalesced for both orientations). Every output is
        summed by one thread in ascending ``k``: bitwise reproducible.
        """
        sA = cuda.shared.array((TILE, BT), sdt)
        sB = cuda.shared.array((TILE, BT), sdt)
        acc = cuda.local.array((REG, REG), sdt)
        Mr = C.shape[0]
        Nc = C.shape[1]
        K = A.shape[0] if ta else A.shape[1]
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        lid = ty * TILE + tx
        i0 = cuda.blockIdx.y * BT
        j0 = cuda.blockIdx.x * BT
        zero = cast(0)
        for m in range(REG):
            for n in range(REG):
                acc[m, n] = zero
        for k0 in range(0, K, TILE):
            for q in range(REG):
                e = lid + q * (TILE * TILE)
                if ta:
                    c = e // BT
                    r = e - c * BT
                    k = k0 + c
                    i = i0 + r
                    sA[c, r] = A[k, i] if (k < K and i < Mr) else zero
                else:
                    r = e // TILE
                    c = e - r * TILE
                    k = k0 + c
                    i = i0 + r
                    sA[c, r] = A[i, k] if (k < K and i < Mr) else zero
                if tb:
                    r = e // TILE
                    c = e - r * TILE
                    k = k0 + c
                    j = j0 + r
                    sB[c, r] = B[j, k] if (k < K and j < Nc) else zero
                else:
                    c = e // BT
                    r = e - c * BT
                    k = k0 + c
                    j = j0 + r
                    sB[c, r] = B[k, j] if (k < K and j < Nc) else zero
            cuda.syncthreads()
            kmax = min(TILE, K - k0)
            for kk in range(kmax):
                for m in range(REG):
                    a = sA[kk, ty + m * TILE]
                    for n in range(REG):
                        acc[m, n] += a * sB[kk, tx + n * TILE]
            cuda.syncthreads()
        for m in range(REG):
            i = i0 + ty + m * TILE
            if i < Mr:
                for n in range(REG):
                    j = j0 + tx + n * TILE
                    if j < Nc:
                        C[i, j] = acc[m, n]

    # -- the recurrence ----------------------------------------------------------

    @cuda.jit
    def gru_forward_steps(
        A, mask, R, b_i, b_h, rmask, use_rmask, reset_after, store, zero_h0, H, S, one
    ):
        """All timesteps for this block's rows; ``A`` holds ``X @ W`` (no bias).

        Shared memory (dynamic): ``h`` double buffer ``[2][rows][U]``, then
        ``z [rows][U]`` and ``r * h [rows][U]`` (reset_after=False).
        """
        sh = cuda.shared.array(0, sdt)
        T = A.shape[0]
        B = A.shape[1]
        U = R.shape[0]
        nrow = cuda.blockDim.y
        TX = cuda.blockDim.x
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        b = cuda.blockIdx.x * nrow + ty
        row_ok = b < B
        zero = one - one
        zoff = (2 * nrow + ty) * U
        rhoff = (3 * nrow + ty) * U
        for j in range(tx, U, TX):
            if row_ok:
                if zero_h0:
                    H[0, b, j] = zero
                sh[ty * U + j] = H[0, b, j]
        cuda.syncthreads()
        for t in range(T):
            p = t % 2
            hp = (p * nrow + ty) * U
            hn = ((1 - p) * nrow + ty) * U
            valid = False
            if row_ok:
                valid = mask[t, b] != 0
            if reset_after:
                for j in range(tx, U, TX):
                    if row_ok:
                        h_prev = sh[hp + j]
                        if valid:
                            mz = zero
                            mr = zero
                            mn = zero
                            for k in range(U):
                                hk = sh[hp + k]
                                if use_rmask:
                                    hk = hk * rmask[b, k]
                                mz += hk * R[k, j]
                                mr += hk * R[k, U + j]
                                mn += hk * R[k, 2 * U + j]
                            m_n = mn + b_h[2 * U + j]
                            z, r, n, h = gates_reset_after(
                                A[t, b, j] + b_i[j],
                                A[t, b, U + j] + b_i[U + j],
                                A[t, b, 2 * U + j] + b_i[2 * U + j],
                                mz + b_h[j],
                                mr + b_h[U + j],
                                m_n,
                                h_prev,
                                one,
                            )
                            if store:
                                S[t, b, j] = z
                                S[t, b, U + j] = r
                                S[t, b, 2 * U + j] = n
                                S[t, b, 3 * U + j] = m_n
                        else:
                            h = h_prev
                            if store:
                                S[t, b, j] = zero
                                S[t, b, U + j] = zero
                                S[t, b, 2 * U + j] = zero
                                S[t, b, 3 * U + j] = zero
                        sh[hn + j] = h
                        H[t + 1, b, j] = h
                cuda.syncthreads()
            else:
                for j in range(tx, U, TX):
                    if row_ok:
                        if valid:
                            mz = zero
                            mr = zero
                            for k in range(U):
                                hk = sh[hp + k]
                                if use_rmask:
                                    hk = hk * rmask[b, k]
                                mz += hk * R[k, j]
                                mr += hk * R[k, U + j]
                            z, r = update_gates(
                                A[t, b, j] + b_i[j], A[t, b, U + j] + b_i[U + j], mz, mr, one
                            )
                            hm = sh[hp + j]
                            if use_rmask:
                                hm = hm * rmask[b, j]
                            sh[zoff + j] = z
                            sh[rhoff + j] = r * hm
                            if store:
                                S[t, b, j] = z
                                S[t, b, U + j] = r
                        else:
                            sh[rhoff + j] = zero
                cuda.syncthreads()
                for j in range(tx, U, TX):
                    if row_ok:
                        h_prev = sh[hp + j]
                        if valid:
                            q = zero
                            for k in range(U):
                                q += sh[rhoff + k] * R[k, 2 * U + j]
                            n, h = candidate_reset_before(
                                A[t, b, 2 * U + j] + b_i[2 * U + j], q, sh[zoff + j], h_prev, one
                            )
                            if store:
                                S[t, b, 2 * U + j] = n
                                S[t, b, 3 * U + j] = sh[rhoff + j]
                        else:
                            h = h_prev
                            if store:
                                S[t, b, j] = zero
                                S[t, b, U + j] = zero
                                S[t, b, 2 * U + j] = zero
                                S[t, b, 3 * U + j] = zero
                        sh[hn + j] = h
                        H[t + 1, b, j] = h
                cuda.syncthreads()

    @cuda.jit
    def gru_backward_steps(
        mask, RT, rmask, use_rmask, reset_after, H, S, dH_seq, has_seq, G, dA, dM, dbp, one
    ):
        """Back-propagation through time for this block's rows.

        ``G (B, U)`` holds the gradient on the final state on entry and the
        gradient on ``H[0]`` on exit. ``RT`` is ``R.T`` (3U, U). ``dbp (B,
        6U)`` receives each sequence's sums over time of ``dA`` and ``dM``
        (the bias gradients, before the sum over the batch; zeros for ``dM``
        when reset_after=False). Shared memory:
        ``g [rows][U]`` then ``dM row [rows][3U]`` (reset_after) or ``dn
        [rows][U]``, ``[dz | dr] [rows][2U]``, ``dRH * r [rows][U]``.
        """
        sh = cuda.shared.array(0, sdt)
        T = dA.shape[0]
        B = dA.shape[1]
        U = G.shape[1]
        nrow = cuda.blockDim.y
        TX = cuda.blockDim.x
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        b = cuda.blockIdx.x * nrow + ty
        row_ok = b < B
        zero = one - one
        goff = ty * U
        w1 = nrow * U  # start of the second region
        dmoff = w1 + ty * 3 * U  # reset_after: dM row
        dnoff = w1 + ty * U  # reset_before: dn
        dzroff = 2 * w1 + ty * 2 * U  # reset_before: [dz | dr]
        drhoff = 4 * w1 + ty * U  # reset_before: dRH * r
        for j in range(tx, U, TX):
            if row_ok:
                sh[goff + j] = G[b, j]
                for c in range(6):
                    dbp[b, c * U + j] = zero
        cuda.syncthreads()
        for t in range(T - 1, -1, -1):
            valid = False
            if row_ok:
                valid = mask[t, b] != 0
            if reset_after:
                for j in range(tx, U, TX):
                    if row_ok:
                        gv = sh[goff + j]
                        if has_seq:
                            gv = gv + dH_seq[t, b, j]
                        if valid:
                            z = S[t, b, j]
                            r = S[t, b, U + j]
                            n = S[t, b, 2 * U + j]
                            m_n = S[t, b, 3 * U + j]
                            dz, dn = grad_zn(gv, H[t, b, j], z, n, one)
                            dr = grad_r(dn, m_n, r, one)
                            dnr = dn * r
                            dA[t, b, j] = dz
                            dA[t, b, U + j] = dr
                            dA[t, b, 2 * U + j] = dn
                            dM[t, b, j] = dz
                            dM[t, b, U + j] = dr
                            dM[t, b, 2 * U + j] = dnr
                            sh[dmoff + j] = dz
                            sh[dmoff + U + j] = dr
                            sh[dmoff + 2 * U + j] = dnr
                            sh[goff + j] = gv * z
                            dbp[b, j] += dz
                            dbp[b, U + j] += dr
                            dbp[b, 2 * U + j] += dn
                            dbp[b, 3 * U + j] += dz
                            dbp[b, 4 * U + j] += dr
                            dbp[b, 5 * U + j] += dnr
                        else:
                            for c in range(3):
                                dA[t, b, c * U + j] = zero
                                dM[t, b, c * U + j] = zero
                                sh[dmoff + c * U + j] = zero
                            sh[goff + j] = gv
                cuda.syncthreads()
                for j in range(tx, U, TX):
                    if row_ok:
                        dh = zero
                        for k in range(3 * U):
                            dh += sh[dmoff + k] * RT[k, j]
                        if use_rmask:
                            dh = dh * rmask[b, j]
                        sh[goff + j] = sh[goff + j] + dh
                cuda.syncthreads()
            else:
                for j in range(tx, U, TX):
                    if row_ok:
                        gv = sh[goff + j]
                        if has_seq:
                            gv = gv + dH_seq[t, b, j]
                        if valid:
                            z = S[t, b, j]
                            n = S[t, b, 2 * U + j]
                            dz, dn = grad_zn(gv, H[t, b, j], z, n, one)
                            dA[t, b, j] = dz
                            dA[t, b, 2 * U + j] = dn
                            dM[t, b, j] = dz
                            dM[t, b, 2 * U + j] = dn
                            sh[dnoff + j] = dn
                            sh[dzroff + j] = dz
                            sh[goff + j] = gv * z
                            dbp[b, j] += dz
                            dbp[b, 2 * U + j] += dn
                        else:
                            sh[dnoff + j] = zero
                            sh[goff + j] = gv
                cuda.syncthreads()
                for j in range(tx, U, TX):
                    if row_ok:
                        if valid:
                            drh = zero
                            for k in range(U):
                                drh += sh[dnoff + k] * RT[2 * U + k, j]
                            r = S[t, b, U + j]
                            hm = H[t, b, j]
                            if use_rmask:
                                hm = hm * rmask[b, j]
                            dr = grad_r(drh, hm, r, one)
                            dA[t, b, U + j] = dr
                            dM[t, b, U + j] = dr
                            sh[dzroff + U + j] = dr
                            dbp[b, U + j] += dr
                            sh[drhoff + j] = drh * r
                        else:
                            for c in range(3):
                                dA[t, b, c * U + j] = zero
                                dM[t, b, c * U + j] = zero
                            sh[dzroff + j] = zero
                            sh[dzroff + U + j] = zero
                            sh[drhoff + j] = zero
                cuda.syncthreads()
                for j in range(tx, U, TX):
                    if row_ok:
                        dh = zero
                        for k in range(2 * U):
                            dh += sh[dzroff + k] * RT[k, j]
                        dh = dh + sh[drhoff + j]
                        if use_rmask:
                            dh = dh * rmask[b, j]
                        sh[goff + j] = sh[goff + j] + dh
                cuda.syncthreads()
        for j in range(tx, U, TX):
            if row_ok:
                G[b, j] = sh[goff + j]

    # -- the recurrence, split-k variant -----------------------------------------
    #
    # ``RB`` sequences per block (a compile-time constant), ``blockDim = (TX,
    # KS)``: thread ``(tx, ks)`` sums slice ``ks`` of the reduction axis
    # (``k`` in ``[ks * KC, (ks + 1) * KC)``, ascending) for the columns ``j =
    # tx, tx + TX, ...`` of all ``RB`` rows (each ``R`` element loaded once
    # serves ``RB`` rows, accumulators in registers), and writes its partial
    # sums to shared memory; after a barrier the per-unit work (combining the
    # partials in slice order 0, 1, ..., KS - 1, the gate math, the stores) is
    # spread over all ``TX * KS`` threads. Each thread's serial chain of
    # dependent loads and FMAs is ``KS`` times shorter than in ``gru_*_steps``
    # and the SM has ``KS`` times more warps to hide the latency of reading
    # ``R`` from L2. The summation order per output is fixed (bitwise
    # reproducible run to run); with ``KS = 1`` it is the order of
    # ``gru_*_steps``. Steps where no row of the block is valid skip the
    # products and their barriers.

    def split_kernels(RB):
        RB3 = 3 * RB

        def _gru_forward_split(
            A, mask, R, b_i, b_h, rmask, use_rmask, reset_after, store, zero_h0, H, S, one
        ):
            """As :func:`gru_forward_steps`, ``RB`` sequences per block, split-k.

            Shared memory (dynamic), each ``[RB][U]`` per name: ``h``, ``h *
            rmask``, partial sums ``[KS][3]``, then ``z`` and ``r * h *
            rmask`` (reset_after=False).
            """
            sh = cuda.shared.array(0, sdt)
            acc = cuda.local.array(RB3, sdt)
            T = A.shape[0]
            B = A.shape[1]
            U = R.shape[0]
            TX = cuda.blockDim.x
            KS = cuda.blockDim.y
            tx = cuda.threadIdx.x
            ks = cuda.threadIdx.y
            tid = ks * TX + tx
            NT = TX * KS
            b0 = cuda.blockIdx.x * RB
            zero = one - one
            KC = (U + KS - 1) // KS
            k0 = ks * KC
            k1 = min(U, k0 + KC)
            RU = RB * U
            hoff = 0
            hmoff = RU
            poff = 2 * RU  # partial (s, r, gate g) at poff + ((s * RB + r) * 3 + g) * U
            zoff = (2 + 3 * KS) * RU
            rhoff = zoff + RU
            for i in range(tid, RU, NT):
                r = i // U
                j = i - r * U
                b = b0 + r
                h = zero
                if b < B:
                    if zero_h0:
                        H[0, b, j] = zero
                    h = H[0, b, j]
                sh[hoff + i] = h
                if use_rmask and b < B:
                    h = h * rmask[b, j]
                sh[hmoff + i] = h
                sh[rhoff + i] = zero
            cuda.syncthreads()
            for t in range(T):
                any_valid = False
                for r in range(RB):
                    if b0 + r < B:
                        if mask[t, b0 + r] != 0:
                            any_valid = True
                if any_valid:  # uniform across the block
                    for j in range(tx, U, TX):
                        for i in range(RB3):
                            acc[i] = zero
                        if reset_after:
                            for k in range(k0, k1):
                                w0 = R[k, j]
                                w1 = R[k, U + j]
                                w2 = R[k, 2 * U + j]
                                for r in range(RB):
                                    hk = sh[hmoff + r * U + k]
                                    acc[3 * r] += hk * w0
                                    acc[3 * r + 1] += hk * w1
                                    acc[3 * r + 2] += hk * w2
                        else:
                            for k in range(k0, k1):
                                w0 = R[k, j]
                                w1 = R[k, U + j]
                                for r in range(RB):
                                    hk = sh[hmoff + r * U + k]
                                    acc[3 * r] += hk * w0
                                    acc[3 * r + 1] += hk * w1
                        for i in range(RB3):
                            sh[poff + (ks * RB3 + i) * U + j] = acc[i]
                    cuda.syncthreads()
                for i in range(tid, RU, NT):
                    r = i // U
                    j = i - r * U
                    b = b0 + r
                    if b >= B:
                        continue
                    if mask[t, b] == 0:  # the state stays
                        if reset_after:
                            H[t + 1, b, j] = sh[hoff + i]
                            if store:
                                for c in range(4):
                                    S[t, b, c * U + j] = zero
                        else:
                            sh[rhoff + i] = zero
                        continue
                    q = poff + 3 * r * U + j
                    mz = sh[q]
                    mr = sh[q + U]
                    mn = sh[q + 2 * U]
                    for s in range(1, KS):
                        q = poff + (s * RB3 + 3 * r) * U + j
                        mz += sh[q]
                        mr += sh[q + U]
                        mn += sh[q + 2 * U]
                    if reset_after:
                        m_n = mn + b_h[2 * U + j]
                        z, rg, n, h = gates_reset_after(
                            A[t, b, j] + b_i[j],
                            A[t, b, U + j] + b_i[U + j],
                            A[t, b, 2 * U + j] + b_i[2 * U + j],
                            mz + b_h[j],
                            mr + b_h[U + j],
                            m_n,
                            sh[hoff + i],
                            one,
                        )
                        if store:
                            S[t, b, j] = z
                            S[t, b, U + j] = rg
                            S[t, b, 2 * U + j] = n
                            S[t, b, 3 * U + j] = m_n
                        sh[hoff + i] = h
                        H[t + 1, b, j] = h
                        if use_rmask:
                            h = h * rmask[b, j]
                        sh[hmoff + i] = h
                    else:
                        z, rg = update_gates(
                            A[t, b, j] + b_i[j], A[t, b, U + j] + b_i[U + j], mz, mr, one
                        )
                        sh[zoff + i] = z
                        sh[rhoff + i] = rg * sh[hmoff + i]
                        if store:
                            S[t, b, j] = z
                            S[t, b, U + j] = rg
                cuda.syncthreads()
                if reset_after or not any_valid:
                    if not reset_after:  # no valid row: the states stay
                        for i in range(tid, RU, NT):
                            r = i // U
                            j = i - r * U
                            b = b0 + r
                            if b < B:
                                H[t + 1, b, j] = sh[hoff + i]
                                if store:
                                    for c in range(4):
                                        S[t, b, c * U + j] = zero
                    continue
                for j in range(tx, U, TX):
                    for r in range(RB):
                        acc[r] = zero
                    for k in range(k0, k1):
                        w2 = R[k, 2 * U + j]
                        for r in range(RB):
                            acc[r] += sh[rhoff + r * U + k] * w2
                    for r in range(RB):
                        sh[poff + (ks * RB3 + 3 * r) * U + j] = acc[r]
                cuda.syncthreads()
                for i in range(tid, RU, NT):
                    r = i // U
                    j = i - r * U
                    b = b0 + r
                    if b >= B:
                        continue
                    h_prev = sh[hoff + i]
                    if mask[t, b] == 0:
                        H[t + 1, b, j] = h_prev
                        if store:
                            for c in range(4):
                                S[t, b, c * U + j] = zero
                        continue
                    q = sh[poff + 3 * r * U + j]
                    for s in range(1, KS):
                        q += sh[poff + (s * RB3 + 3 * r) * U + j]
                    n, h = candidate_reset_before(
                        A[t, b, 2 * U + j] + b_i[2 * U + j], q, sh[zoff + i], h_prev, one
                    )
                    if store:
                        S[t, b, 2 * U + j] = n
                        S[t, b, 3 * U + j] = sh[rhoff + i]
                    sh[hoff + i] = h
                    H[t + 1, b, j] = h
                    if use_rmask:
                        h = h * rmask[b, j]
                    sh[hmoff + i] = h
                cuda.syncthreads()

        def _gru_backward_split(
            mask, RT, rmask, use_rmask, reset_after, H, S, dH_seq, has_seq, G, dA, dM, dbp, one
        ):
            """As :func:`gru_backward_steps`, ``RB`` sequences per block, split-k.

            The product ``dh = d @ R.T`` of step ``t`` is added to the state
            gradient at the start of step ``t - 1`` (same arithmetic as adding
            it at the end of step ``t``). Shared memory, each ``[RB][U]`` per
            name: ``g``, partial sums ``[KS]``, then ``dM row [3]``
            (reset_after) or ``dn``, ``[dz | dr] [2]``, ``dRH * r``.
            """
            sh = cuda.shared.array(0, sdt)
            acc = cuda.local.array(RB, sdt)
            T = dA.shape[0]
            B = dA.shape[1]
            U = G.shape[1]
            TX = cuda.blockDim.x
            KS = cuda.blockDim.y
            tx = cuda.threadIdx.x
            ks = cuda.threadIdx.y
            tid = ks * TX + tx
            NT = TX * KS
            b0 = cuda.blockIdx.x * RB
            zero = one - one
            RU = RB * U
            goff = 0
            poff = RU  # partial (s, r) at poff + (s * RB + r) * U
            doff = (1 + KS) * RU  # reset_after: dM row of r at doff + 3 * r * U
            dnoff = doff  # reset_before: dn of r at dnoff + r * U
            dzroff = doff + RU  # reset_before: [dz | dr] of r at dzroff + 2 * r * U
            drhoff = doff + 3 * RU  # reset_before: dRH * r
            # slices of the reduction axis: 3U (reset_after) or U then 2U
            KC3 = (3 * U + KS - 1) // KS
            KC1 = (U + KS - 1) // KS
            KC2 = (2 * U + KS - 1) // KS
            for i in range(tid, RU, NT):
                r = i // U
                j = i - r * U
                b = b0 + r
                if b < B:
                    sh[goff + i] = G[b, j]
                    for c in range(6):
                        dbp[b, c * U + j] = zero
                else:
                    sh[goff + i] = zero
                for c in range(3):
                    sh[doff + 3 * r * U + c * U + j] = zero
                sh[drhoff + i] = zero
            cuda.syncthreads()
            for t in range(T - 1, -1, -1):
                any_valid = False
                for r in range(RB):
                    if b0 + r < B:
                        if mask[t, b0 + r] != 0:
                            any_valid = True
                for i in range(tid, RU, NT):
                    r = i // U
                    j = i - r * U
                    b = b0 + r
                    if b >= B:
                        continue
                    gv = sh[goff + i]
                    if t + 1 < T:
                        if mask[t + 1, b] != 0:  # add the product of step t + 1
                            dh = sh[poff + r * U + j]
                            for s in range(1, KS):
                                dh += sh[poff + (s * RB + r) * U + j]
                            if not reset_after:
                                dh = dh + sh[drhoff + i]
                            if use_rmask:
                                dh = dh * rmask[b, j]
                            gv = gv + dh
                    if has_seq:
                        gv = gv + dH_seq[t, b, j]
                    if mask[t, b] == 0:
                        for c in range(3):
                            dA[t, b, c * U + j] = zero
                            dM[t, b, c * U + j] = zero
                        sh[goff + i] = gv
                    elif reset_after:
                        z = S[t, b, j]
                        rg = S[t, b, U + j]
                        n = S[t, b, 2 * U + j]
                        m_n = S[t, b, 3 * U + j]
                        dz, dn = grad_zn(gv, H[t, b, j], z, n, one)
                        dr = grad_r(dn, m_n, rg, one)
                        dnr = dn * rg
                        dA[t, b, j] = dz
                        dA[t, b, U + j] = dr
                        dA[t, b, 2 * U + j] = dn
                        dM[t, b, j] = dz
                        dM[t, b, U + j] = dr
                        dM[t, b, 2 * U + j] = dnr
                        q = doff + 3 * r * U + j
                        sh[q] = dz
                        sh[q + U] = dr
                        sh[q + 2 * U] = dnr
                        sh[goff + i] = gv * z
                        dbp[b, j] += dz
                        dbp[b, U + j] += dr
                        dbp[b, 2 * U + j] += dn
                        dbp[b, 3 * U + j] += dz
                        dbp[b, 4 * U + j] += dr
                        dbp[b, 5 * U + j] += dnr
                    else:
                        z = S[t, b, j]
                        n = S[t, b, 2 * U + j]
                        dz, dn = grad_zn(gv, H[t, b, j], z, n, one)
                        dA[t, b, j] = dz
                        dA[t, b, 2 * U + j] = dn
                        dM[t, b, j] = dz
                        dM[t, b, 2 * U + j] = dn
                        sh[dnoff + i] = dn
                        sh[dzroff + 2 * r * U + j] = dz
                        sh[goff + i] = gv * z
                        dbp[b, j] += dz
                        dbp[b, 2 * U + j] += dn
                if not any_valid:  # uniform: no products this step
                    continue
                cuda.syncthreads()
                if reset_after:
                    k0 = ks * KC3
                    k1 = min(3 * U, k0 + KC3)
                    for j in range(tx, U, TX):
                        for r in range(RB):
                            acc[r] = zero
                        for k in range(k0, k1):
                            w = RT[k, j]
                            for r in range(RB):
                                acc[r] += sh[doff + 3 * r * U + k] * w
                        for r in range(RB):
                            sh[poff + (ks * RB + r) * U + j] = acc[r]
                    cuda.syncthreads()
                else:
                    k0 = ks * KC1
                    k1 = min(U, k0 + KC1)
                    for j in range(tx, U, TX):
                        for r in range(RB):
                            acc[r] = zero
                        for k in range(k0, k1):
                            w = RT[2 * U + k, j]
                            for r in range(RB):
                                acc[r] += sh[dnoff + r * U + k] * w
                        for r in range(RB):
                            sh[poff + (ks * RB + r) * U + j] = acc[r]
                    cuda.syncthreads()
                    for i in range(tid, RU, NT):
                        r = i // U
                        j = i - r * U
                        b = b0 + r
                        if b >= B:
                            continue
                        if mask[t, b] == 0:
                            continue
                        drh = sh[poff + r * U + j]
                        for s in range(1, KS):
                            drh += sh[poff + (s * RB + r) * U + j]
                        rg = S[t, b, U + j]
                        hm = H[t, b, j]
                        if use_rmask:
                            hm = hm * rmask[b, j]
                        dr = grad_r(drh, hm, rg, one)
                        dA[t, b, U + j] = dr
                        dM[t, b, U + j] = dr
                        sh[dzroff + 2 * r * U + U + j] = dr
                        dbp[b, U + j] += dr
                        sh[drhoff + i] = drh * rg
                    cuda.syncthreads()
                    k0 = ks * KC2
                    k1 = min(2 * U, k0 + KC2)
                    for j in range(tx, U, TX):
                        for r in range(RB):
                            acc[r] = zero
                        for k in range(k0, k1):
                            w = RT[k, j]
                            for r in range(RB):
                                acc[r] += sh[dzroff + 2 * r * U + k] * w
                        for r in range(RB):
                            sh[poff + (ks * RB + r) * U + j] = acc[r]
                    cuda.syncthreads()
            for i in range(tid, RU, NT):
                r = i // U
                j = i - r * U
                b = b0 + r
                if b >= B:
                    continue
                gv = sh[goff + i]
                if T > 0:
                    if mask[0, b] != 0:
                        dh = sh[poff + r * U + j]
                        for s in range(1, KS):
                            dh += sh[poff + (s * RB + r) * U + j]
                        if not reset_after:
                            dh = dh + sh[drhoff + i]
                        if use_rmask:
                            dh = dh * rmask[b, j]
                        gv = gv + dh
                G[b, j] = gv

        return (
            bounded(_gru_forward_split, _SPLIT_MAX_THREADS),
            bounded(_gru_forward_split, _SPLIT_SMALL_THREADS),
            bounded(_gru_backward_split, _SPLIT_MAX_THREADS),
            bounded(_gru_backward_split, _SPLIT_SMALL_THREADS),
        )

    gru_forward_split, gru_forward_split_small, gru_backward_split, gru_backward_split_small = (
        split_kernels(1)
    )
    (
        gru_forward_split_r2,
        gru_forward_split_small_r2,
        gru_backward_split_r2,
        gru_backward_split_small_r2,
    ) = split_kernels(2)
    (
        gru_forward_split_r4,
        gru_forward_split_small_r4,
        gru_backward_split_r4,
        gru_backward_split_small_r4,
    ) = split_kernels(4)

    # -- reductions ------------------------------------------------------------

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
        as :func:`skgru._network.head_loss_grad`.
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

    # -- clipping, L2, optimizers, constraints (flat parameter buffers) ----------

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

    return {name: obj for name, obj in locals().items() if hasattr(obj, "py_func")}


class Launchers:
    """The compiled kernels of one dtype with host-side launchers.

    Launchers take device arrays and write into preallocated outputs; they
    never copy to the host and never synchronise.
    """

    def __init__(self, dtype, tile, gemm_reg, reduce_threads):
        self.dtype = np.dtype(dtype)
        self.one = self.dtype.type(1)
        self.tile = tile
        self.gemm_reg = gemm_reg
        self.reduce_threads = reduce_threads
        self.k = _build(self.dtype, tile, gemm_reg, reduce_threads)
        self._placeholders = {}

    @property
    def launch(self):
        """The launch-time settings (live :data:`LAUNCH`)."""
        return LAUNCH

    # -- helpers ---------------------------------------------------------------

    def _go(self, name, grid, block, shared, *args):
        if LAUNCH_LOG is not None:
            LAUNCH_LOG.append((self.dtype.str, tuple(sorted(self.launch.items())), name, args))
        self.k[name][grid, block, 0, shared](*args)

    def _elementwise(self, n):
        tpb = int(self.launch["threads"])
        return max(1, min(_ceil_div(max(n, 1), tpb), int(self.launch["max_blocks"]))), tpb

    def cast(self, x):
        return self.dtype.type(x)

    # -- launchers -------------------------------------------------------------

    def gather_batch(self, values, vmask, idx, t0, noise, imask, use_noise, use_imask, X, M):
        grid, tpb = self._elementwise(X.size)
        args = (vmask, idx, int(t0), noise, imask, bool(use_noise), bool(use_imask), X, M)
        self._go("gather_batch", grid, tpb, 0, values, *args)

    def gather_tokens(self, ids, vmask, idx, t0, E, noise, imask, use_noise, use_imask, X, M):
        grid, tpb = self._elementwise(X.size)
        args = (idx, int(t0), E, noise, imask, bool(use_noise), bool(use_imask), X, M)
        self._go("gather_tokens", grid, tpb, 0, ids, vmask, *args)

    def rows_sum(self, dX2, pos, seg, out):
        grid, tpb = self._elementwise(out.size)
        self._go("rows_sum", grid, tpb, 0, dX2, pos, seg, out)

    def scatter_rows(self, src, rows, dense):
        grid, tpb = self._elementwise(src.size)
        self._go("scatter_rows", grid, tpb, 0, src, rows, dense)

    def fill(self, x, value):
        grid, tpb = self._elementwise(x.size)
        self._go("fill", grid, tpb, 0, x, self.cast(value))

    def adam_rows(self, p, g, rows, m, v, beta_1, beta_2, lr_t, eps, g_min, s_min):
        grid, tpb = self._elementwise(g.size)
        c = self.cast
        args = (c(beta_1), c(1 - beta_1), c(beta_2), c(1 - beta_2), c(-lr_t), c(eps))
        self._go("adam_rows", grid, tpb, 0, p, g, rows, m, v, *args, c(g_min), c(s_min))

    def pool_forward(self, out, mask, mode, pooled, arg, count):
        grid, tpb = self._elementwise(pooled.size)
        self._go("pool_forward", grid, tpb, 0, out, mask, int(mode), pooled, arg, count)

    def pool_backward(self, dpooled, mask, mode, arg, count, dH_seq):
        grid, tpb = self._elementwise(dpooled.size)
        self._go("pool_backward", grid, tpb, 0, dpooled, mask, int(mode), arg, count, dH_seq)

    def transpose(self, A, AT):
        grid, tpb = self._elementwise(A.size)
        self._go("transpose", grid, tpb, 0, A, AT)

    def apply_rmask(self, H, rmask, out):
        grid, tpb = self._elementwise(out.size)
        self._go("apply_rmask", grid, tpb, 0, H, rmask, out)

    def add_row_vector(self, C, v):
        grid, tpb = self._elementwise(C.size)
        self._go("add_row_vector", grid, tpb, 0, C, v)

    def take_features(self, src, c0, reverse, dst):
        grid, tpb = self._elementwise(dst.size)
        self._go("take_features", grid, tpb, 0, src, int(c0), bool(reverse), dst)

    def put_features(self, src, c0, reverse, dst):
        grid, tpb = self._elementwise(src.size)
        self._go("put_features", grid, tpb, 0, src, int(c0), bool(reverse), dst)

    def add_reversed(self, a, b):
        grid, tpb = self._elementwise(a.size)
        self._go("add_reversed", grid, tpb, 0, a, b)

    def add_into(self, x, y):
        grid, tpb = self._elementwise(x.size)
        self._go("add_into", grid, tpb, 0, x, y)

    def gather_rows(self, table, ids, out):
        grid, tpb = self._elementwise(out.size)
        self._go("gather_rows", grid, tpb, 0, table, ids, out)

    def gemm(self, A, B, C, ta=False, tb=False):
        """``C (M, N) = op(A) @ op(B)``."""
        tile = self.tile
        bt = tile * self.gemm_reg
        Mr, Nc = C.shape
        grid = (max(1, _ceil_div(Nc, bt)), max(1, _ceil_div(Mr, bt)))
        self._go("gemm", grid, (tile, tile), 0, A, B, C, bool(ta), bool(tb))

    def _recurrent_launch(self, B, U, n_shared):
        tx = max(1, min(int(self.launch["unit_threads"]), U))
        rows = self.launch["rows_per_block"] or 1
        rows = max(1, min(int(rows), B, 1024 // max(tx, 1)))
        item = self.dtype.itemsize
        while rows > 1 and n_shared * rows * U * item > _SHARED_LIMIT:
            rows -= 1
        shared = n_shared * rows * U * item
        if shared > _SHARED_LIMIT:
            raise ValueError(
                f"units={U} is too large for the CUDA kernels with dtype {self.dtype} "
                f"(they keep {n_shared} state vectors per sequence in 48 KiB of shared "
                "memory); use device='cpu' or dtype='float32'."
            )
        return _ceil_div(B, rows), (tx, rows), shared

    def check_units(self, U):
        """Raise ValueError when the recurrent kernels cannot take ``U`` units in this dtype."""
        if self._variant() == "split":
            self._split_launch("gru_forward_split", 1, U, 4, 3)
            self._split_launch("gru_backward_split", 1, U, 5, 1)
        else:
            self._recurrent_launch(1, U, 4)
            self._recurrent_launch(1, U, 5)

    def _variant(self):
        v = self.launch.get("recurrent_variant") or "rows"
        if v not in _VARIANTS:
            raise ValueError(f"LAUNCH['recurrent_variant'] must be one of {_VARIANTS}, got {v!r}")
        return v

    def _split_launch(self, kernel, B, U, n_fixed, n_slice):
        """Kernel name, grid, block and shared bytes of the split-k kernels.

        ``split_rows`` (1, 2 or 4; at most ``B``) sequences per block; shared
        memory holds ``(n_fixed + n_slice * k_split) * split_rows`` vectors of
        ``U``; ``k_split`` (then ``split_rows``) is lowered to fit the thread
        and shared-memory limits.
        """
        tx = max(1, min(int(self.launch["unit_threads"]), U))
        ks = max(1, min(int(self.launch.get("k_split") or 1), U, _SPLIT_MAX_THREADS // tx))
        want = min(int(self.launch.get("split_rows") or 1), max(B, 1))
        rb = max(r for r in _SPLIT_ROWS if r <= max(want, 1))
        item = self.dtype.itemsize

        def size():
            return (n_fixed + n_slice * ks) * rb * U * item

        while size() > _SHARED_LIMIT and (ks > 1 or rb > 1):
            if ks > 1:
                ks -= 1
            else:
                rb = max(r for r in _SPLIT_ROWS if r < rb)
        if size() > _SHARED_LIMIT:
            raise ValueError(
                f"units={U} is too large for the CUDA kernels with dtype {self.dtype} "
                f"(they keep {n_fixed + n_slice} vectors per sequence in 48 KiB of shared "
                "memory); use device='cpu' or dtype='float32'."
            )
        name = kernel + ("_small" if tx * ks <= _SPLIT_SMALL_THREADS else "")
        name += "" if rb == 1 else f"_r{rb}"
        return name, _ceil_div(B, rb), (tx, ks), size()

    def gru_forward(self, X, mask, W, R, bias, h0, rmask, reset_after, H, S, A):
        """Same arguments as :func:`skgru.kernels.cpu._gru.gru_forward` (device arrays).

        ``bias`` is ``(2, 3U)`` or, with ``reset_after=False``, ``(3U,)``;
        ``rmask`` of shape ``(0, U)`` or None means no recurrent dropout;
        ``S`` of shape ``(0, ...)`` or None means inference. ``h0`` None means
        a zero initial state (written by the kernel, no extra copy). ``X``
        None means ``A`` already holds the input projections.
        """
        T, B = mask.shape
        U = R.shape[0]
        if X is not None:
            self.gemm(X.reshape(T * B, X.shape[2]), W, A.reshape(T * B, 3 * U))
        b_i, b_h = (bias[0], bias[1]) if bias.ndim == 2 else (bias, bias)
        if h0 is not None:
            H[0].copy_to_device(h0)
        zero_h0 = h0 is None
        use_rmask = rmask is not None and rmask.shape[0] > 0
        store = S is not None and S.shape[0] > 0
        if self._variant() == "split":
            name, grid, block, shared = self._split_launch("gru_forward_split", B, U, 4, 3)
        else:
            name = "gru_forward_steps"
            grid, block, shared = self._recurrent_launch(B, U, 4)
        self._go(
            name,
            grid,
            block,
            shared,
            A,
            mask,
            R,
            b_i,
            b_h,
            rmask if use_rmask else self.placeholder(2),
            use_rmask,
            bool(reset_after),
            store,
            zero_h0,
            H,
            S if store else self.placeholder(3),
            self.one,
        )

    def gru_backward_steps(self, mask, RT, rmask, reset_after, H, S, dH_seq, G, dA, dM, dbp):
        B, U = G.shape
        use_rmask = rmask is not None and rmask.shape[0] > 0
        has_seq = dH_seq is not None and dH_seq.shape[0] > 0
        if self._variant() == "split":
            name, grid, block, shared = self._split_launch("gru_backward_split", B, U, 5, 1)
        else:
            name = "gru_backward_steps"
            grid, block, shared = self._recurrent_launch(B, U, 5)
        self._go(
            name,
            grid,
            block,
            shared,
            mask,
            RT,
            rmask if use_rmask else self.placeholder(2),
            use_rmask,
            bool(reset_after),
            H,
            S,
            dH_seq if has_seq else self.placeholder(3),
            has_seq,
            G,
            dA,
            dM,
            dbp,
            self.one,
        )

    def sum_rows(self, P, out):
        """``out[j] = sum_i P[i, j]``, rows in order, one launch."""
        n = out.shape[0]
        tpb = min(int(self.launch["threads"]), 128)
        self._go("sum_rows", _ceil_div(n, tpb), tpb, 0, P, P.shape[0], out)

    def sumsq_segments(self, x, starts, lengths, out):
        self._go(
            "sumsq_segments",
            starts.shape[0],
            self.reduce_threads,
            0,
            x,
            starts,
            lengths,
            out,
        )

    def head_step(
        self, pooled, Wd, bd, Y, w, idx, w_sum, mode, alpha, pnorms,
        logits, dlogits, row_loss, gWd, gbd, dpooled, acc,
    ):  # fmt: skip
        self._go(
            "head_step", 1, int(self.launch["threads"]), 0,
            pooled, Wd, bd, Y, w, idx, float(w_sum), int(mode), float(alpha), pnorms,
            logits, dlogits, row_loss, gWd, gbd, dpooled, acc,
        )  # fmt: skip

    def axpy(self, y, x, a):
        grid, tpb = self._elementwise(y.size)
        self._go("axpy", grid, tpb, 0, y, x, self.cast(a))

    def clip_by_norm(self, g, starts, lengths, norms, c):
        grid, tpb = self._elementwise(g.size)
        self._go("clip_by_norm", grid, tpb, 0, g, starts, lengths, norms, float(c))

    def clip_global(self, g, starts, lengths, norms, c):
        grid, tpb = self._elementwise(g.size)
        self._go("clip_global", grid, tpb, 0, g, starts, lengths, norms, float(c))

    def clip_value(self, g, c):
        grid, tpb = self._elementwise(g.size)
        self._go("clip_value", grid, tpb, 0, g, self.cast(c))

    def adam(self, p, g, m, v, beta_1, beta_2, lr_t, eps):
        grid, tpb = self._elementwise(p.size)
        c = self.cast
        self._go(
            "adam_update",
            grid,
            tpb,
            0,
            p,
            g,
            m,
            v,
            c(beta_1),
            c(1 - beta_1),
            c(beta_2),
            c(1 - beta_2),
            c(-lr_t),
            c(eps),
        )

    def sgd(self, p, g, vel, momentum, lr, nesterov):
        grid, tpb = self._elementwise(p.size)
        c = self.cast
        self._go("sgd_update", grid, tpb, 0, p, g, vel, c(momentum), c(lr), bool(nesterov))

    def rmsprop(self, p, g, vel, momb, rho, lr, eps, momentum):
        grid, tpb = self._elementwise(p.size)
        c = self.cast
        use_m = momentum > 0
        self._go(
            "rmsprop_update",
            grid,
            tpb,
            0,
            p,
            g,
            vel,
            momb if use_m else vel,
            c(rho),
            c(1 - rho),
            c(lr),
            c(eps),
            c(momentum),
            bool(use_m),
        )

    def constrain_norm(self, w2, by_row, kind, lo, hi, rate, eps):
        nvec = w2.shape[0] if by_row else w2.shape[1]
        tpb = min(int(self.launch["threads"]), 128)
        c = self.cast
        self._go(
            "constrain_norm",
            _ceil_div(max(nvec, 1), tpb),
            tpb,
            0,
            w2,
            bool(by_row),
            int(kind),
            c(lo),
            c(hi),
            c(rate),
            c(1 - rate),
            c(eps),
        )

    def nonneg(self, x):
        grid, tpb = self._elementwise(x.size)
        self._go("nonneg", grid, tpb, 0, x)

    # -- placeholders for optional inputs ---------------------------------------

    def placeholder(self, ndim):
        """A one-element ``ndim``-D device array standing in for an absent optional input."""
        d = self._placeholders.get(ndim)
        if d is None:
            d = self._placeholders[ndim] = cuda.to_device(np.zeros((1,) * ndim, dtype=self.dtype))
        return d
