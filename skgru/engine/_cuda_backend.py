"""The CUDA backend: training and inference with :mod:`skgru._kernels._cuda`.

Imported only by :func:`skgru._backend.get_backend` when numba sees a GPU (or
runs the CUDA simulator), so importing skgru never needs numba-cuda.

For the length of one ``fit`` the training data (padded values, masks,
targets, sample weights), the parameters, their gradients and the optimizer
state live on the device. Parameters, gradients and optimizer slots are each
one flat buffer with a view per parameter, so clipping, the optimizer step and
the norms are a few launches over all parameters. Per batch the host sends the
batch's sample indices and the dropout masks / noise (drawn on the host from
the same ``rng`` in the same order as :class:`skgru._backend.CPUTrainer`, so
a seed gives the same model on both backends); per epoch one loss scalar comes
back. ``get_params`` returns host NumPy copies, so fitted estimators and their
pickles hold host arrays only.
"""

import numpy as np
from numba import cuda

from ..data._sequences import time_major_batch
from ..kernels.cuda import _kernels as _cuda
from ..model._network import draw_regularisers, fused_bias
from ..training._constraints import (
    _EPSILON,
    MaxNorm,
    MinMaxNorm,
    NonNeg,
    UnitNorm,
    apply_constraint,
)
from ..training._optimizers import AdamOptimizer, RMSpropOptimizer, SGDOptimizer

__all__ = ["CUDABackend", "CUDATrainer"]

_HEAD_MODES = {"softmax": 0, "logistic": 1, "identity": 2}
# The kernels and the dense kernel carry the L2 term.
L2_PENALISED = (0, 1, 3)
_POOL_MODES = {"last": 0, "mean": 1, "max": 2}


def _check_config(config):
    out = getattr(config, "out_activation", "softmax")
    if out not in _HEAD_MODES:
        raise ValueError(f"out_activation={out!r} is not supported with device='cuda'.")
    pooling = getattr(config, "pooling", "last")
    if pooling not in _POOL_MODES:
        raise ValueError(f"pooling={pooling!r} is not supported with device='cuda'.")
    if getattr(config, "num_layers", 1) != 1 or getattr(config, "bidirectional", False):
        raise ValueError(
            "device='cuda' runs one unidirectional GRU layer; num_layers > 1 and "
            "bidirectional=True need device='cpu' for now."
        )


def _optimizer_slots(optimizer):
    """Names of the per-parameter state lists the device keeps for ``optimizer``."""
    if isinstance(optimizer, AdamOptimizer):
        return ("ms", "vs")
    if isinstance(optimizer, SGDOptimizer):
        return ("velocities",)
    if isinstance(optimizer, RMSpropOptimizer):
        return ("velocities", "momentums") if optimizer.momentum > 0 else ("velocities",)
    raise ValueError(f"device='cuda' does not support the optimizer {type(optimizer).__name__}.")


def _constraint_plan(constraint, shape):
    """How to apply ``constraint`` on the device: a kernel, or a host round trip."""
    kind = type(constraint)
    if kind is NonNeg:
        return ("nonneg",)
    if kind in (MaxNorm, UnitNorm, MinMaxNorm):
        p = constraint._validate()
        axis = p["axis"]
        nd = len(shape)
        if isinstance(axis, int) and -nd <= axis < nd:
            axis = axis % nd
            if kind is MaxNorm:
                code, lo, hi, rate = 0, 0.0, p["max_value"], 1.0
            elif kind is UnitNorm:
                code, lo, hi, rate = 1, 0.0, 0.0, 1.0
            else:
                code, lo, hi, rate = 2, p["min_value"], p["max_value"], p["rate"]
            return ("norm", axis == 1 and nd == 2, code, lo, hi, rate)
    return ("host",)


