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
from ._network import (
    L2_PENALISED,
    draw_regularisers,
    fused_bias,
    head_loss_grad,
    pool_backward,
    pool_states,
)
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
    # Token input: params start with an embedding matrix (vocab_size, D).
    embedding: bool = False
    # Lazy (row-sparse) optimizer steps for the embedding where the solver
    # supports them (Adam); otherwise the embedding takes dense steps.
    sparse_embeddings: bool = True
    pooling: str = "last"


def _gru_inputs(params, seqs_values_tm, embedding):
    """Split params into ``(E or None, W, R, bias, Wd, bd)`` and embed token ids."""
    if embedding:
        E, W, R, bias, Wd, bd = params
        return E, E[seqs_values_tm], W, R, bias, Wd, bd
    W, R, bias, Wd, bd = params
    return None, seqs_values_tm, W, R, bias, Wd, bd


class CPUTrainer:
    """Training on the CPU with the ``@njit`` kernels of :mod:`skgru._kernels._cpu`."""

    def __init__(self, params, optimizer, config, seqs, Y, w):
        self.params = [np.array(p, copy=True) for p in params]
        self.optimizer = optimizer
        self.config = config
        self.seqs = seqs
        self.Y = Y
        self.w = w
        self.dtype = self.params[-1].dtype
        self.sparse = (
            config.embedding and config.sparse_embeddings and hasattr(optimizer, "update_rows")
        )

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
        """Forward and backward for the batch ``idx``.

        Returns ``(loss, grads, w_sum)``; with an embedding, ``grads[0]`` is
        ``(rows, grad_rows)``: the unique ids of the batch and their gradient
        rows (the rest of the embedding gradient is zero).
        """
        cfg = self.config
        Xv, mask = time_major_batch(self.seqs, idx)
        E, X, W, R, bias, Wd, bd = _gru_inputs(self.params, Xv, cfg.embedding)
        X = np.ascontiguousarray(X, dtype=self.dtype)
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
        pooled, aux = pool_states(H, mask, cfg.pooling)
        logits = pooled @ Wd + bd
        loss, dlogits, w_sum = head_loss_grad(logits, self.Y[idx], self.w[idx], cfg.out_activation)
        dWd = pooled.T @ dlogits
        dbd = dlogits.sum(axis=0)
        dH_seq, dh_last = pool_backward(dlogits @ Wd.T, mask, cfg.pooling, aux, T)
        if dH_seq is None:
            dH_seq = np.zeros((0, B, U), dtype=self.dtype)
        dW = np.empty_like(W)
        dR = np.empty_like(R)
        db2 = np.empty((2, 3 * U), dtype=self.dtype)
        dX = np.empty((T, B, F) if cfg.embedding else (0, B, F), dtype=self.dtype)
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
            dH_seq,
            np.ascontiguousarray(dh_last, dtype=self.dtype),
            dW,
            dR,
            db2,
            dX,
            h0,
            A,
            dM,
        )
        dbias = db2 if bias.ndim == 2 else db2[0].copy()
        grads = [dW, dR, dbias, dWd.astype(self.dtype), dbd.astype(self.dtype)]
        if cfg.alpha > 0:
            penalty = 0.0
            gru_params = self.params[1:] if cfg.embedding else self.params
            for i in L2_PENALISED:
                p = gru_params[i]
                penalty += float(np.dot(p.ravel(), p.ravel()))
                grads[i] += (cfg.alpha / w_sum) * p
            loss += 0.5 * cfg.alpha * penalty / w_sum
        if cfg.embedding:
            if input_mask is not None:
                dX *= input_mask[None]
            valid = mask.astype(bool)
            ids = Xv[valid]
            rows, inverse = np.unique(ids, return_inverse=True)
            grad_rows = np.zeros((len(rows), E.shape[1]), dtype=self.dtype)
            np.add.at(grad_rows, inverse.ravel(), dX[valid])
            grads.insert(0, (rows, grad_rows))
        return loss, grads, w_sum

    def step(self, idx, rng):
        """One optimizer step on batch ``idx``: gradients, clipping, update, constraints."""
        cfg = self.config
        loss, grads, w_sum = self.loss_and_grads(idx, rng)
        rows = None
        if cfg.embedding:
            rows, grad_rows = grads[0]
            grads[0] = grad_rows
        clip_gradients(
            grads,
            clipnorm=cfg.clipnorm,
            clipvalue=cfg.clipvalue,
            global_clipnorm=cfg.global_clipnorm,
        )
        if cfg.embedding:
            if self.sparse:
                grad_rows = grads[0]
                grads[0] = None
                self.optimizer.update_params(self.params, grads)
                self.optimizer.update_rows(0, rows, grad_rows)
            else:
                dense = np.zeros_like(self.params[0])
                dense[rows] = grads[0]
                grads[0] = dense
                self.optimizer.update_params(self.params, grads)
        else:
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


def _length_order(seqs):
    """Indices sorted by the span of valid steps, so batches waste little padding."""
    mask = seqs.mask.astype(bool)
    any_valid = mask.any(axis=1)
    T = mask.shape[1]
    first = np.where(any_valid, mask.argmax(axis=1), 0)
    last = np.where(any_valid, T - mask[:, ::-1].argmax(axis=1), 1)
    return np.lexsort((first, last - first))


class CPUBackend:
    """Runs everything on the host: NumPy for the head, ``@njit`` kernels for the GRU."""

    name = "cpu"

    def make_trainer(self, params, optimizer, config, seqs, Y, w):
        return CPUTrainer(params, optimizer, config, seqs, Y, w)

    def pooled_states(self, params, seqs, config, batch_size=256):
        """Pooled GRU states ``(N, U)``; each row independent of the batch it is in.

        Sequences are batched by length (bucketing), which saves padded work
        and, since inference products are row-wise, changes no result.
        """
        E, _, W, R, bias, Wd, bd = _gru_inputs(params, None, config.embedding)
        U = R.shape[0]
        dtype = W.dtype
        b2 = np.ascontiguousarray(fused_bias(bias))
        out = np.empty((seqs.n_samples, U), dtype=dtype)
        order = _length_order(seqs)
        for start in range(0, seqs.n_samples, batch_size):
            idx = order[start : start + batch_size]
            Xv, mask = time_major_batch(seqs, idx)
            X = E[Xv] if config.embedding else Xv
            X = np.ascontiguousarray(X, dtype=dtype)
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
                config.reset_after,
                H,
                np.zeros((0, B, 4 * U), dtype=dtype),
                A,
            )
            out[idx] = pool_states(H, mask, config.pooling)[0]
        return out

    def predict_logits(self, params, seqs, config, batch_size=256):
        Wd, bd = params[-2], params[-1]
        h = self.pooled_states(params, seqs, config, batch_size)
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
