"""A stack of GRU layers on the CPU: stacked layers and bidirectional pairs.

The njit kernels (:mod:`skgru._kernels._cpu`) run one direction of one layer;
this module chains them. Layer ``l`` reads the full output sequence of layer
``l - 1`` (the states after every step, the two directions concatenated when
``bidirectional``). The backward direction runs over the time-reversed batch
with the time-reversed mask: since the state is frozen on masked steps, that
is the sequence reversed within its valid steps, whatever the padding, and its
outputs are reversed back to line up with the forward direction (Keras's
``Bidirectional(merge_mode="concat")``).

Weights, Keras order: ``[embedding?] + for each layer, for each direction
[W, R, bias] + [Wd, bd]``.

Threads (``config.n_threads``): each layer's forward is the input projection
of all steps (split into blocks of whole steps, one product per block) and
then the recurrence (split into row ranges of the batch, each running through
all the steps on its own thread: rows never interact); the backward is the
recurrence by row ranges and then the weight-gradient products by step
blocks, whose partial sums are added in block order. The split depends only
on the shapes and ``n_threads``, so a fit is reproducible for a given thread
count; inference products are row-wise (:func:`~skgru._kernels._cpu.matmul_rowwise`),
so predictions do not depend on the thread count at all.

Scratch arrays come from a :class:`Workspace` that a trainer keeps for the
whole fit: fresh arrays of this size (W3: over 100 MB per batch) cost more in
page faults than some of the arithmetic (benchmarks/NOTES.md).
"""

import math
import threading
import weakref
from dataclasses import dataclass

import numpy as np

from ._kernels import _cpu
from ._kernels._config import run_tasks, split
from ._network import draw_regularisers, fused_bias

__all__ = [
    "embed",
    "projected_embedding",
    "split_params",
    "Workspace",
    "StackCache",
    "stack_forward",
    "stack_backward",
]

# Smallest row range worth a thread of its own in the recurrence, and the
# smallest block of (step x batch) rows worth one in the big products: below
# these the hand-off (tens of microseconds) costs more than it saves.
_MIN_CHUNK_ROWS = 8
_MIN_BLOCK_ROWS = 256


