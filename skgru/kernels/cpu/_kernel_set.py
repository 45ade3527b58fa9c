"""The CPU kernel set: the ``@njit`` kernels of :mod:`._gru` behind the engine's interface.

One layer and direction runs in two phases, each split over threads of the
pool in :mod:`skgru.kernels._threads` (``n_threads``): the forward is the
input projection of all steps (blocks of whole steps, one product per block)
and then the recurrence (row ranges of the batch, each running through all
the steps on its own thread: rows never interact); the backward is the
recurrence by row ranges and then the weight-gradient products by step
blocks, whose partial sums are added in block order. The split depends only
on the shapes and ``n_threads``, so a fit is reproducible for a given thread
count; inference products are row-wise
(:func:`~skgru.kernels.cpu._gru.matmul_rowwise`), so predictions do not
depend on the thread count at all.

Everything else (pooling, the output layer and its loss, clipping, the
optimizer steps, constraints) is NumPy on the host arrays; the loss is
computed in float64.

Scratch arrays come from a :class:`Workspace` kept for a whole fit: fresh
arrays of this size (W3: over 100 MB per batch) cost more in page faults than
some of the arithmetic (``benchmarks/NOTES.md``, "Workspaces kept between batches").
"""

import math
import threading
import weakref

import numpy as np

from ...data._sequences import time_major_batch
from ...model._network import fused_bias, head_loss_grad
from .._interface import Batch, KernelSet, LayerRun
from .._threads import blas_threads, run_tasks, split
from . import _gru as _cpu
from . import _updates

__all__ = ["CPUKernelSet", "projected_embedding", "Workspace"]

# Smallest row range worth a thread of its own in the recurrence, and the
# smallest block of (step x batch) rows worth one in the big products: below
# these the hand-off (tens of microseconds) costs more than it saves.
_MIN_CHUNK_ROWS = 8
_MIN_BLOCK_ROWS = 256


