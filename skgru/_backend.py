"""Where the arithmetic runs: the CPU backend (and the choice between backends).

The estimator never touches numba: it asks :func:`get_backend` for a backend
and calls ``make_trainer`` / ``predict_logits`` on it. A backend's trainer owns
the parameters and optimizer state for the length of one ``fit`` and exposes:

``run_epoch(batches, rng) -> float``
    one pass over the given index batches; returns the sample-weighted mean
    training loss (L2 term included), the only value that comes back per epoch;
``get_params() -> list[np.ndarray]`` / ``set_params(list)``
    host copies of the weights, Keras order;
``get_optimizer_state()`` / ``set_optimizer_state(state)``.

Dropout masks and noise are drawn on the host from the ``rng`` passed in, so
the same ``random_state`` gives the same model on every backend.
"""

from dataclasses import dataclass, field

import numpy as np

from ._constraints import apply_constraint
from ._kernels import _cpu
from ._network import L2_PENALISED, draw_regularisers, fused_bias, head_loss_grad
from ._optimizers import clip_gradients
from ._sequences import time_major_batch

__all__ = ["TrainConfig", "CPUBackend", "get_backend"]


@dataclass
class TrainConfig:
    """Everything a trainer needs besides the data, parameters and optimizer."""

    reset_after: bool = True
    out_activation: str = "softmax"
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    input_noise: float = 0.0
    alpha: float = 0.0
    clipnorm: float | None = None
    clipvalue: float | None = None
    global_clipnorm: float | None = None
    # One entry per parameter (None = unconstrained), Keras order.
    constraints: list = field(default_factory=list)


class CPUTrainer:
    """Training on the CPU with the ``@njit`` kernels of :mod:`skgru._kernels._cpu`."""

    def __init__(self, params, optimizer, config, seqs, Y, w):
        self.params = [np.array(p, copy=True) for p in params]
        self.optimizer = optimizer
        self.config = config
        self.seqs = seqs
        self.Y = Y
        self.w = w
        self.dtype = self.params[0].dtype

    def get_params(self):
        return [p.copy() for p in self.params]

    def set_params(self, params):
        for p, q in zip(self.params, params):
            p[...] = q

    def get_optimizer_state(self):
        return self.optimizer.get_state()

    def set_optimizer_state(self, state):
        self.optimizer.set_state(state)

    def loss_and_grads(self, idx, rng):
        """Forward and backward for the batch ``idx``; returns ``(loss, grads, w_sum)``."""
        cfg = self.config
        W, R, bias, Wd, bd = self.params
        X, mask = time_major_batch(self.seqs, idx)
        T, B, F = X.shape
        U = R.shape[0]
        noise, input_mask, rmask = draw_regularisers(
            rng,
            B,
            T,
            F,
            U,
            dropout=cfg.dropout,
            recurrent_dropout=cfg.recurrent_dropout,
            input_noise=cfg.input_noise,
            dtype=self.dtype,
        )
        if noise is not None:
            X += noise
        if input_mask is not None:
            X *= input_mask[None]
        if rmask is None:
            rmask = np.zeros((0, U), dtype=self.dtype)
        b2 = np.ascontiguousarray(fused_bias(bias))
        H = np.empty((T + 1, B, U), dtype=self.dtype)
        S = np.empty((T, B, 4 * U), dtype=self.dtype)
        A = np.empty((T, B, 3 * U), dtype=self.dtype)
        h0 = np.zeros((B, U), dtype=self.dtype)
        _cpu.gru_forward(X, mask, W, R, b2, h0, rmask, cfg.reset_after, H, S, A)
        h_last = H[T]
        logits = h_last @ Wd + bd
        loss, dlogits, w_sum = head_loss_grad(logits, self.Y[idx], self.w[idx], cfg.out_activation)
        dWd = h_last.T @ dlogits
        dbd = dlogits.sum(axis=0)
        dh_last = np.ascontiguousarray(dlogits @ Wd.T)
        dW = np.empty_like(W)
        dR = np.empty_like(R)
        db2 = np.empty((2, 3 * U), dtype=self.dtype)
        empty = np.zeros((0, B, U), dtype=self.dtype)
        dM = np.empty_like(A)
        _cpu.gru_backward(
            X,
            mask,
            W,
            R,
            rmask,
            cfg.reset_after,
            H,
            S,
            empty,
            dh_last,
            dW,
            dR,
            db2,
            np.zeros((0, B, F), dtype=self.dtype),
            h0,
            A,
            dM,
        )
        dbias = db2 if bias.ndim == 2 else db2[0].copy()
        grads = [dW, dR, dbias, dWd.astype(self.dtype), dbd.astype(self.dtype)]
        if cfg.alpha > 0:
            penalty = 0.0
            for i in L2_PENALISED:
                p = self.params[i]
                penalty += float(np.dot(p.ravel(), p.ravel()))
                grads[i] += (cfg.alpha / w_sum) * p
            loss += 0.5 * cfg.alpha * penalty / w_sum
        return loss, grads, w_sum

    def step(self, idx, rng):
        """One optimizer step on batch ``idx``: gradients, clipping, update, constraints."""
        cfg = self.config
        loss, grads, w_sum = self.loss_and_grads(idx, rng)
        clip_gradients(
            grads,
            clipnorm=cfg.clipnorm,
            clipvalue=cfg.clipvalue,
            global_clipnorm=cfg.global_clipnorm,
        )
        self.optimizer.update_params(self.params, grads)
        for p, c in zip(self.params, cfg.constraints):
            if c is not None:
                apply_constraint(c, p)
        return loss, w_sum

    def run_epoch(self, batches, rng):
        total = 0.0
        weight = 0.0
        for idx in batches:
            loss, w_sum = self.step(idx, rng)
            total += loss * w_sum
            weight += w_sum
        return total / weight