def _row_bounds(B, n_threads):
    return split(B, min(n_threads, max(1, B // _MIN_CHUNK_ROWS)))


def _step_bounds(T, B, n_threads):
    return split(T, min(n_threads, max(1, (T * B) // _MIN_BLOCK_ROWS)))


def _take_rows(E, ids, out):
    np.take(E, ids, axis=0, out=out)


def embed(E, ids, workspace, n_threads):
    """``E[ids]`` for time-major token ids ``(T, B)``: ``(T, B, D)`` in the workspace.

    The rows are gathered by blocks of steps on the thread pool (``np.take``
    releases the GIL); a gather is a few MB for a text batch (W4: 3.3 MB,
    about 1 ms on one thread, of an 8-10 ms prediction).
    """
    T, B = ids.shape
    out = workspace.empty("embedded", (T, B, E.shape[1]), E.dtype)
    steps = _step_bounds(T, B, n_threads)
    run_tasks(_take_rows, [(E, ids[t0:t1], out[t0:t1]) for t0, t1 in zip(steps, steps[1:])])
    return out


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
    :func:`~skgru._kernels._cpu.matmul_rowwise`, whose rows have the same
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


def split_params(params, embedding, num_layers, bidirectional):
    """``(E or None, blocks, Wd, bd)``; ``blocks[l][d]`` is ``(W, R, bias)``."""
    k = 1 if embedding else 0
    nd = 2 if bidirectional else 1
    blocks = []
    for layer in range(num_layers):
        blocks.append(
            [
                tuple(params[k + 3 * (layer * nd + d) : k + 3 * (layer * nd + d) + 3])
                for d in range(nd)
            ]
        )
    return (params[0] if embedding else None), blocks, params[-2], params[-1]


@dataclass
class _RunCache:
    X: np.ndarray  # kernel input, time-major, reversed for the backward direction
    mask: np.ndarray
    H: np.ndarray
    S: np.ndarray
    A: np.ndarray
    input_mask: np.ndarray | None
    rmask: np.ndarray


@dataclass
class StackCache:
    runs: list  # runs[l][d]
    mask: np.ndarray
    out: np.ndarray  # top layer output sequence (T, B, nd * U), aligned


_NO_IDS = np.zeros((0, 0), dtype=np.int32)


def _run(X, mask, W, R, bias, rmask, reset_after, store, ws, key, n_threads, table, ids):
    T, B, F = X.shape
    U = R.shape[0]
    dtype = X.dtype
    H = ws.empty(("H",) + key, (T + 1, B, U), dtype)
    S = ws.empty(("S",) + key, (T, B, 4 * U) if store else (0, B, 4 * U), dtype)
    # Inference projects each step's input inside the recurrence: no A.
    A = ws.empty(("A",) + key, (T, B, 3 * U) if store else (0, B, 3 * U), dtype)
    b2 = np.ascontiguousarray(fused_bias(bias))
    h0 = np.zeros((B, U), dtype=dtype)
    if table is None:
        table, ids = np.empty((0, 3 * U), dtype=dtype), _NO_IDS
    args = (X, mask, W, R, b2, h0, rmask, reset_after, H, S, A, table, ids)
    if store:
        steps = _step_bounds(T, B, n_threads)
        run_tasks(
            _cpu.gru_forward_part,
            [args + (_cpu.PROJECT, t0, t1) for t0, t1 in zip(steps, steps[1:])],
        )
    rows = _row_bounds(B, n_threads)
    run_tasks(
        _cpu.gru_forward_part,
        [args + (_cpu.RECUR, b0, b1) for b0, b1 in zip(rows, rows[1:])],
    )
    return H, S, A


def stack_forward(
    X,
    mask,
    blocks,
    config,
    *,
    training,
    workspace,
    rng=None,
    first_masks=(None, None),
    tables=None,
    ids=None,
):
    """Forward through all layers.

    ``X (T, B, F)`` is the (embedded, noised) input. At inference with token
    input, ``tables`` (one :func:`projected_embedding` per direction of the
    first layer) and the token ids ``(T, B)`` may stand in for the embedded
    input: the first layer then reads its projections from the tables and
    ``X`` may be ``(T, B, 0)``. With ``training=True``
    the activations are stored for :func:`stack_backward` and ``rng`` draws
    the dropout masks of every block but the first, whose ``(input_mask,
    rmask)`` are given (they are drawn with the input noise, in the order the
    single-layer trainers on every backend share). With ``training=False``:
    no dropout, nothing stored. Returns ``(out, finals, cache)``: the top
    layer's output sequence ``(T, B, nd * U)``, the final states of its
    directions, and what the backward pass needs; they live in the
    ``workspace``'s buffers (valid until its next use).
    """
    n_threads = config.n_threads
    dtype = X.dtype
    T, B, _ = X.shape
    layer_in = X
    runs = []
    for l, layer in enumerate(blocks):
        outs, finals, layer_runs = [], [], []
        for d, (W, R, bias) in enumerate(layer):
            U = R.shape[0]
            if not training:
                input_mask, rmask = None, None
            elif l == 0 and d == 0:
                input_mask, rmask = first_masks
            elif rng is None:
                input_mask, rmask = None, None
            else:
                _, input_mask, rmask = draw_regularisers(
                    rng,
                    B,
                    T,
                    layer_in.shape[2],
                    U,
                    dropout=config.dropout,
                    recurrent_dropout=config.recurrent_dropout,
                    input_noise=0.0,
                    dtype=dtype,
                )
            Xin = layer_in if input_mask is None else layer_in * input_mask[None]
            m = mask
            if d == 1:
                Xin, m = Xin[::-1], mask[::-1]
            Xin = np.ascontiguousarray(Xin, dtype=dtype)
            m = np.ascontiguousarray(m)
            rm = rmask if rmask is not None else np.zeros((0, U), dtype=dtype)
            table, tids = None, None
            if l == 0 and tables is not None:
                table, tids = tables[d], (ids if d == 0 else np.ascontiguousarray(ids[::-1]))
            H, S, A = _run(
                Xin,
                m,
                W,
                R,
                bias,
                rm,
                config.reset_after,
                training,
                workspace,
                (l, d),
                n_threads,
                table,
                tids,
            )
            outs.append(H[1:] if d == 0 else H[1:][::-1])
            finals.append(H[T])
            layer_runs.append(_RunCache(Xin, m, H, S, A, input_mask, rm))
        runs.append(layer_runs)
        layer_in = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)
    cache = StackCache(runs, mask, layer_in)
    return layer_in, finals, cache


def pooled_output(out, finals, mask, pooling):
    """The head's input from the top layer: ``(pooled (B, nd * U), aux)``."""
    if pooling == "last":
        return np.concatenate(finals, axis=1) if len(finals) > 1 else finals[0], None
    valid = mask.astype(bool)[:, :, None]
    if pooling == "mean":
        counts = np.maximum(valid.sum(axis=0), 1).astype(out.dtype)
        return (np.where(valid, out, 0).sum(axis=0) / counts).astype(out.dtype), counts
    arg = np.where(valid, out, -np.inf).argmax(axis=0)
    any_valid = valid.any(axis=0)
    pooled = np.take_along_axis(out, arg[None], axis=0)[0]
    return np.where(any_valid, pooled, 0).astype(out.dtype), (arg, any_valid)


def _pool_grad(d_pooled, mask, pooling, aux, T):
    """``(dOut (T, B, nd * U) or None, d_finals (B, nd * U) or None)``."""
    if pooling == "last":
        return None, d_pooled
    if pooling == "mean":
        valid = mask.astype(bool)[:, :, None]
        return np.where(valid, (d_pooled / aux)[None], 0).astype(d_pooled.dtype), None
    arg, any_valid = aux
    dOut = np.zeros((T,) + d_pooled.shape, dtype=d_pooled.dtype)
    np.put_along_axis(dOut, arg[None], np.where(any_valid, d_pooled, 0)[None], axis=0)
    return dOut, None


def stack_backward(cache, blocks, config, d_pooled, aux, need_dx, workspace):
    """Back-propagation through every layer and direction.

    Returns ``(block_grads, dX)``: ``block_grads[l][d] = (dW, dR, dbias)``
    (``dbias`` in the Keras shape) and the gradient on the stack's input
    ``X (T, B, F)`` when ``need_dx`` (else None).
    """
    n_threads = config.n_threads
    mask = cache.mask
    T, B = mask.shape
    dtype = d_pooled.dtype
    dOut, d_finals = _pool_grad(d_pooled, mask, config.pooling, aux, T)
    grads = [None] * len(blocks)
    dX_below = None
    for l in range(len(blocks) - 1, -1, -1):
        layer = blocks[l]
        want_dx = l > 0 or need_dx
        layer_grads = []
        dX_below = None
        for d, (W, R, bias) in enumerate(layer):
            run = cache.runs[l][d]
            U = R.shape[0]
            if dOut is not None:
                dH_seq = dOut[:, :, d * U : (d + 1) * U]
                if d == 1:
                    dH_seq = dH_seq[::-1]
                dH_seq = np.ascontiguousarray(dH_seq, dtype=dtype)
            else:
                dH_seq = np.zeros((0, B, U), dtype=dtype)
            if d_finals is not None:
                dh_last = np.ascontiguousarray(d_finals[:, d * U : (d + 1) * U], dtype=dtype)
            else:
                dh_last = np.zeros((B, U), dtype=dtype)
            F = run.X.shape[2]
            dX = workspace.empty(("dX", l, d), (T, B, F) if want_dx else (0, B, F), dtype)
            dM = workspace.empty(("dM", l, d), run.A.shape, dtype)
            dh0 = np.empty((B, U), dtype=dtype)
            rows = _row_bounds(B, n_threads)
            steps = _step_bounds(T, B, n_threads)
            parts = [
                (np.empty_like(W), np.empty_like(R), np.empty((2, 3 * U), dtype=dtype))
                for _ in steps[1:]
            ]
            # dA overwrites the forward's input projections A (no longer needed).
            head = (run.X, run.mask, W, R, run.rmask, config.reset_after, run.H, run.S)
            grads_in = (dH_seq, dh_last)
            tail = (dX, dh0, run.A, dM)
            run_tasks(
                _cpu.gru_backward_part,
                [
                    head + grads_in + parts[0] + tail + (_cpu.BPTT, b0, b1)
                    for b0, b1 in zip(rows, rows[1:])
                ],
            )
            run_tasks(
                _cpu.gru_backward_part,
                [
                    head + grads_in + part + tail + (_cpu.WEIGHTS, t0, t1)
                    for part, t0, t1 in zip(parts, steps, steps[1:])
                ],
            )
            # Partial sums in block order: the same result for the same split.
            dW, dR, db2 = parts[0]
            for pW, pR, pb in parts[1:]:
                dW += pW
                dR += pR
                db2 += pb
            layer_grads.append((dW, dR, db2 if bias.ndim == 2 else db2[0].copy()))
            if want_dx:
                if run.input_mask is not None:
                    dX *= run.input_mask[None]
                if d == 1:
                    dX = dX[::-1]
                dX_below = dX if dX_below is None else dX_below + dX
        grads[l] = layer_grads
        dOut, d_finals = dX_below, None
    return grads, (np.ascontiguousarray(dX_below) if need_dx else None)
