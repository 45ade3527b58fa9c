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

import functools
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from ._constraints import apply_constraint
from ._cpu_stack import (
    Workspace,
    embed,
    pooled_output,
    projected_embedding,
    split_params,
    stack_backward,
    stack_forward,
)
from ._kernels import _cpu
from ._kernels._config import blas_threads
from ._network import draw_regularisers, head_loss_grad
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
    num_layers: int = 1
    bidirectional: bool = False
    # CPU threads for the kernels (batch row ranges / step blocks); the CUDA
    # backend ignores it.
    n_threads: int = 1


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
        # Scratch arrays reused from batch to batch (see _cpu_stack.Workspace).
        self.workspace = Workspace()

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

        Returns ``(loss, grads, w_sum)``, gradients in the order of the
        parameters; with an embedding, ``grads[0]`` is ``(rows, grad_rows)``:
        the unique ids of the batch and their gradient rows (the rest of the
        embedding gradient is zero).
        """
        cfg = self.config
        Xv, mask = time_major_batch(self.seqs, idx)
        E, blocks, Wd, bd = split_params(
            self.params, cfg.embedding, cfg.num_layers, cfg.bidirectional
        )
        if cfg.embedding:
            X = embed(E, Xv, self.workspace, cfg.n_threads)
        else:
            X = Xv
        X = np.ascontiguousarray(X, dtype=self.dtype)
        T, B, F = X.shape
        U = blocks[0][0][1].shape[0]
        # The first block's draws come first, in the order every backend shares.
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
        out, finals, cache = stack_forward(
            X,
            mask,
            blocks,
            cfg,
            training=True,
            rng=rng,
            first_masks=(input_mask, rmask),
            workspace=self.workspace,
        )
        pooled, aux = pooled_output(out, finals, mask, cfg.pooling)
        logits = pooled @ Wd + bd
        loss, dlogits, w_sum = head_loss_grad(logits, self.Y[idx], self.w[idx], cfg.out_activation)
        dWd = (pooled.T @ dlogits).astype(self.dtype)
        dbd = dlogits.sum(axis=0).astype(self.dtype)
        block_grads, dX = stack_backward(
            cache,
            blocks,
            cfg,
            np.ascontiguousarray(dlogits @ Wd.T),
            aux,
            cfg.embedding,
            workspace=self.workspace,
        )
        grads = [g for layer in block_grads for block in layer for g in block] + [dWd, dbd]
        if cfg.alpha > 0:
            penalised = [
                (W, g[0]) for lb, lg in zip(blocks, block_grads) for (W, _, _), g in zip(lb, lg)
            ]
            penalised += [
                (R, g[1]) for lb, lg in zip(blocks, block_grads) for (_, R, _), g in zip(lb, lg)
            ]
            penalised.append((Wd, dWd))
            penalty = 0.0
            for p, g in penalised:
                penalty += float(np.dot(p.ravel(), p.ravel()))
                g += (cfg.alpha / w_sum) * p
            loss += 0.5 * cfg.alpha * penalty / w_sum
        if cfg.embedding:
            valid = mask.astype(bool)
            rows, inverse = np.unique(Xv[valid], return_inverse=True)
            grad_rows = np.zeros((len(rows), E.shape[1]), dtype=self.dtype)
            # All steps valid (no padding): the rows in the same order without a copy.
            dX_valid = dX.reshape(-1, dX.shape[2]) if valid.all() else dX[valid]
            _cpu.add_rows(grad_rows, inverse.ravel(), dX_valid)
            grads.insert(0, (rows, grad_rows))
        return loss, grads, w_sum

    def step(self, idx, rng):
        """One optimizer step on batch ``idx``: gradients, clipping, update, constraints."""
        with blas_threads():
            return self._step(idx, rng)

    def _step(self, idx, rng):
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
        try:
            with blas_threads():
                for idx in batches:
                    loss, w_sum = self._step(idx, rng)
                    total += loss * w_sum
                    weight += w_sum
        finally:
            # Between epochs the fit copies the weights and may predict on
            # validation data; the scratch arrays must not add to that peak.
            self.workspace.release()
        return total / weight


def _length_order(seqs):
    """Indices sorted by the span of valid steps, so batches waste little padding.

    None when every step of every sequence is valid: the sort would keep
    the order (it is stable), and batches can then be slices (no gathers).
    """
    if seqs.mask.all():
        return None
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

    def pooled_states(self, params, seqs, config, batch_size=256, fitted=False):
        """The head's input ``(N, nd * U)``; each row independent of the batch it is in.

        Sequences are batched by length (bucketing), which saves padded work
        and, since inference products are row-wise, changes no result.
        ``fitted=True`` says ``params`` are a fitted model's arrays, which are
        replaced but never written in place: with token input the first
        layer may then use (and keep) projected-embedding tables
        (:func:`~skgru._cpu_stack.projected_embedding`), bitwise the same
        result.
        """
        E, blocks, Wd, _ = split_params(
            params, config.embedding, config.num_layers, config.bidirectional
        )
        dtype = Wd.dtype
        out = np.empty((seqs.n_samples, Wd.shape[0]), dtype=dtype)
        order = _length_order(seqs)
        workspace = Workspace()
        with blas_threads():
            for start in range(0, seqs.n_samples, batch_size):
                if order is None:
                    idx = slice(start, min(start + batch_size, seqs.n_samples))
                else:
                    idx = order[start : start + batch_size]
                Xv, mask = time_major_batch(seqs, idx, dense=order is None)
                tables = None
                if config.embedding and fitted and E.dtype == dtype:
                    tables = [
                        projected_embedding(E, W, Xv.size, config.n_threads)
                        for W, _, _ in blocks[0]
                    ]
                    if any(t is None for t in tables):
                        tables = None
                if tables is not None:
                    X = np.empty(Xv.shape + (0,), dtype=dtype)
                elif config.embedding:
                    X = embed(E, Xv, workspace, config.n_threads)
                else:
                    X = Xv
                X = np.ascontiguousarray(X, dtype=dtype)
                seq_out, finals, _ = stack_forward(
                    X,
                    mask,
                    blocks,
                    config,
                    training=False,
                    workspace=workspace,
                    tables=tables,
                    ids=Xv if tables is not None else None,
                )
                out[idx] = pooled_output(seq_out, finals, mask, config.pooling)[0]
        return out

    def predict_logits(self, params, seqs, config, batch_size=256, fitted=False):
        Wd, bd = params[-2], params[-1]
        h = self.pooled_states(params, seqs, config, batch_size, fitted=fitted)
        logits = np.empty((h.shape[0], Wd.shape[1]), dtype=h.dtype)
        _cpu.matmul_rowwise(h, np.ascontiguousarray(Wd), logits)
        logits += bd
        return logits


_CPU = CPUBackend()


@functools.lru_cache(maxsize=1)
def _cuda_problem():
    """None when a GPU can be used, else why not (a short sentence).

    Importing the CUDA backend is part of the check: a numba-cuda that sees a
    GPU but fails to import (a version clash with NumPy, say) must send
    ``device="auto"`` to the CPU instead of failing inside ``fit``. On Linux
    without the NVIDIA driver (no ``/proc/driver/nvidia``) and outside the
    simulator, numba's CUDA target is not imported at all: that import costs
    about 0.3 s, a large part of a small first fit. The answer is cached for
    the process.
    """
    simulator = os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0")
    if sys.platform.startswith("linux") and not simulator:
        if not os.path.exists("/proc/driver/nvidia"):
            return "no NVIDIA driver is loaded"
    try:
        from numba import cuda

        if not cuda.is_available():
            return "no CUDA GPU is available to numba"
        from . import _cuda_backend  # noqa: F401
    except Exception as exc:  # driver or import errors mean "no usable GPU"
        return f"numba's CUDA target could not be used ({type(exc).__name__}: {exc})"
    return None


def cuda_available():
    """True when numba's CUDA target imports, sees a GPU, and skgru's CUDA backend loads."""
    return _cuda_problem() is None


def get_backend(device="cpu"):
    """The backend for ``device`` in ``{"auto", "cpu", "cuda"}``."""
    if device == "cpu":
        return _CPU
    if device in ("auto", "cuda"):
        problem = _cuda_problem()
        if problem is None:
            from ._cuda_backend import CUDABackend

            # "auto" falls back to the CPU for options the device path lacks.
            return CUDABackend(cpu_fallback=device == "auto")
        if device == "cuda":
            raise ValueError(
                f"device='cuda' was requested but {problem} (install the extra with "
                "`pip install skgru[cuda]` and check the driver)."
            )
        return _CPU
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}.")