class CPUBackend:
    """Runs everything on the host: NumPy for the head, ``@njit`` kernels for the GRU."""

    name = "cpu"

    def make_trainer(self, params, optimizer, config, seqs, Y, w):
        return CPUTrainer(params, optimizer, config, seqs, Y, w)

    def final_states(self, params, seqs, reset_after, batch_size=256):
        """Final GRU states ``(N, U)``; each row independent of the batch it is in."""
        W, R, bias = params[0], params[1], params[2]
        U = R.shape[0]
        dtype = W.dtype
        b2 = np.ascontiguousarray(fused_bias(bias))
        out = np.empty((seqs.n_samples, U), dtype=dtype)
        for start in range(0, seqs.n_samples, batch_size):
            idx = np.arange(start, min(start + batch_size, seqs.n_samples))
            X, mask = time_major_batch(seqs, idx)
            T, B, _ = X.shape
            H = np.empty((T + 1, B, U), dtype=dtype)
            A = np.empty((T, B, 3 * U), dtype=dtype)
            _cpu.gru_forward(
                X,
                mask,
                W,
                R,
                b2,
                np.zeros((B, U), dtype=dtype),
                np.zeros((0, U), dtype=dtype),
                reset_after,
                H,
                np.zeros((0, B, 4 * U), dtype=dtype),
                A,
            )
            out[idx] = H[T]
        return out

    def predict_logits(self, params, seqs, reset_after, batch_size=256):
        Wd, bd = params[3], params[4]
        h = self.final_states(params, seqs, reset_after, batch_size)
        logits = np.empty((h.shape[0], Wd.shape[1]), dtype=h.dtype)
        _cpu.matmul_rowwise(h, np.ascontiguousarray(Wd), logits)
        logits += bd
        return logits


_CPU = CPUBackend()


def cuda_available():
    """True when numba's CUDA target is importable and sees a GPU (costs nothing otherwise)."""
    try:
        from numba import cuda
    except ImportError:  # pragma: no cover - numba always ships numba.cuda or numba-cuda
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # pragma: no cover - driver errors mean "no GPU"
        return False


def get_backend(device="cpu"):
    """The backend for ``device`` in ``{"auto", "cpu", "cuda"}``."""
    if device == "cpu":
        return _CPU
    if device in ("auto", "cuda"):
        if cuda_available():
            from ._cuda_backend import CUDABackend

            return CUDABackend()
        if device == "cuda":
            raise ValueError(
                "device='cuda' was requested but no CUDA GPU is available to numba "
                "(install the extra with `pip install skgru[cuda]` and check the driver)."
            )
        return _CPU
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}.")
