"""The CUDA kernel set: the ``@cuda.jit`` kernels of :mod:`._kernels` behind the engine's interface.

For the length of one ``fit`` the training data (padded values or token ids,
masks, targets, sample weights), the parameters, their gradients and the
optimizer state live on the device. Parameters, gradients and each optimizer
slot are one flat buffer with a view per parameter, so clipping, the
optimizer step and the norms are a few launches over all of them. Per batch
the host sends the dropout masks and noise it drew (and, once per epoch, the
batches' sample indices); per epoch one loss value comes back. Reads back to
the host (:meth:`CUDAKernelSet.read`) return NumPy copies, so fitted
estimators and their pickles hold host arrays only.

Launches are asynchronous and nothing waits for them except a copy to the
host; every sum runs in a fixed order, so a fit repeats bit for bit.
"""

import numpy as np
from numba import config as numba_config
from numba import cuda

from .._interface import Batch, KernelSet, LayerRun
from . import _kernels

__all__ = ["CUDAKernelSet"]

_HEAD_MODES = {"softmax": 0, "logistic": 1, "identity": 2}
_POOL_MODES = {"mean": 1, "max": 2}

# The largest projected-embedding table built for a prediction (bytes per
# direction), as on the CPU.
TABLE_MAX_BYTES = 128 * 2**20


class _Group:
    """Device arrays of several parameters: one flat buffer and a view per parameter."""

    __slots__ = ("flat", "arrays", "starts", "lengths", "shapes")

    def __init__(self, flat, shapes):
        self.flat = flat
        self.shapes = [tuple(s) for s in shapes]
        if not self.shapes:  # nothing on the device (no embedding, say)
            self.arrays, self.starts, self.lengths = [], None, None
            return
        sizes = [int(np.prod(s)) for s in self.shapes]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.arrays = [
            flat[o : o + n].reshape(s) if n else cuda.device_array(s, dtype=flat.dtype)
            for o, n, s in zip(offsets, sizes, self.shapes)
        ]
        self.starts = cuda.to_device(offsets[:-1].copy())
        self.lengths = cuda.to_device(np.array(sizes, dtype=np.int64))


class _Workspace:
    """Device scratch arrays kept between batches, one growing buffer per name."""

    def __init__(self):
        self._buffers = {}

    def empty(self, key, shape, dtype):
        dtype = np.dtype(dtype)
        n = int(np.prod(shape))
        buf = self._buffers.get(key)
        if buf is None or buf.dtype != dtype or buf.size < n:
            buf = cuda.device_array(max(n, 1), dtype=dtype)
            self._buffers[key] = buf
        return buf[:n].reshape(shape) if n else cuda.device_array(shape, dtype=dtype)


def _flat(a):
    return a.reshape(a.size)


def _shape(a):
    """``a.shape`` as a tuple (the simulator's arrays index shapes with non-negative ints only)."""
    return tuple(a.shape[i] for i in range(a.ndim))