class _Workspace:
    """Per-batch device buffers for up to ``T`` steps and ``B`` sequences."""

    def __init__(self, dtype, T, B, F, U, K, pooled, embedding):
        def z(n, dt=dtype):
            return cuda.device_array(max(int(n), 1), dtype=dt)

        self.B = B
        self.X = z(T * B * F)
        self.M = z(T * B, np.uint8)
        self.H = z((T + 1) * B * U)
        self.S = z(T * B * 4 * U)
        self.A = z(T * B * 3 * U)
        self.dA = z(T * B * 3 * U)
        self.dM = z(T * B * 3 * U)
        self.Hm = None
        self.logits = z(B * K)
        self.dlogits = z(B * K)
        self.row_loss = z(B, np.float64)
        self.dbp = z(B * 6 * U)
        self.G = z(B * U)
        self.RT = z(3 * U * U)
        self.zeros = cuda.to_device(np.zeros(max(B * U, 1), dtype=dtype))
        if pooled:
            self.pooled = z(B * U)
            self.dpooled = z(B * U)
            self.arg = z(B * U, np.int32)
            self.count = z(B)
            self.dH_seq = z(T * B * U)
        if embedding:
            self.dX = z(T * B * F)
            self.grows = z(T * B * F)


class CUDATrainer:
    """Training on the GPU; same interface as :class:`skgru._backend.CPUTrainer`.

    With ``config.embedding`` the first parameter is the embedding matrix: it
    lives in its own device array (its gradient is the rows of the batch's
    unique ids, updated lazily with Adam as on the CPU); the GRU and head
    parameters share the flat buffers.
    """

    def __init__(self, params, optimizer, config, seqs, Y, w):
        _check_config(config)
        if getattr(config, "embedding", False) and not getattr(config, "embedding_trainable", True):
            raise ValueError(
                "embedding_trainable=False is not supported by the CUDA trainer; fit with "
                "device='cpu' (prediction may still run on the GPU)."
            )
        self.config = config
        self.optimizer = optimizer
        self.slots = _optimizer_slots(optimizer)
        self.embedding = bool(getattr(config, "embedding", False))
        self.pool_mode = _POOL_MODES[getattr(config, "pooling", "last")]
        self.head_mode = _HEAD_MODES[config.out_activation]
        self.sparse = (
            self.embedding
            and getattr(config, "sparse_embeddings", True)
            and hasattr(optimizer, "update_rows")
        )
        self.dtype = np.dtype(params[-1].dtype)
        self.ks = _cuda.kernels(self.dtype)
        first = 1 if self.embedding else 0
        self.first = first
        gru = list(params[first:])
        self.shapes = [tuple(p.shape) for p in gru]
        self.sizes = [int(p.size) for p in gru]
        self.F = gru[0].shape[0]
        self.U = gru[1].shape[0]
        self.K = gru[3].shape[1]
        U = self.U
        # Flat layout; the bias always gets a (2, 3U) region (row 1 stays zero
        # for the (3U,) bias of reset_after=False, so the kernels see one form).
        offsets, o = [], 0
        for i, n in enumerate(self.sizes):
            offsets.append(o)
            o += 6 * U if i == 2 else n
        self.offsets = offsets
        self.total = o
        self.d_params = cuda.to_device(self._pack(gru))
        self.d_grads = cuda.to_device(np.zeros(self.total, dtype=self.dtype))
        self.p_views = [self._view(self.d_params, i) for i in range(len(gru))]
        self.g_views = [self._view(self.d_grads, i) for i in range(len(gru))]
        self.b2 = self.d_params[offsets[2] : offsets[2] + 6 * U].reshape(2, 3 * U)
        self.db2 = self.d_grads[offsets[2] : offsets[2] + 6 * U].reshape(2, 3 * U)
        self.d_slots = {
            name: cuda.to_device(self._pack(getattr(optimizer, name)[first:]))
            for name in self.slots
        }
        self.d_starts = cuda.to_device(np.array(offsets, dtype=np.int64))
        self.d_lengths = cuda.to_device(np.array(self.sizes, dtype=np.int64))
        self.d_l2_starts = cuda.to_device(np.array([offsets[i] for i in L2_PENALISED], np.int64))
        self.d_l2_lengths = cuda.to_device(
            np.array([self.sizes[i] for i in L2_PENALISED], np.int64)
        )
        # Norms in the CPU's parameter order: [embedding rows,] W, R, bias, Wd, bd.
        self.d_all_norms = cuda.to_device(np.zeros(first + len(gru), dtype=np.float64))
        self.d_norms = self.d_all_norms[first:]
        self.d_pnorms = cuda.to_device(np.zeros(len(L2_PENALISED), dtype=np.float64))
        self.acc = cuda.to_device(np.zeros(1, dtype=np.float64))
        constraints = list(config.constraints) + [None] * len(params)
        self.constraints = constraints[first : first + len(gru)]
        self.plans = [
            None if c is None else _constraint_plan(c, self.shapes[i])
            for i, c in enumerate(self.constraints)
        ]
        # The data, once.
        self.T = seqs.values.shape[1]
        self.mask_host = seqs.mask
        self.d_vmask = cuda.to_device(np.ascontiguousarray(seqs.mask, dtype=np.uint8))
        self.d_Y = cuda.to_device(np.ascontiguousarray(Y, dtype=np.float64))
        self.w_host = np.asarray(w, dtype=np.float64)
        self.d_w = cuda.to_device(self.w_host)
        if self.embedding:
            E = params[0]
            self.E_shape = tuple(E.shape)
            self.ids_host = seqs.values
            self.d_values = cuda.to_device(np.ascontiguousarray(seqs.values, dtype=np.int64))
            self.d_E = cuda.to_device(np.ascontiguousarray(E, dtype=self.dtype))
            self.d_E_slots = {
                name: cuda.to_device(np.ascontiguousarray(getattr(optimizer, name)[0]))
                for name in self.slots
            }
            self.E_constraint = constraints[0]
            self.E_plan = (
                None if constraints[0] is None else _constraint_plan(constraints[0], self.E_shape)
            )
            self.d_dense_E = None if self.sparse else cuda.device_array(E.size, self.dtype)
            self.d_zero = cuda.to_device(np.zeros(1, dtype=np.int64))
        else:
            self.d_values = cuda.to_device(np.ascontiguousarray(seqs.values, dtype=self.dtype))
        self.ws = None
        self._rows = None

    # -- layout ----------------------------------------------------------------

    def _pack(self, arrays):
        flat = np.zeros(self.total, dtype=self.dtype)
        for i, a in enumerate(arrays):
            o = self.offsets[i]
            flat[o : o + self.sizes[i]] = np.asarray(a, dtype=self.dtype).ravel()
        return flat

    def _unpack(self, flat):
        return [
            flat[o : o + n].reshape(shape).copy()
            for o, n, shape in zip(self.offsets, self.sizes, self.shapes)
        ]

    def _view(self, flat, i):
        o = self.offsets[i]
        return flat[o : o + self.sizes[i]].reshape(self.shapes[i])

    def _flat_view(self, flat, i):
        o = self.offsets[i]
        return flat[o : o + self.sizes[i]]

    def _workspace(self, B):
        if self.ws is None or self.ws.B < B:
            self.ws = _Workspace(
                self.dtype, self.T, B, self.F, self.U, self.K, self.pool_mode != 0, self.embedding
            )
        return self.ws

    # -- the trainer interface -----------------------------------------------------

    def get_params(self):
        out = self._unpack(self.d_params.copy_to_host())
        if self.embedding:
            out.insert(0, self.d_E.copy_to_host())
        return out

    def set_params(self, params):
        if self.embedding:
            self.d_E.copy_to_device(np.ascontiguousarray(params[0], dtype=self.dtype))
        self.d_params.copy_to_device(self._pack(params[self.first :]))

    def get_optimizer_state(self):
        for name in self.slots:
            host = self._unpack(self.d_slots[name].copy_to_host())
            if self.embedding:
                host.insert(0, self.d_E_slots[name].copy_to_host())
            for dst, src in zip(getattr(self.optimizer, name), host):
                dst[...] = src
        return self.optimizer.get_state()

    def set_optimizer_state(self, state):
        self.optimizer.set_state(state)
        for name in self.slots:
            arrays = getattr(self.optimizer, name)
            self.d_slots[name].copy_to_device(self._pack(arrays[self.first :]))
            if self.embedding:
                self.d_E_slots[name].copy_to_device(np.ascontiguousarray(arrays[0]))

    def run_epoch(self, batches, rng):
        # One upload of the epoch's indices: a per-batch host-to-device copy
        # would wait for the previous batch's kernels every step.
        batches = [np.asarray(idx, dtype=np.int64) for idx in batches]
        d_all = cuda.to_device(np.concatenate(batches)) if batches else None
        self.acc.copy_to_device(np.zeros(1, dtype=np.float64))
        weight = 0.0
        start = 0
        for idx in batches:
            n = idx.shape[0]
            weight += self.step(idx, rng, d_all[start : start + n])
            start += n
        total = float(self.acc.copy_to_host()[0])
        return total / weight

    def close(self):
        """Drop every device buffer (the trainer is unusable afterwards)."""
        for name in list(vars(self)):
            if name.startswith("d_") or name in ("ws", "p_views", "g_views", "b2", "db2", "acc"):
                setattr(self, name, None)

    # -- one step ------------------------------------------------------------------

    def forward_backward(self, idx, rng, d_idx=None):
        """Gradients of batch ``idx`` into ``d_grads`` (and the embedding rows).

        The loss goes to ``acc``; returns ``w_sum``, the batch's total sample
        weight.
        """
        cfg = self.config
        ks = self.ks
        F, U, K = self.F, self.U, self.K
        idx = np.asarray(idx, dtype=np.int64)
        B = idx.shape[0]
        # The steps of the batch, as skgru._sequences.time_major_batch.
        valid_any = np.flatnonzero(self.mask_host[idx].any(axis=0))
        t0, t1 = (int(valid_any[0]), int(valid_any[-1]) + 1) if len(valid_any) else (0, 1)
        Tb = t1 - t0
        noise, input_mask, rmask = draw_regularisers(
            rng,
            B,
            Tb,
            F,
            U,
            dropout=cfg.dropout,
            recurrent_dropout=cfg.recurrent_dropout,
            input_noise=cfg.input_noise,
            dtype=self.dtype,
        )
        ws = self._workspace(B)
        N = Tb * B
        X = ws.X[: N * F].reshape(Tb, B, F)
        M = ws.M[:N].reshape(Tb, B)
        H = ws.H[: (Tb + 1) * B * U].reshape(Tb + 1, B, U)
        S = ws.S[: N * 4 * U].reshape(Tb, B, 4 * U)
        A = ws.A[: N * 3 * U].reshape(Tb, B, 3 * U)
        dA = ws.dA[: N * 3 * U].reshape(Tb, B, 3 * U)
        dM = ws.dM[: N * 3 * U].reshape(Tb, B, 3 * U)
        logits = ws.logits[: B * K].reshape(B, K)
        dlogits = ws.dlogits[: B * K].reshape(B, K)
        row_loss = ws.row_loss[:B]
        G = ws.G[: B * U].reshape(B, U)
        RT = ws.RT.reshape(3 * U, U)
        W, R, _, Wd, bd = self.p_views
        gW, gR, _, gWd, gbd = self.g_views

        if d_idx is None:
            d_idx = cuda.to_device(idx)
        d_noise = cuda.to_device(noise) if noise is not None else ks._dummy3()
        d_imask = cuda.to_device(input_mask) if input_mask is not None else ks._dummy2()
        d_rmask = cuda.to_device(rmask) if rmask is not None else None
        gather_args = (d_noise, d_imask, noise is not None, input_mask is not None, X, M)
        if self.embedding:
            ks.gather_tokens(self.d_values, self.d_vmask, d_idx, t0, self.d_E, *gather_args)
        else:
            ks.gather_batch(self.d_values, self.d_vmask, d_idx, t0, *gather_args)
        ks.gru_forward(X, M, W, R, self.b2, None, d_rmask, cfg.reset_after, H, S, A)

        # Pooling and the head: logits, loss, and the gradients of the dense layer.
        if self.pool_mode == 0:
            pooled = ws.H[Tb * B * U : (Tb + 1) * B * U].reshape(B, U)
        else:
            pooled = ws.pooled[: B * U].reshape(B, U)
            arg = ws.arg[: B * U].reshape(B, U)
            count = ws.count[:B]
            ks.pool_forward(H, M, self.pool_mode, pooled, arg, count)
        w_sum = float(self.w_host[idx].sum())
        if cfg.alpha > 0:  # the penalty uses the weights before this step's update
            ks.sumsq_segments(self.d_params, self.d_l2_starts, self.d_l2_lengths, self.d_pnorms)
        if self.pool_mode == 0:
            dpooled = G
        else:
            dpooled = ws.dpooled[: B * U].reshape(B, U)
        ks.head_step(
            pooled, Wd, bd, self.d_Y, self.d_w, d_idx, w_sum, self.head_mode, cfg.alpha,
            self.d_pnorms, logits, dlogits, row_loss, gWd, gbd, dpooled, self.acc,
        )  # fmt: skip
        if self.pool_mode == 0:
            dH_seq = None
        else:
            dH_seq = ws.dH_seq[: N * U].reshape(Tb, B, U)
            ks.pool_backward(dpooled, M, self.pool_mode, arg, count, dH_seq)
            G.copy_to_device(ws.zeros[: B * U].reshape(B, U))

        # Back through time, then the weight gradients as products over all rows.
        ks.transpose(R, RT)
        dbp = ws.dbp[: B * 6 * U].reshape(B, 6 * U)
        ks.gru_backward_steps(M, RT, d_rmask, cfg.reset_after, H, S, dH_seq, G, dA, dM, dbp)
        ks.sum_rows(dbp, self.db2.reshape(6 * U))
        dA2 = dA.reshape(N, 3 * U)
        dM2 = dM.reshape(N, 3 * U)
        ks.gemm(X.reshape(N, F), dA2, gW, ta=True)
        if d_rmask is not None:
            if ws.Hm is None or ws.Hm.size < N * U:
                ws.Hm = cuda.device_array(self.T * ws.B * U, dtype=self.dtype)
            ks.apply_rmask(
                ws.H[: N * U].reshape(Tb, B, U), d_rmask, ws.Hm[: N * U].reshape(Tb, B, U)
            )
            Hp = ws.Hm[: N * U].reshape(N, U)
        else:
            Hp = ws.H[: N * U].reshape(N, U)
        if cfg.reset_after:
            ks.gemm(Hp, dM2, gR, ta=True)
        else:
            ks.gemm(Hp, dM2[:, : 2 * U], gR[:, : 2 * U], ta=True)
            RH2 = S.reshape(N, 4 * U)[:, 3 * U :]
            ks.gemm(RH2, dM2[:, 2 * U :], gR[:, 2 * U :], ta=True)

        # The L2 penalty's gradient on the kernels.
        if cfg.alpha > 0:
            for i in L2_PENALISED:
                ks.axpy(
                    self._flat_view(self.d_grads, i),
                    self._flat_view(self.d_params, i),
                    cfg.alpha / w_sum,
                )

        if self.embedding:
            self._embedding_rows(ws, dA2, W, idx, t0, t1, input_mask, d_imask, N, Tb, B)
        return w_sum

    def _embedding_rows(self, ws, dA2, W, idx, t0, t1, input_mask, d_imask, N, Tb, B):
        """Gradient rows of the batch's unique ids, summed in ``np.add.at`` order."""
        ks = self.ks
        F = self.F
        dX = ws.dX[: N * F].reshape(N, F)
        ks.gemm(dA2, W, dX, tb=True)
        if input_mask is not None:
            dX3 = dX.reshape(Tb, B, F)
            ks.apply_rmask(dX3, d_imask, dX3)
        valid = self.mask_host[idx, t0:t1].T.astype(bool)
        ids = self.ids_host[idx, t0:t1].T[valid]
        positions = np.flatnonzero(valid.ravel())
        rows, inverse = np.unique(ids, return_inverse=True)
        inverse = inverse.ravel()
        order = np.argsort(inverse, kind="stable")
        seg = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(np.bincount(inverse, minlength=len(rows)), out=seg[1:])
        n_rows = len(rows)
        grows = ws.grows[: max(n_rows, 1) * F].reshape(max(n_rows, 1), F)
        if n_rows:
            ks.rows_sum(dX, cuda.to_device(positions[order]), cuda.to_device(seg), grows)
        self._rows = (n_rows, cuda.to_device(rows.astype(np.int64)) if n_rows else None, grows)

    def _row_segment(self):
        n_rows, d_rows, grows = self._rows
        flat = grows.reshape(grows.size)
        length = cuda.to_device(np.array([n_rows * self.F], dtype=np.int64))
        return n_rows, d_rows, grows, flat, length

    def clip(self):
        cfg = self.config
        ks = self.ks
        if self.embedding:
            n_rows, _, _, flat, length = self._row_segment()
        if cfg.clipnorm is not None:
            ks.sumsq_segments(self.d_grads, self.d_starts, self.d_lengths, self.d_norms)
            ks.clip_by_norm(self.d_grads, self.d_starts, self.d_lengths, self.d_norms, cfg.clipnorm)
            if self.embedding:
                e_norm = self.d_all_norms[0:1]
                ks.sumsq_segments(flat, self.d_zero, length, e_norm)
                ks.clip_by_norm(flat, self.d_zero, length, e_norm, cfg.clipnorm)
        elif cfg.clipvalue is not None:
            ks.clip_value(self.d_grads, cfg.clipvalue)
            if self.embedding and n_rows:
                ks.clip_value(flat, cfg.clipvalue)
        elif cfg.global_clipnorm is not None:
            ks.sumsq_segments(self.d_grads, self.d_starts, self.d_lengths, self.d_norms)
            if self.embedding:
                ks.sumsq_segments(flat, self.d_zero, length, self.d_all_norms[0:1])
                ks.clip_global(flat, self.d_zero, length, self.d_all_norms, cfg.global_clipnorm)
            ks.clip_global(
                self.d_grads, self.d_starts, self.d_lengths, self.d_all_norms, cfg.global_clipnorm
            )

    def _apply(self, p, g, slots):
        opt = self.optimizer
        ks = self.ks
        if isinstance(opt, AdamOptimizer):
            ks.adam(
                p, g, slots["ms"], slots["vs"], opt.beta_1, opt.beta_2, opt.learning_rate,
                opt.epsilon,
            )  # fmt: skip
        elif isinstance(opt, SGDOptimizer):
            ks.sgd(p, g, slots["velocities"], opt.momentum, opt.learning_rate, opt.nesterov)
        else:
            ks.rmsprop(
                p, g, slots["velocities"], slots.get("momentums"), opt.rho, opt.learning_rate,
                opt.epsilon, opt.momentum,
            )  # fmt: skip

    def update(self):
        """One optimizer step over the flat buffers (the host object keeps ``t``, ``lr``)."""
        opt = self.optimizer
        ks = self.ks
        opt.t += 1
        opt._begin_step()
        self._apply(self.d_params, self.d_grads, self.d_slots)
        if not self.embedding:
            return
        n_rows, d_rows, grows, _, _ = self._row_segment()
        if self.sparse:
            if n_rows:
                ks.adam_rows(
                    self.d_E, grows[:n_rows], d_rows, self.d_E_slots["ms"], self.d_E_slots["vs"],
                    opt.beta_1, opt.beta_2, opt.learning_rate, opt.epsilon,
                )  # fmt: skip
            return
        dense = self.d_dense_E
        ks.fill(dense, 0)
        if n_rows:
            ks.scatter_rows(grows[:n_rows], d_rows, dense.reshape(self.E_shape))
        size = int(np.prod(self.E_shape))
        slots = {k: v.reshape(size) for k, v in self.d_E_slots.items()}
        self._apply(self.d_E.reshape(size), dense, slots)

    def _constrain_one(self, plan, constraint, view, flat):
        ks = self.ks
        if plan[0] == "nonneg":
            ks.nonneg(flat)
        elif plan[0] == "norm":
            _, by_row, code, lo, hi, rate = plan
            w2 = view if view.ndim == 2 else view.reshape(view.shape[0], 1)
            ks.constrain_norm(w2, by_row, code, lo, hi, rate, _EPSILON)
        else:
            host = view.copy_to_host()
            apply_constraint(constraint, host)
            view.copy_to_device(np.ascontiguousarray(host))

    def constrain(self):
        if self.embedding and self.E_plan is not None:
            size = int(np.prod(self.E_shape))
            self._constrain_one(self.E_plan, self.E_constraint, self.d_E, self.d_E.reshape(size))
        for i, plan in enumerate(self.plans):
            if plan is not None:
                self._constrain_one(
                    plan, self.constraints[i], self.p_views[i], self._flat_view(self.d_params, i)
                )

    def step(self, idx, rng, d_idx=None):
        """One optimizer step on batch ``idx``; returns the batch's sample weight.

        ``d_idx`` is ``idx`` already on the device (or None).
        """
        w_sum = self.forward_backward(idx, rng, d_idx)
        self.clip()
        self.update()
        self.constrain()
        return w_sum


