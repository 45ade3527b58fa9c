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

from ._constraints import _EPSILON, MaxNorm, MinMaxNorm, NonNeg, UnitNorm, apply_constraint
from ._kernels import _cuda
from ._network import L2_PENALISED, draw_regularisers, fused_bias
from ._optimizers import AdamOptimizer, RMSpropOptimizer, SGDOptimizer
from ._sequences import time_major_batch

__all__ = ["CUDABackend", "CUDATrainer"]

# TrainConfig fields whose non-default values the device path does not run
# yet (features added to the CPU trainer later); checked by name so that this
# module keeps working when the fields do not exist.
_UNSUPPORTED = {
    "pooling": ("last",),
    "embedding": (False,),
}


def _check_config(config):
    for name, allowed in _UNSUPPORTED.items():
        value = getattr(config, name, allowed[0])
        if value not in allowed:
            raise ValueError(
                f"{name}={value!r} is not supported with device='cuda' yet; use device='cpu'."
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

    def __init__(self, dtype, T, B, F, U, K, colsum_size):
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
        self.G = z(B * U)
        self.RT = z(3 * U * U)
        self.partial = z(colsum_size)
        self.zeros = cuda.to_device(np.zeros(max(B * U, 1), dtype=dtype))


class CUDATrainer:
    """Training on the GPU; same interface as :class:`skgru._backend.CPUTrainer`."""

    def __init__(self, params, optimizer, config, seqs, Y, w):
        _check_config(config)
        self.config = config
        self.optimizer = optimizer
        self.slots = _optimizer_slots(optimizer)
        self.dtype = np.dtype(params[0].dtype)
        self.ks = _cuda.kernels(self.dtype)
        self.shapes = [tuple(p.shape) for p in params]
        self.sizes = [int(p.size) for p in params]
        self.F = params[0].shape[0]
        self.U = params[1].shape[0]
        self.K = params[3].shape[1]
        U = self.U
        # Flat layout; the bias always gets a (2, 3U) region (row 1 stays zero
        # for the (3U,) bias of reset_after=False, so the kernels see one form).
        offsets, o = [], 0
        for i, n in enumerate(self.sizes):
            offsets.append(o)
            o += 6 * U if i == 2 else n
        self.offsets = offsets
        self.total = o
        self.d_params = cuda.to_device(self._pack(params))
        self.d_grads = cuda.to_device(np.zeros(self.total, dtype=self.dtype))
        self.p_views = [self._view(self.d_params, i) for i in range(len(params))]
        self.g_views = [self._view(self.d_grads, i) for i in range(len(params))]
        self.b2 = self.d_params[offsets[2] : offsets[2] + 6 * U].reshape(2, 3 * U)
        self.db2 = self.d_grads[offsets[2] : offsets[2] + 6 * U].reshape(2, 3 * U)
        self.d_slots = {
            name: cuda.to_device(self._pack(getattr(optimizer, name))) for name in self.slots
        }
        self.d_starts = cuda.to_device(np.array(offsets, dtype=np.int64))
        self.d_lengths = cuda.to_device(np.array(self.sizes, dtype=np.int64))
        self.d_l2_starts = cuda.to_device(np.array([offsets[i] for i in L2_PENALISED], np.int64))
        self.d_l2_lengths = cuda.to_device(
            np.array([self.sizes[i] for i in L2_PENALISED], np.int64)
        )
        self.d_norms = cuda.device_array(len(params), dtype=np.float64)
        self.d_pnorms = cuda.to_device(np.zeros(len(L2_PENALISED), dtype=np.float64))
        self.acc = cuda.to_device(np.zeros(1, dtype=np.float64))
        self.plans = [
            None if c is None else _constraint_plan(c, self.shapes[i])
            for i, c in enumerate(list(config.constraints) + [None] * len(params))
        ][: len(params)]
        # The data, once.
        self.T = seqs.values.shape[1]
        self.mask_host = seqs.mask
        self.d_values = cuda.to_device(np.ascontiguousarray(seqs.values, dtype=self.dtype))
        self.d_vmask = cuda.to_device(np.ascontiguousarray(seqs.mask, dtype=np.uint8))
        self.d_Y = cuda.to_device(np.ascontiguousarray(Y, dtype=self.dtype))
        self.w_host = np.asarray(w, dtype=np.float64)
        self.d_w = cuda.to_device(self.w_host)
        self.ws = None

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
            N = self.T * B
            colsum = max(
                self.ks.colsum_workspace_size(N, 3 * self.U),
                self.ks.colsum_workspace_size(B, self.K),
            )
            self.ws = _Workspace(self.dtype, self.T, B, self.F, self.U, self.K, colsum)
        return self.ws

    # -- the trainer interface -----------------------------------------------------

    def get_params(self):
        return self._unpack(self.d_params.copy_to_host())

    def set_params(self, params):
        self.d_params.copy_to_device(self._pack(params))

    def get_optimizer_state(self):
        for name in self.slots:
            host = self._unpack(self.d_slots[name].copy_to_host())
            for dst, src in zip(getattr(self.optimizer, name), host):
                dst[...] = src
        return self.optimizer.get_state()

    def set_optimizer_state(self, state):
        self.optimizer.set_state(state)
        for name in self.slots:
            self.d_slots[name].copy_to_device(self._pack(getattr(self.optimizer, name)))

    def run_epoch(self, batches, rng):
        self.acc.copy_to_device(np.zeros(1, dtype=np.float64))
        weight = 0.0
        for idx in batches:
            weight += self.step(idx, rng)
        total = float(self.acc.copy_to_host()[0])
        return total / weight

    def close(self):
        """Drop every device buffer (the trainer is unusable afterwards)."""
        for name in list(vars(self)):
            if name.startswith("d_") or name in ("ws", "p_views", "g_views", "b2", "db2", "acc"):
                setattr(self, name, None)

    # -- one step ------------------------------------------------------------------

    def forward_backward(self, idx, rng):
        """Gradients of batch ``idx`` into ``d_grads``; the loss goes to ``acc``.

        Returns ``w_sum``, the batch's total sample weight.
        """
        cfg = self.config
        ks = self.ks
        F, U, K = self.F, self.U, self.K
        idx = np.asarray(idx, dtype=np.int64)
        B = idx.shape[0]
        valid_any = self.mask_host[idx].any(axis=0)
        Tb = int(np.flatnonzero(valid_any)[-1]) + 1 if valid_any.any() else 1
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

        d_idx = cuda.to_device(idx)
        d_noise = cuda.to_device(noise) if noise is not None else ks._dummy3()
        d_imask = cuda.to_device(input_mask) if input_mask is not None else ks._dummy2()
        d_rmask = cuda.to_device(rmask) if rmask is not None else None
        ks.gather_batch(
            self.d_values,
            self.d_vmask,
            d_idx,
            d_noise,
            d_imask,
            noise is not None,
            input_mask is not None,
            X,
            M,
        )
        H[0].copy_to_device(ws.zeros[: B * U].reshape(B, U))
        ks.gru_forward(X, M, W, R, self.b2, None, d_rmask, cfg.reset_after, H, S, A)

        # Head: logits, loss, and the gradients of the dense layer.
        h_last = ws.H[Tb * B * U : (Tb + 1) * B * U].reshape(B, U)
        ks.gemm(h_last, Wd, logits)
        w_sum = float(self.w_host[idx].sum())
        ks.head_loss(
            logits,
            bd,
            self.d_Y,
            self.d_w,
            d_idx,
            w_sum,
            cfg.out_activation == "logistic",
            dlogits,
            row_loss,
        )
        ks.gemm(h_last, dlogits, gWd, ta=True)
        ks.column_sums(dlogits, gbd, ws.partial)
        ks.gemm(dlogits, Wd, G, tb=True)

        # Back through time, then the weight gradients as products over all rows.
        ks.transpose(R, RT)
        ks.gru_backward_steps(M, RT, d_rmask, cfg.reset_after, H, S, None, G, dA, dM)
        dA2 = dA.reshape(N, 3 * U)
        dM2 = dM.reshape(N, 3 * U)
        ks.gemm(X.reshape(N, F), dA2, gW, ta=True)
        ks.column_sums(dA2, self.db2[0], ws.partial)
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
            ks.column_sums(dM2, self.db2[1], ws.partial)
        else:
            ks.gemm(Hp, dM2[:, : 2 * U], gR[:, : 2 * U], ta=True)
            RH2 = S.reshape(N, 4 * U)[:, 3 * U :]
            ks.gemm(RH2, dM2[:, 2 * U :], gR[:, 2 * U :], ta=True)

        # L2 penalty on the kernels (loss and gradient), then the loss sum.
        if cfg.alpha > 0:
            ks.sumsq_segments(self.d_params, self.d_l2_starts, self.d_l2_lengths, self.d_pnorms)
            for i in L2_PENALISED:
                ks.axpy(
                    self._flat_view(self.d_grads, i),
                    self._flat_view(self.d_params, i),
                    cfg.alpha / w_sum,
                )
        ks.accumulate_loss(row_loss, w_sum, cfg.alpha, self.d_pnorms, self.acc)
        return w_sum

    def clip(self):
        cfg = self.config
        ks = self.ks
        if cfg.clipnorm is not None:
            ks.sumsq_segments(self.d_grads, self.d_starts, self.d_lengths, self.d_norms)
            ks.clip_by_norm(self.d_grads, self.d_starts, self.d_lengths, self.d_norms, cfg.clipnorm)
        elif cfg.clipvalue is not None:
            ks.clip_value(self.d_grads, cfg.clipvalue)
        elif cfg.global_clipnorm is not None:
            ks.sumsq_segments(self.d_grads, self.d_starts, self.d_lengths, self.d_norms)
            ks.clip_global(
                self.d_grads, self.d_starts, self.d_lengths, self.d_norms, cfg.global_clipnorm
            )

    def update(self):
        """One optimizer step over the flat buffers (the host object keeps ``t``, ``lr``)."""
        opt = self.optimizer
        ks = self.ks
        opt.t += 1
        opt._begin_step()
        p, g = self.d_params, self.d_grads
        if isinstance(opt, AdamOptimizer):
            ks.adam(
                p,
                g,
                self.d_slots["ms"],
                self.d_slots["vs"],
                opt.beta_1,
                opt.beta_2,
                opt.learning_rate,
                opt.epsilon,
            )
        elif isinstance(opt, SGDOptimizer):
            ks.sgd(p, g, self.d_slots["velocities"], opt.momentum, opt.learning_rate, opt.nesterov)
        else:
            ks.rmsprop(
                p,
                g,
                self.d_slots["velocities"],
                self.d_slots.get("momentums"),
                opt.rho,
                opt.learning_rate,
                opt.epsilon,
                opt.momentum,
            )

    def constrain(self):
        ks = self.ks
        for i, plan in enumerate(self.plans):
            if plan is None:
                continue
            view = self.p_views[i]
            if plan[0] == "nonneg":
                ks.nonneg(self._flat_view(self.d_params, i))
            elif plan[0] == "norm":
                _, by_row, code, lo, hi, rate = plan
                w2 = view if view.ndim == 2 else view.reshape(view.shape[0], 1)
                ks.constrain_norm(w2, by_row, code, lo, hi, rate, _EPSILON)
            else:
                host = view.copy_to_host()
                apply_constraint(self.config.constraints[i], host)
                view.copy_to_device(np.ascontiguousarray(host))

    def step(self, idx, rng):
        """One optimizer step on batch ``idx``; returns the batch's sample weight."""
        w_sum = self.forward_backward(idx, rng)
        self.clip()
        self.update()
        self.constrain()
        return w_sum


class CUDABackend:
    """Runs training and inference on the GPU with the ``@cuda.jit`` kernels."""

    name = "cuda"

    def make_trainer(self, params, optimizer, config, seqs, Y, w):
        return CUDATrainer(params, optimizer, config, seqs, Y, w)

    def final_states(self, params, seqs, reset_after, batch_size=1024):
        """Final GRU states ``(N, U)``; each row independent of the batch it is in."""
        W, R, bias = params[0], params[1], params[2]
        dtype = np.dtype(W.dtype)
        ks = _cuda.kernels(dtype)
        U = R.shape[0]
        d_W = cuda.to_device(np.ascontiguousarray(W))
        d_R = cuda.to_device(np.ascontiguousarray(R))
        d_b2 = cuda.to_device(np.ascontiguousarray(fused_bias(bias), dtype=dtype))
        out = np.empty((seqs.n_samples, U), dtype=dtype)
        for start in range(0, seqs.n_samples, batch_size):
            idx = np.arange(start, min(start + batch_size, seqs.n_samples))
            X, mask = time_major_batch(seqs, idx)
            T, B, _ = X.shape
            d_H = cuda.device_array((T + 1, B, U), dtype=dtype)
            d_A = cuda.device_array((T, B, 3 * U), dtype=dtype)
            ks.gru_forward(
                cuda.to_device(X),
                cuda.to_device(mask),
                d_W,
                d_R,
                d_b2,
                cuda.to_device(np.zeros((B, U), dtype=dtype)),
                None,
                reset_after,
                d_H,
                None,
                d_A,
            )
            out[idx] = d_H[T].copy_to_host()
        return out

    def predict_logits(self, params, seqs, reset_after, batch_size=1024):
        W, R, bias, Wd, bd = params
        dtype = np.dtype(W.dtype)
        ks = _cuda.kernels(dtype)
        U = R.shape[0]
        K = Wd.shape[1]
        d_W = cuda.to_device(np.ascontiguousarray(W))
        d_R = cuda.to_device(np.ascontiguousarray(R))
        d_b2 = cuda.to_device(np.ascontiguousarray(fused_bias(bias), dtype=dtype))
        d_Wd = cuda.to_device(np.ascontiguousarray(Wd))
        d_bd = cuda.to_device(np.ascontiguousarray(bd))
        out = np.empty((seqs.n_samples, K), dtype=dtype)
        for start in range(0, seqs.n_samples, batch_size):
            idx = np.arange(start, min(start + batch_size, seqs.n_samples))
            X, mask = time_major_batch(seqs, idx)
            T, B, _ = X.shape
            d_H = cuda.device_array((T + 1, B, U), dtype=dtype)
            d_A = cuda.device_array((T, B, 3 * U), dtype=dtype)
            ks.gru_forward(
                cuda.to_device(X),
                cuda.to_device(mask),
                d_W,
                d_R,
                d_b2,
                cuda.to_device(np.zeros((B, U), dtype=dtype)),
                None,
                reset_after,
                d_H,
                None,
                d_A,
            )
            d_logits = cuda.device_array((B, K), dtype=dtype)
            ks.gemm(d_H[T], d_Wd, d_logits)
            ks.add_row_vector(d_logits, d_bd)
            out[idx] = d_logits.copy_to_host()
        return out