class CUDAKernelSet(KernelSet):
    """The CUDA target: device arrays and the ``@cuda.jit`` kernels of one dtype.

    An instance holds the scratch arrays of one fit or one prediction.
    """

    name = "cuda"
    inference_batch_size = 1024

    def __init__(self, dtype, n_threads=1):
        self.dtype = np.dtype(dtype)
        self.k = _kernels.kernels(self.dtype)
        self.ws = _Workspace()
        self._segments = {}
        self._tables = {}
        self._elementwise_constraints = {}

    # -- what this target can run --------------------------------------------------

    @classmethod
    def missing(cls, dtype, units, plans_and_weights):
        """Why a model cannot run here (a sentence), or "" when everything is there.

        ``plans_and_weights`` pairs each weight's constraint plan (or None)
        with its host array: a callable must be an elementwise function numba
        can compile for the device.
        """
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            return f"kernels for dtype {dtype}"
        try:
            _kernels.kernels(dtype).check_units(units)
        except ValueError as exc:
            return str(exc)
        for plan, w in plans_and_weights:
            if plan is not None and plan.spec[0] == "elementwise":
                why = _elementwise_problem(plan.spec[1], np.asarray(w, dtype=dtype))
                if why:
                    return why
        return ""

    # -- scope -------------------------------------------------------------------

    def session(self):
        return _NoSession()

    def release(self):
        """Device scratch stays for the next epoch (allocations on a GPU are slow)."""

    # -- arrays and groups ----------------------------------------------------------

    def to_host(self, a):
        return a.copy_to_host() if hasattr(a, "copy_to_host") else np.asarray(a)

    def group(self, arrays, copy=True):
        if len(arrays) == 1 and hasattr(arrays[0], "copy_to_host"):
            a = arrays[0]
            return _Group(_flat(a), [_shape(a)])
        host = [np.asarray(a) for a in arrays]
        if not host:
            return _Group(None, [])
        flat = np.concatenate([a.astype(self.dtype).ravel() for a in host])
        return _Group(cuda.to_device(flat), [a.shape for a in host])

    def zeros_like(self, group):
        if not group.shapes:
            return _Group(None, [])
        return _Group(cuda.to_device(np.zeros(group.flat.size, dtype=self.dtype)), group.shapes)

    def read(self, group, into=None):
        if not group.shapes:
            return [] if into is None else into
        flat = group.flat.copy_to_host()
        out, o = [], 0
        for shape in group.shapes:
            n = int(np.prod(shape))
            out.append(flat[o : o + n].reshape(shape).copy())
            o += n
        if into is None:
            return out
        for dst, src in zip(into, out):
            dst[...] = src
        return into

    def write(self, group, arrays):
        if group.shapes:
            flat = np.concatenate([np.asarray(a, dtype=self.dtype).ravel() for a in arrays])
            group.flat.copy_to_device(flat)

    def _upload(self, host, dtype=None):
        return cuda.to_device(np.ascontiguousarray(host, dtype=dtype or self.dtype))

    # -- data -------------------------------------------------------------------------

    def dataset(self, seqs, Y, w):
        values = np.ascontiguousarray(seqs.values, dtype=np.int64 if seqs.is_tokens else None)
        return _Data(
            seqs=seqs,
            values=self._upload(values, values.dtype if seqs.is_tokens else self.dtype),
            mask=self._upload(seqs.mask, np.uint8),
            Y=self._upload(Y, np.float64),
            w=self._upload(w, np.float64),
        )

    def epoch(self, batches):
        # One upload of the epoch's indices: a per-batch host-to-device copy
        # would wait for the previous batch's kernels every step.
        if not batches:
            return []
        d_all = cuda.to_device(np.concatenate([np.asarray(b, dtype=np.int64) for b in batches]))
        handles, start = [], 0
        for b in batches:
            handles.append(d_all[start : start + len(b)])
            start += len(b)
        return handles

    def gather(self, data, idx, handle, E):
        idx = np.asarray(idx, dtype=np.int64)
        if handle is None:
            handle = cuda.to_device(idx)
        mask_rows = data.seqs.mask[idx]
        valid_any = np.flatnonzero(mask_rows.any(axis=0))
        t0, t1 = (int(valid_any[0]), int(valid_any[-1]) + 1) if len(valid_any) else (0, 1)
        T, B = t1 - t0, idx.shape[0]
        F = E.shape[1] if E is not None else data.seqs.values.shape[2]
        X = self.ws.empty("X", (T, B, F), self.dtype)
        M = self.ws.empty("M", (T, B), np.uint8)
        # Noise and the input mask are the engine's (add_noise, scale_rows).
        absent = (self.k.placeholder(3), self.k.placeholder(2), False, False)
        if E is not None:
            self.k.gather_tokens(data.values, data.mask, handle, t0, E, *absent, X, M)
            ids_host = np.ascontiguousarray(data.seqs.values[idx, t0:t1].T)
            mask_host = np.ascontiguousarray(mask_rows[:, t0:t1].T)
            return Batch(X, M, T, B, ids_host=ids_host, mask_host=mask_host, idx=idx, handle=handle)
        self.k.gather_batch(data.values, data.mask, handle, t0, *absent, X, M)
        return Batch(X, M, T, B, idx=idx, handle=handle)

    def add_noise(self, X, noise):
        self.k.add_into(_flat(X), self._upload(noise.ravel()))

    def inference_batch(self, seqs, idx, dense):
        from ...data._sequences import time_major_batch

        Xv, mask = time_major_batch(seqs, idx, dense=dense)
        T, B = mask.shape
        M = self._upload(mask, np.uint8)
        if seqs.is_tokens:
            ids = self._upload(Xv, np.int64)
            return Batch(None, M, T, B, ids=ids, ids_host=Xv, mask_host=mask)
        return Batch(self._upload(Xv), M, T, B)

    def embed(self, E, batch):
        X = self.ws.empty("embedded", (batch.T, batch.B, E.shape[1]), self.dtype)
        self.k.gather_rows(E, batch.ids, X)
        return X

    # -- one layer and direction --------------------------------------------------------

    def layer_forward(self, X, mask, W, R, bias, rmask, reset_after, training, key, table=None):
        T, B = mask.shape
        U = R.shape[0]
        ws = self.ws
        H = ws.empty(("H",) + key, (T + 1, B, U), self.dtype)
        A = ws.empty(("A",) + key, (T, B, 3 * U), self.dtype)
        S = ws.empty(("S",) + key, (T, B, 4 * U), self.dtype) if training else None
        if table is not None:
            self.k.gather_rows(table[0], table[1], A)
            X = None
        d_rmask = self._upload(rmask) if rmask is not None else None
        self.k.gru_forward(X, mask, W, R, bias, None, d_rmask, reset_after, H, S, A)
        return LayerRun(X, mask, H, S, A, d_rmask)

    def layer_backward(self, run, W, R, bias, reset_after, dH_seq, dh_last, want_dx, key, out):
        k, ws = self.k, self.ws
        T, B = run.mask.shape
        U = R.shape[0]
        N = T * B
        F = run.X.shape[2]
        dW, dR, dbias = out
        RT = ws.empty("RT", (3 * U, U), self.dtype)
        k.transpose(R, RT)
        G = ws.empty("G", (B, U), self.dtype)
        if dh_last is None:
            k.fill(_flat(G), 0)
        else:
            G.copy_to_device(dh_last)
        dA = run.A  # the input projections are no longer needed
        dM = ws.empty("dM", (T, B, 3 * U), self.dtype)
        dbp = ws.empty("dbp", (B, 6 * U), self.dtype)
        k.gru_backward_steps(
            run.mask, RT, run.rmask, reset_after, run.H, run.S, dH_seq, G, dA, dM, dbp
        )
        k.sum_rows(dbp, _flat(dbias))
        dA2 = dA.reshape(N, 3 * U)
        dM2 = dM.reshape(N, 3 * U)
        k.gemm(run.X.reshape(N, F), dA2, dW, ta=True)
        Hp = run.H[:T].reshape(N, U)
        if run.rmask is not None:
            Hm = ws.empty("Hm", (T, B, U), self.dtype)
            k.apply_rmask(run.H[:T], run.rmask, Hm)
            Hp = Hm.reshape(N, U)
        if reset_after:
            k.gemm(Hp, dM2, dR, ta=True)
        else:
            k.gemm(Hp, dM2[:, : 2 * U], dR[:, : 2 * U], ta=True)
            RH2 = run.S.reshape(N, 4 * U)[:, 3 * U :]
            k.gemm(RH2, dM2[:, 2 * U :], dR[:, 2 * U :], ta=True)
        if not want_dx:
            return None
        dX = ws.empty(("dX",) + key, (T, B, F), self.dtype)
        k.gemm(dA2, W, dX.reshape(N, F), tb=True)
        return dX

    def input_projection_tables(self, E, Ws, n_tokens, fitted):
        """Tables once this prediction has seen a vocabulary's worth of tokens.

        The GEMM sums each output in the same order wherever its row sits,
        so a table row is bitwise the projection the layer would make.
        """
        V = E.shape[0]
        if not fitted or any(V * W.shape[1] * self.dtype.itemsize > TABLE_MAX_BYTES for W in Ws):
            return None
        seen = self._tables.get("seen", 0) + n_tokens
        self._tables["seen"] = seen
        if seen < V:
            return None
        if "tables" not in self._tables:
            tables = []
            for W in Ws:
                table = cuda.device_array((V, W.shape[1]), dtype=self.dtype)
                self.k.gemm(E, W, table)
                tables.append(table)
            self._tables["tables"] = tables
        return self._tables["tables"]

    # -- between layers and directions -----------------------------------------------------

    def scale_rows(self, X, m, key=None):
        out = X if key is None else self.ws.empty(key, _shape(X), self.dtype)
        self.k.apply_rmask(X, self._upload(m), out)
        return out

    def time_reversed(self, X, key):
        shape = _shape(X)
        out = self.ws.empty(key, shape, X.dtype)
        src = X if X.ndim == 3 else X.reshape(shape + (1,))
        self.k.take_features(src, 0, True, out if X.ndim == 3 else out.reshape(src.shape))
        return out

    def concat_features(self, parts, reverse, key):
        if len(parts) == 1 and not reverse[0]:
            return parts[0]
        shapes = [_shape(p) for p in parts]
        out = self.ws.empty(key, shapes[0][:-1] + (sum(s[-1] for s in shapes),), self.dtype)
        out3 = out if out.ndim == 3 else out.reshape((1,) + _shape(out))
        c0 = 0
        for p, shape, r in zip(parts, shapes, reverse):
            p3 = p if p.ndim == 3 else p.reshape((1,) + shape)
            self.k.put_features(p3, c0, r, out3)
            c0 += shape[-1]
        return out

    def feature_slice(self, A, c0, c1, reverse, key):
        out = self.ws.empty(key, A.shape[:-1] + (c1 - c0,), self.dtype)
        if A.ndim == 3:
            self.k.take_features(A, c0, reverse, out)
        else:
            self.k.take_features(
                A.reshape((1,) + A.shape), c0, reverse, out.reshape((1,) + out.shape)
            )
        return out

    def add_reversed(self, a, b):
        self.k.add_reversed(a, b)
        return a

    # -- pooling and the output layer --------------------------------------------------------

    def pool(self, out, final, mask, pooling):
        if pooling == "last":
            return final, None
        T, B, C = out.shape
        pooled = self.ws.empty("pooled", (B, C), self.dtype)
        arg = self.ws.empty("pool_arg", (B, C), np.int32)
        count = self.ws.empty("pool_count", (B,), self.dtype)
        self.k.pool_forward(out, mask, _POOL_MODES[pooling], pooled, arg, count)
        return pooled, (arg, count)

    def pool_backward(self, d_pooled, mask, pooling, aux, T):
        if pooling == "last":
            return None, d_pooled
        B, C = d_pooled.shape
        dOut = self.ws.empty("dOut", (T, B, C), self.dtype)
        arg, count = aux
        self.k.pool_backward(d_pooled, mask, _POOL_MODES[pooling], arg, count, dOut)
        return dOut, None

    def head_step(self, pooled, Wd, bd, data, batch, w_sum, out_activation,
                  alpha, l2, gWd, gbd, acc):  # fmt: skip
        B, C = pooled.shape
        K = Wd.shape[1]
        ws = self.ws
        d_pooled = ws.empty("d_pooled", (B, C), self.dtype)
        self.k.head_step(
            pooled, Wd, bd, data.Y, data.w, batch.handle, w_sum, _HEAD_MODES[out_activation],
            alpha, l2, ws.empty("logits", (B, K), self.dtype),
            ws.empty("dlogits", (B, K), self.dtype), ws.empty("row_loss", (B,), np.float64),
            gWd, gbd, d_pooled, acc,
        )  # fmt: skip
        return d_pooled

    def logits(self, pooled, Wd, bd):
        out = self.ws.empty("logits", (pooled.shape[0], Wd.shape[1]), self.dtype)
        self.k.gemm(pooled, Wd, out)
        self.k.add_row_vector(out, bd)
        return out

    def accumulator(self):
        return cuda.to_device(np.zeros(1, dtype=np.float64))

    # -- sums, clipping, L2 -----------------------------------------------------------------

    def norms(self, n):
        return cuda.to_device(np.zeros(max(n, 1), dtype=np.float64))

    def _segment(self, n):
        """Device ``starts = [0]``, ``lengths = [n]`` for one whole array (cached)."""
        seg = self._segments.get(n)
        if seg is None:
            seg = self._segments[n] = (
                cuda.to_device(np.zeros(1, dtype=np.int64)),
                cuda.to_device(np.array([n], dtype=np.int64)),
            )
        return seg

    def l2_terms(self, arrays, out):
        for i, a in enumerate(arrays):
            starts, lengths = self._segment(a.size)
            self.k.sumsq_segments(_flat(a), starts, lengths, out[i : i + 1])

    def sumsq(self, groups, out):
        o = 0
        for g in groups:
            n = len(g.arrays)
            self.k.sumsq_segments(g.flat, g.starts, g.lengths, out[o : o + n])
            o += n

    def clip_by_norm(self, groups, norms, c):
        o = 0
        for g in groups:
            n = len(g.arrays)
            self.k.clip_by_norm(g.flat, g.starts, g.lengths, norms[o : o + n], c)
            o += n

    def clip_global(self, groups, norms, c):
        n_all = sum(len(g.arrays) for g in groups)
        for g in groups:
            self.k.clip_global(g.flat, g.starts, g.lengths, norms[:n_all], c)

    def clip_value(self, groups, c):
        for g in groups:
            self.k.clip_value(g.flat, c)

    def axpy(self, y, x, a):
        self.k.axpy(_flat(y), _flat(x), a)

    # -- optimizer steps ------------------------------------------------------------------------

    def adam(self, p, g, m, v, beta_1, beta_2, lr_t, eps):
        self.k.adam(p.flat, g.flat, m.flat, v.flat, beta_1, beta_2, lr_t, eps)

    def sgd(self, p, g, velocity, momentum, lr, nesterov):
        self.k.sgd(p.flat, g.flat, velocity.flat, momentum, lr, nesterov)

    def rmsprop(self, p, g, velocity, momentum_buf, rho, lr, eps, momentum):
        buf = momentum_buf.flat if momentum_buf is not None else None
        self.k.rmsprop(p.flat, g.flat, velocity.flat, buf, rho, lr, eps, momentum)

    def adam_rows(self, E, rows, grad_rows, m, v, beta_1, beta_2, lr_t, eps, g_min, s_min):
        if len(rows):
            d_rows = self._upload(rows, np.int64)
            self.k.adam_rows(E, grad_rows, d_rows, m, v, beta_1, beta_2, lr_t, eps, g_min, s_min)

    # -- embeddings and constraints ----------------------------------------------------------

    def embedding_rows(self, dX, batch):
        valid = batch.mask_host.astype(bool)
        ids = batch.ids_host[valid]
        positions = np.flatnonzero(valid.ravel())
        rows, inverse = np.unique(ids, return_inverse=True)
        inverse = inverse.ravel()
        # Positions grouped by row, each group in step order: np.add.at's sums.
        order = np.argsort(inverse, kind="stable")
        seg = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(np.bincount(inverse, minlength=len(rows)), out=seg[1:])
        F = dX.shape[2]
        grad_rows = self.ws.empty("grad_rows", (len(rows), F), self.dtype)
        if len(rows):
            dX2 = dX.reshape(dX.shape[0] * dX.shape[1], F)
            self.k.rows_sum(
                dX2, self._upload(positions[order], np.int64), self._upload(seg, np.int64),
                grad_rows,
            )  # fmt: skip
        return rows, grad_rows

    def scatter_rows(self, grad_rows, rows, dense):
        self.k.fill(_flat(dense), 0)
        if len(rows):
            self.k.scatter_rows(grad_rows, self._upload(rows, np.int64), dense)

    def constrain(self, plan, w):
        spec = plan.spec
        if spec[0] == "nonneg":
            self.k.nonneg(_flat(w))
        elif spec[0] == "norm":
            _, kind, lo, hi, rate, axes = spec
            if w.ndim == 2 and axes == (1,):
                self.k.constrain_norm(w, True, kind, lo, hi, rate, _EPSILON)
            elif w.ndim == 2 and axes == (0,):
                self.k.constrain_norm(w, False, kind, lo, hi, rate, _EPSILON)
            else:  # the norm of the whole array
                self.k.constrain_norm(w.reshape(w.size, 1), False, kind, lo, hi, rate, _EPSILON)
        else:
            kernel = self._elementwise_constraints.get(spec[1])
            if kernel is None:
                kernel = self._elementwise_constraints[spec[1]] = _elementwise_kernel(spec[1])
            n = w.size
            tpb = int(_kernels.LAUNCH["threads"])
            blocks = max(1, min(-(-n // tpb), int(_kernels.LAUNCH["max_blocks"])))
            kernel[blocks, tpb](_flat(w))


# Keras's fuzz factor of the norm constraints (see skgru.constraints).
_EPSILON = 1e-7


class _Data:
    __slots__ = ("seqs", "values", "mask", "Y", "w")

    def __init__(self, seqs, values, mask, Y, w):
        self.seqs, self.values, self.mask, self.Y, self.w = seqs, values, mask, Y, w


class _NoSession:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _elementwise_kernel(f):
    """A grid-stride kernel applying the scalar function ``f`` to every element, in place."""
    device_f = cuda.jit(device=True)(f)

    @cuda.jit
    def apply(x):
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for i in range(start, x.shape[0], stride):
            x[i] = device_f(x[i])

    return apply


def _elementwise_problem(f, w):
    """ "" when ``f`` acts on ``w`` element by element (checked on the host), else why not."""
    name = getattr(f, "__name__", type(f).__name__)
    why = (
        f"an elementwise form of the constraint {name!r} (on the GPU a callable constraint "
        "is applied element by element, so it must map each weight alone, as "
        "lambda w: 0.9 * w does; use a built-in constraint or device='cpu')"
    )
    sample = w.ravel()[:256]
    try:
        whole = np.asarray(f(sample.copy()), dtype=np.float64)
        each = np.array([f(x) for x in sample], dtype=np.float64)
    except Exception:
        return why
    if whole.shape != sample.shape or not np.allclose(whole, each, rtol=1e-6, atol=0):
        return why
    if numba_config.ENABLE_CUDASIM:  # the simulator runs Python: nothing to compile
        return ""
    try:
        from numba import from_dtype

        _elementwise_kernel(f).compile((from_dtype(w.dtype)[::1],))
    except Exception as exc:  # numba cannot compile it for the device
        return f"{why}; numba could not compile it ({type(exc).__name__})"
    return ""