class CUDABackend:
    """Runs training and inference on the GPU with the ``@cuda.jit`` kernels."""

    name = "cuda"

    @staticmethod
    def missing(config):
        """What ``config`` needs that the device path lacks ("" when nothing)."""
        try:
            _check_config(config)
        except ValueError as exc:
            return str(exc)
        return ""

    def make_trainer(self, params, optimizer, config, seqs, Y, w):
        return CUDATrainer(params, optimizer, config, seqs, Y, w)

    def predict_logits(self, params, seqs, config, batch_size=1024, fitted=False):
        return self._infer(params, seqs, config, batch_size, head=True, fitted=fitted)

    def _infer(self, params, seqs, config, batch_size, head, fitted=False):
        _check_config(config)
        embedding = bool(getattr(config, "embedding", False))
        pool_mode = _POOL_MODES[getattr(config, "pooling", "last")]
        E = params[0] if embedding else None
        W, R, bias, Wd, bd = params[1:] if embedding else params
        dtype = np.dtype(W.dtype)
        ks = _cuda.kernels(dtype)
        U = R.shape[0]
        K = Wd.shape[1]
        d_W = cuda.to_device(np.ascontiguousarray(W))
        d_R = cuda.to_device(np.ascontiguousarray(R))
        d_b2 = cuda.to_device(np.ascontiguousarray(fused_bias(bias), dtype=dtype))
        d_Wd = cuda.to_device(np.ascontiguousarray(Wd))
        d_bd = cuda.to_device(np.ascontiguousarray(bd))
        out = np.empty((seqs.n_samples, K if head else U), dtype=dtype)
        for start in range(0, seqs.n_samples, batch_size):
            idx = np.arange(start, min(start + batch_size, seqs.n_samples))
            Xv, mask = time_major_batch(seqs, idx)
            X = np.ascontiguousarray(E[Xv] if embedding else Xv, dtype=dtype)
            T, B, _ = X.shape
            d_mask = cuda.to_device(mask)
            d_H = cuda.device_array((T + 1, B, U), dtype=dtype)
            d_A = cuda.device_array((T, B, 3 * U), dtype=dtype)
            ks.gru_forward(
                cuda.to_device(X), d_mask, d_W, d_R, d_b2, None, None, config.reset_after,
                d_H, None, d_A,
            )  # fmt: skip
            if pool_mode == 0:
                pooled = d_H[T]
            else:
                pooled = cuda.device_array((B, U), dtype=dtype)
                ks.pool_forward(
                    d_H, d_mask, pool_mode, pooled, cuda.device_array((B, U), np.int32),
                    cuda.device_array(B, dtype),
                )  # fmt: skip
            if not head:
                out[idx] = pooled.copy_to_host()
                continue
            d_logits = cuda.device_array((B, K), dtype=dtype)
            ks.gemm(pooled, d_Wd, d_logits)
            ks.add_row_vector(d_logits, d_bd)
            out[idx] = d_logits.copy_to_host()
        return out