def _row_bounds(B, n_threads):
    return split(B, min(n_threads, max(1, B // _MIN_CHUNK_ROWS)))


def _step_bounds(T, B, n_threads):
    return split(T, min(n_threads, max(1, (T * B) // _MIN_BLOCK_ROWS)))


def _weight_grads(X, H, S, rmask, reset_after, dA, dM, W, dW, dR, dbias, dX, t0, t1):
    """:func:`~skgru.kernels.cpu._gru.gru_weight_grads` for the steps ``t0:t1``, by NumPy.

    The same products, run by NumPy's BLAS (it releases the GIL, so blocks
    run in parallel on the pool's threads): NumPy's OpenBLAS build ran these
    long-K transposed products 1.1-1.3x faster than the one numba's
    ``np.dot`` calls (SciPy's), benchmarks/NOTES.md, "Weight gradients
    through NumPy's BLAS".
    """
    B, F = X.shape[1:]
    U = H.shape[2]
    N = (t1 - t0) * B
    if N == 0:
        dW[:] = 0
        dR[:] = 0
        dbias[:] = 0
        return
    dA2 = dA[t0:t1].reshape(N, 3 * U)
    dM2 = dM[t0:t1].reshape(N, 3 * U)
    np.dot(X[t0:t1].reshape(N, F).T, dA2, out=dW)
    _cpu.column_sums(dA2, dbias[0])
    Hp = H[t0:t1]
    Hp = (Hp * rmask[None] if rmask.shape[0] > 0 else Hp).reshape(N, U)
    if reset_after:
        np.dot(Hp.T, dM2, out=dR)
        _cpu.column_sums(dM2, dbias[1])
    else:
        dbias[1] = 0
        dR[:, : 2 * U] = np.dot(Hp.T, dM2[:, : 2 * U])
        RH2 = S[t0:t1].reshape(N, 4 * U)[:, 3 * U :]
        dR[:, 2 * U :] = np.dot(RH2.T, dM2[:, 2 * U :])
    if dX.shape[0] > 0:
        np.dot(dA2, W.T, out=dX[t0:t1].reshape(N, F))


def _take_rows(E, ids, out):
    np.take(E, ids, axis=0, out=out)


def _project_rows(E, W, out, r0, r1):
    _cpu.matmul_rowwise(E[r0:r1], W, out[r0:r1])


# The largest projected-embedding table kept (bytes, per direction): a
# vocabulary of 50,000 with 3 * 256 float32 columns is 154 MB and is not kept.
TABLE_MAX_BYTES = 128 * 2**20


class _TableCache:
    """Projected-embedding tables of fitted models, per live ``(E, W)`` pair.

    An entry counts the tokens predicted with the pair; once they reach the
    vocabulary size, projecting the whole vocabulary once costs no more than
    the projections already made, and the table is built (the rent-or-buy
    rule: at most twice the cost of knowing the future). An entry goes when
    either array is garbage-collected (a refit or ``set_weights`` replaces
    the arrays, never writes them), so a table never outlives its weights.
    """

    def __init__(self):
        # Re-entrant: a garbage collection inside ``get`` may run a finalizer
        # (``_drop``) on the thread that holds the lock.
        self._lock = threading.RLock()
        self._entries = {}

    def __len__(self):
        return len(self._entries)

    def _drop(self, key):
        with self._lock:
            self._entries.pop(key, None)

    def get(self, E, W, n_tokens, n_threads):
        V, G = E.shape[0], W.shape[1]
        if V * G * W.itemsize > TABLE_MAX_BYTES:
            return None
        key = (id(E), id(W))
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = [0, None]
                weakref.finalize(E, self._drop, key)
                weakref.finalize(W, self._drop, key)
            if entry[1] is not None:
                return entry[1]
            entry[0] += n_tokens
            if entry[0] < V:
                return None
            # Built under the lock: concurrent predictions wait for one table.
            table = np.empty((V, G), dtype=W.dtype)
            Wa = _cpu.aligned_copy(np.ascontiguousarray(W))
            Ec = np.ascontiguousarray(E, dtype=W.dtype)
            rows = split(V, max(1, min(n_threads, V // _MIN_BLOCK_ROWS)))
            run_tasks(_project_rows, [(Ec, Wa, table, r0, r1) for r0, r1 in zip(rows, rows[1:])])
            entry[1] = table
            return table


_TABLES = _TableCache()


def projected_embedding(E, W, n_tokens, n_threads):
    """``E @ W`` row by row (``(V, 3U)``) for a fitted model's arrays, or None.

    Inference with token input projects each token's embedding row with
    :func:`~skgru.kernels.cpu._gru.matmul_rowwise`, whose rows have the same
    bits wherever they sit; so a row of this table is bitwise the
    projection the recurrence would make, and looking it up replaces the
    input product of every step (half the arithmetic of W4's prediction).
    ``n_tokens`` is the number of token positions about to be predicted;
    the table is built once the pair has seen a vocabulary's worth of them
    (None before, and for tables over :data:`TABLE_MAX_BYTES`). ``E`` and
    ``W`` must never be written in place while they live (a fitted model's
    ``_weights`` are replaced, not written).
    """
    return _TABLES.get(E, W, n_tokens, n_threads)


class Workspace:
    """Scratch arrays kept between batches, one flat buffer per name.

    ``empty(key, shape, dtype)`` returns an uninitialised C-contiguous array
    that is a prefix of the buffer for ``key``, grown when a larger one is
    asked for. An array is valid until the next request for the same key.
    """

    def __init__(self):
        self._buffers = {}

    def empty(self, key, shape, dtype):
        dtype = np.dtype(dtype)
        n = math.prod(shape)
        buf = self._buffers.get(key)
        if buf is None or buf.dtype != dtype or buf.size < n:
            buf = np.empty(max(n, 1), dtype=dtype)
            self._buffers[key] = buf
        return buf[:n].reshape(shape)

    def release(self):
        """Drop every buffer (the next request allocates afresh)."""
        self._buffers.clear()

    def holds(self, key, a):
        """Whether ``a`` is an array :meth:`empty` returned for ``key``."""
        buf = self._buffers.get(key)
        return buf is not None and a.base is buf


_NO_IDS = np.zeros((0, 0), dtype=np.int32)

# Rows per thread below which the lazy Adam update of an embedding stays on
# one thread (a hand-off costs tens of microseconds).
_MIN_ADAM_ROWS = 1024

# The distinct ids of a batch by marking a table of the vocabulary's size
# while it is at most this many times the batch's ids; beyond, by np.unique's
# sort (about 38 ns per id, against about 1 ns per vocabulary row to mark).
_MARK_IDS_PER_ID = 32


def _run(X, mask, W, R, bias, rmask, reset_after, store, ws, key, n_threads, table, ids, h0=None):
    T, B, F = X.shape
    U = R.shape[0]
    dtype = X.dtype
    H = ws.empty(("H",) + key, (T + 1, B, U), dtype)
    S = ws.empty(("S",) + key, (T, B, 4 * U) if store else (0, B, 4 * U), dtype)
    b2 = np.ascontiguousarray(fused_bias(bias))
    if h0 is None:
        h0 = np.zeros((B, U), dtype=dtype)
    else:
        h0 = np.ascontiguousarray(h0, dtype=dtype)
    if table is None:
        table, ids = np.empty((0, 3 * U), dtype=dtype), _NO_IDS
    args = (X, mask, W, R, b2, h0, rmask, reset_after, H, S, table, ids)
    rows = _row_bounds(B, n_threads)
    run_tasks(
        _cpu.gru_forward_part,
        [args + (b0, b1) for b0, b1 in zip(rows, rows[1:])],
    )
    return H, S


class CPUKernelSet(KernelSet):
    """The CPU target: host NumPy arrays, ``@njit`` kernels, ``n_threads`` threads.

    An instance holds the scratch arrays of one fit or one prediction; make
    one per concurrent use.
    """

    name = "cpu"
    inference_batch_size = 256

    def __init__(self, dtype, n_threads=1):
        self.dtype = np.dtype(dtype)
        self.n_threads = max(1, int(n_threads))
        self.workspace = Workspace()

    # -- scope -------------------------------------------------------------------

    def session(self):
        return blas_threads()

    def release(self):
        self.workspace.release()

    # -- arrays and groups ----------------------------------------------------------

    def to_host(self, a):
        return a

    def group(self, arrays, copy=True):
        return _Group([np.array(a, copy=True) if copy else a for a in arrays])

    def zeros_like(self, group):
        return _Group([np.zeros_like(a) for a in group.arrays])

    def read(self, group, into=None):
        if into is None:
            return [a.copy() for a in group.arrays]
        for dst, src in zip(into, group.arrays):
            if dst is not src:
                dst[...] = src
        return into

    def write(self, group, arrays):
        for dst, src in zip(group.arrays, arrays):
            dst[...] = src

    # -- data -------------------------------------------------------------------------

    def dataset(self, seqs, Y, w):
        return (seqs, Y, w)

    def epoch(self, batches):
        return [None] * len(batches)

    def gather(self, data, idx, handle, E):
        Xv, mask = time_major_batch(data[0], idx)
        T, B = mask.shape
        if E is None:
            return Batch(np.ascontiguousarray(Xv, dtype=self.dtype), mask, T, B, idx=idx)
        X = np.ascontiguousarray(self._embed(E, Xv), dtype=self.dtype)
        return Batch(X, mask, T, B, ids=Xv, ids_host=Xv, mask_host=mask, idx=idx)

    def add_noise(self, X, noise):
        X += noise

    def inference_batch(self, seqs, idx, dense):
        Xv, mask = time_major_batch(seqs, idx, dense=dense)
        T, B = mask.shape
        if seqs.is_tokens:
            return Batch(None, mask, T, B, ids=Xv, ids_host=Xv, mask_host=mask)
        return Batch(np.ascontiguousarray(Xv, dtype=self.dtype), mask, T, B)

    def embed(self, E, batch):
        return np.ascontiguousarray(self._embed(E, batch.ids), dtype=self.dtype)

    def _embed(self, E, ids):
        """``E[ids]`` for time-major ids ``(T, B)``, gathered by step blocks on the pool.

        ``np.take`` releases the GIL; a gather is a few MB for a text batch
        (W4: 3.3 MB, about 1 ms on one thread, of an 8-10 ms prediction).
        """
        T, B = ids.shape
        out = self.workspace.empty("embedded", (T, B, E.shape[1]), E.dtype)
        steps = _step_bounds(T, B, self.n_threads)
        run_tasks(_take_rows, [(E, ids[t0:t1], out[t0:t1]) for t0, t1 in zip(steps, steps[1:])])
        return out

    # -- one layer and direction --------------------------------------------------------

    def layer_forward(
        self, X, mask, W, R, bias, rmask, reset_after, training, key, table=None, h0=None
    ):
        """As the interface's, and (CPU only) ``h0 (B, U)``: the state before the first step.

        A zero state when None; exact streaming (:class:`skgru.GRUStream`)
        carries the last state of one chunk of steps into the next.
        """
        U = R.shape[0]
        rm = rmask if rmask is not None else np.zeros((0, U), dtype=self.dtype)
        tab, ids = table if table is not None else (None, None)
        if X is None:  # the first layer reads its projections from the table
            X = np.empty(mask.shape + (0,), dtype=self.dtype)
        H, S = _run(
            X, mask, W, R, bias, rm, reset_after, training, self.workspace, key,
            self.n_threads, tab, ids, h0,
        )  # fmt: skip
        # No stored input projections: each step projects its input in the recurrence.
        return LayerRun(X, mask, H, S, None, rm)

    def layer_backward(self, run, W, R, bias, reset_after, dH_seq, dh_last, want_dx, key, out):
        dtype = self.dtype
        T, B = run.mask.shape
        U = R.shape[0]
        ws = self.workspace
        if dH_seq is None:
            dH_seq = np.zeros((0, B, U), dtype=dtype)
        if dh_last is None:
            dh_last = np.zeros((B, U), dtype=dtype)
        F = run.X.shape[2]
        if want_dx and ws.holds("embedded", run.X):
            # The embedded batch is read after the forward only by this
            # layer's weight gradients, each step block before it writes that
            # block's dX (a backward direction reads a reversed copy): dX
            # takes its place, one (T, B, F) array less at a text model's peak.
            dX = run.X
        else:
            dX = ws.empty(("dX",) + key, (T, B, F) if want_dx else (0, B, F), dtype)
        dA = ws.empty(("dA",) + key, (T, B, 3 * U), dtype)
        dM = ws.empty(("dM",) + key, (T, B, 3 * U), dtype)
        dh0 = np.empty((B, U), dtype=dtype)
        rows = _row_bounds(B, self.n_threads)
        steps = _step_bounds(T, B, self.n_threads)
        dW, dR, dbias = out
        db2 = dbias if dbias.ndim == 2 else np.empty((2, 3 * U), dtype=dtype)
        # The first step block writes the outputs; the others are added in block order.
        parts = [(dW, dR, db2)] + [
            (np.empty_like(W), np.empty_like(R), np.empty((2, 3 * U), dtype=dtype))
            for _ in steps[2:]
        ]
        head = (run.X, run.mask, W, R, run.rmask, reset_after, run.H, run.S)
        grads_in = (dH_seq, dh_last)
        tail = (dX, dh0, dA, dM)
        run_tasks(
            _cpu.gru_backward_part,
            [
                head + grads_in + parts[0] + tail + (_cpu.BPTT, b0, b1)
                for b0, b1 in zip(rows, rows[1:])
            ],
        )
        run_tasks(
            _weight_grads,
            [
                (run.X, run.H, run.S, run.rmask, reset_after, dA, dM, W) + part + (dX, t0, t1)
                for part, t0, t1 in zip(parts, steps, steps[1:])
            ],
        )
        for pW, pR, pb in parts[1:]:
            dW += pW
            dR += pR
            db2 += pb
        if dbias.ndim == 1:
            dbias[...] = db2[0]
        return dX if want_dx else None

    def input_projection_tables(self, E, Ws, n_tokens, fitted):
        if not fitted or E.dtype != self.dtype:
            return None
        tables = [projected_embedding(E, W, n_tokens, self.n_threads) for W in Ws]
        return None if any(t is None for t in tables) else tables

    # -- between layers and directions -----------------------------------------------------

    def scale_rows(self, X, m, key=None):
        if key is None:
            X *= m[None]
            return X
        return X * m[None]

    def time_reversed(self, X, key):
        return np.ascontiguousarray(X[::-1])

    def concat_features(self, parts, reverse, key):
        parts = [p[::-1] if r else p for p, r in zip(parts, reverse)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)

    def feature_slice(self, A, c0, c1, reverse, key):
        part = A[..., c0:c1]
        return np.ascontiguousarray(part[::-1] if reverse else part, dtype=self.dtype)

    def add_reversed(self, a, b):
        return a + b[::-1]

    # -- pooling and the output layer --------------------------------------------------------

    def pool(self, out, final, mask, pooling):
        if pooling == "last":
            return final, None
        valid = mask.astype(bool)[:, :, None]
        if pooling == "mean":
            counts = np.maximum(valid.sum(axis=0), 1).astype(out.dtype)
            return (np.where(valid, out, 0).sum(axis=0) / counts).astype(out.dtype), counts
        arg = np.where(valid, out, -np.inf).argmax(axis=0)
        any_valid = valid.any(axis=0)
        pooled = np.take_along_axis(out, arg[None], axis=0)[0]
        return np.where(any_valid, pooled, 0).astype(out.dtype), (arg, any_valid)

    def pool_backward(self, d_pooled, mask, pooling, aux, T):
        if pooling == "last":
            return None, d_pooled
        if pooling == "mean":
            valid = mask.astype(bool)[:, :, None]
            return np.where(valid, (d_pooled / aux)[None], 0).astype(d_pooled.dtype), None
        arg, any_valid = aux
        dOut = np.zeros((T,) + d_pooled.shape, dtype=d_pooled.dtype)
        np.put_along_axis(dOut, arg[None], np.where(any_valid, d_pooled, 0)[None], axis=0)
        return dOut, None

    def head_step(self, pooled, Wd, bd, data, batch, w_sum, out_activation,
                  alpha, l2, gWd, gbd, acc):  # fmt: skip
        _, Y, w = data
        idx = batch.idx
        logits = pooled @ Wd + bd
        loss, dlogits, _ = head_loss_grad(logits, Y[idx], w[idx], out_activation)
        gWd[...] = pooled.T @ dlogits
        gbd[...] = dlogits.sum(axis=0)
        if alpha > 0:
            penalty = 0.0
            for value in l2:
                penalty += float(value)
            loss += 0.5 * alpha * penalty / w_sum
        acc[0] += loss * w_sum
        return np.ascontiguousarray(dlogits @ Wd.T)

    def logits(self, pooled, Wd, bd):
        logits = np.empty((pooled.shape[0], Wd.shape[1]), dtype=pooled.dtype)
        _cpu.matmul_rowwise(pooled, np.ascontiguousarray(Wd), logits)
        logits += bd
        return logits

    def accumulator(self):
        return np.zeros(1, dtype=np.float64)

    # -- sums, clipping, L2 -----------------------------------------------------------------

    def norms(self, n):
        return np.zeros(n, dtype=np.float64)

    def l2_terms(self, arrays, out):
        # A dot product in the weights' dtype (BLAS), as the loss always was.
        for i, p in enumerate(arrays):
            out[i] = float(np.dot(p.ravel(), p.ravel()))

    def sumsq(self, groups, out):
        for i, g in enumerate(_arrays(groups)):
            out[i] = _updates.sumsq(g)

    def clip_by_norm(self, groups, norms, c):
        for g, n in zip(_arrays(groups), norms):
            _updates.clip_by_norm(g, n, c)

    def clip_global(self, groups, norms, c):
        scale = _updates.global_scale(norms, c)
        for g in _arrays(groups):
            g *= scale

    def clip_value(self, groups, c):
        for g in _arrays(groups):
            np.clip(g, -c, c, out=g)

    def axpy(self, y, x, a):
        y += a * x

    # -- optimizer steps ------------------------------------------------------------------------

    def adam(self, p, g, m, v, beta_1, beta_2, lr_t, eps):
        for args in zip(p.arrays, g.arrays, m.arrays, v.arrays):
            _updates.adam(*args, beta_1, beta_2, lr_t, eps)

    def sgd(self, p, g, velocity, momentum, lr, nesterov):
        for args in zip(p.arrays, g.arrays, velocity.arrays):
            _updates.sgd(*args, momentum, lr, nesterov)

    def rmsprop(self, p, g, velocity, momentum_buf, rho, lr, eps, momentum):
        bufs = momentum_buf.arrays if momentum_buf is not None else [None] * len(p.arrays)
        for args in zip(p.arrays, g.arrays, velocity.arrays, bufs):
            _updates.rmsprop(*args, rho, lr, eps, momentum)

    def adam_rows(self, E, rows, grad_rows, m, v, beta_1, beta_2, lr_t, eps, g_min, s_min):
        # The rows are distinct, so blocks of them are disjoint updates; the
        # rows of a text batch are scattered over tables several MB large, and
        # two threads fetch them faster than one.
        parts = split(len(rows), min(self.n_threads, len(rows) // _MIN_ADAM_ROWS))
        hyper = (beta_1, beta_2, lr_t, eps, g_min, s_min)
        run_tasks(
            _updates.adam_rows,
            [(E, rows[k0:k1], grad_rows[k0:k1], m, v) + hyper for k0, k1 in zip(parts, parts[1:])],
        )

    # -- embeddings and constraints ----------------------------------------------------------

    def embedding_rows(self, dX, batch):
        valid = batch.mask_host.astype(bool)
        ids = batch.ids_host[valid]
        n_rows = int(ids.max()) + 1 if ids.size else 0
        if 0 < n_rows <= _MARK_IDS_PER_ID * ids.size:
            rows = np.empty(min(ids.size, n_rows), dtype=np.int64)
            inverse = np.empty(ids.size, dtype=np.int64)
            rows = rows[: _cpu.unique_rows(ids, n_rows, rows, inverse)]
        else:  # a vocabulary much larger than the batch: sorting the ids is cheaper
            rows, inverse = np.unique(ids, return_inverse=True)
        grad_rows = np.zeros((len(rows), dX.shape[2]), dtype=self.dtype)
        # All steps valid (no padding): the rows in the same order without a copy.
        dX_valid = dX.reshape(-1, dX.shape[2]) if valid.all() else dX[valid]
        _cpu.add_rows(grad_rows, inverse.ravel(), dX_valid)
        return rows, grad_rows

    def scatter_rows(self, grad_rows, rows, dense):
        dense[...] = 0
        dense[rows] = grad_rows

    def constrain(self, plan, w):
        plan.host(w)


class _Group:
    """Host arrays of several parameters (one list; the CPU needs no flat buffer)."""

    __slots__ = ("arrays",)

    def __init__(self, arrays):
        self.arrays = arrays


def _arrays(groups):
    return [a for group in groups for a in group.arrays]
