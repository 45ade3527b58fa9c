"""The trainer, written once against the kernel-set interface.

A trainer owns the parameters and the optimizer state for the length of one
``fit``, where its kernel set keeps them (host arrays on the CPU, device
arrays on a GPU). One step on a batch is, in this order: the dropout masks and
noise drawn on the host (:func:`skgru.engine._stack.draw_masks`), the forward
pass through the stack, pooling, the output layer and its loss, the backward
pass, the L2 term's gradient, the embedding's gradient rows, clipping
(Keras's semantics), one optimizer step (lazy rows for the embedding with
Adam), and the weight constraints. The same ``random_state`` therefore draws
the same masks on every kernel set, and a fit differs between targets only
by the rounding of their sums. Per epoch one loss value comes back to the
host.
"""

import numpy as np

from ..model._network import split_params
from ..training._clipping import check_clipping, clip
from ..training._constraints import plan
from ..training._optimizers import AdamOptimizer
from . import _stack

__all__ = ["Trainer"]


class Trainer:
    """Training on one kernel set.

    Parameters
    ----------
    kernels : KernelSet
        Where the arithmetic runs.
    params : list of ndarray
        Initial weights, Keras order.
    copy : bool, default=True
        Train copies of ``params``. False lets a kernel set that keeps host
        arrays (the CPU) train ``params`` themselves, in place: one copy of
        every weight less for the length of the fit (an embedding table is
        most of a text model's weights). The caller must own them.
    optimizer : BaseOptimizer or None
        Its hyper-parameters, step count and state; None for a trainer that
        only computes losses and gradients (:meth:`loss_and_grads`).
    config : TrainConfig
    seqs : Sequences
        The training data.
    Y : ndarray of shape (n_samples, n_outputs)
        Encoded targets.
    w : ndarray of shape (n_samples,)
        Sample weights.
    """

    def __init__(self, kernels, params, optimizer, config, seqs, Y, w, copy=True):
        ks = self.kernels = kernels
        self.optimizer = optimizer
        self.config = config
        self.embedding = bool(config.embedding)
        first = 1 if self.embedding else 0
        self._first = first
        # A frozen embedding: no gradient, update, constraint or optimizer slots.
        self.train_embedding = self.embedding and config.embedding_trainable
        self.params = ks.group(params[first:], copy=copy)
        self.grads = ks.zeros_like(self.params)
        self.E = ks.group(params[:first], copy=copy)
        self.sparse = (
            self.train_embedding
            and config.sparse_embeddings
            and isinstance(optimizer, AdamOptimizer)
        )
        self._dense_E_grad = (
            ks.zeros_like(self.E) if self.train_embedding and not self.sparse else None
        )
        self._adopt_optimizer_state()

        def layout(group):
            arrays = [None] * first + list(group.arrays)
            return split_params(arrays, self.embedding, config.num_layers, config.bidirectional)

        _, self.blocks, self.Wd, self.bd = layout(self.params)
        _, self.grad_blocks, self.gWd, self.gbd = layout(self.grads)
        # The L2 term (MLPClassifier's: kernels, not biases; not the embedding).
        blocks = [b for layer in self.blocks for b in layer]
        grads = [g for layer in self.grad_blocks for g in layer]
        self._penalised = [b[0] for b in blocks] + [b[1] for b in blocks] + [self.Wd]
        self._penalised_grads = [g[0] for g in grads] + [g[1] for g in grads] + [self.gWd]
        self._l2 = ks.norms(len(self._penalised))
        constraints = list(config.constraints) + [None] * len(params)
        if self.embedding and not self.train_embedding:
            constraints[0] = None
        self._plans = [plan(c, np.ndim(p)) for c, p in zip(constraints, params)]
        self._clip = check_clipping(config.clipnorm, config.clipvalue, config.global_clipnorm)
        self._clip_norms = ks.norms(len(params))
        self.data = ks.dataset(seqs, Y, w)
        self._w = np.asarray(w, dtype=np.float64)
        self._n_inputs = params[0].shape[1] if self.embedding else params[0].shape[0]
        self._units = self.blocks[0][0][1].shape[0]
        self.dtype = np.dtype(params[-1].dtype)

    # -- parameters and optimizer state ---------------------------------------------

    @property
    def _slot_first(self):
        """Optimizer slots of the embedding: 1 when it trains, 0 (none) when frozen."""
        return 1 if self.train_embedding else 0

    def _adopt_optimizer_state(self):
        ks, opt, first = self.kernels, self.optimizer, self._slot_first
        names = opt.slots if opt is not None else ()
        self.slots = {n: ks.group(getattr(opt, n)[first:], copy=False) for n in names}
        self.E_slots = {n: ks.group(getattr(opt, n)[:first], copy=False) for n in names}

    @property
    def param_arrays(self):
        """The kernel set's arrays of the weights, Keras order (live, not copies)."""
        return self.E.arrays + self.params.arrays

    def get_params(self):
        """Host copies of the weights, Keras order."""
        return self.kernels.read(self.E) + self.kernels.read(self.params)

    def take_params(self):
        """The weights as host arrays, Keras order: the trainer's own on the CPU (no copy).

        For the end of a fit: the trainer must not step again while they are in use.
        """
        return [self.kernels.to_host(a) for a in self.param_arrays]

    def weights_finite(self):
        """Whether every weight is finite, read where the weights live (no copy on the CPU)."""
        ks = self.kernels
        return all(np.isfinite(ks.to_host(a)).all() for a in self.param_arrays)

    def set_params(self, params):
        self.kernels.write(self.E, params[: self._first])
        self.kernels.write(self.params, params[self._first :])

    def get_optimizer_state(self, copy=True):
        """The optimizer's state (:meth:`BaseOptimizer.get_state`), read back from the kernel set.

        ``copy=False`` hands over the optimizer's slot arrays, for the end of a fit.
        """
        ks, opt, first = self.kernels, self.optimizer, self._slot_first
        for name in self.slots:
            arrays = getattr(opt, name)
            ks.read(self.E_slots[name], into=arrays[:first])
            ks.read(self.slots[name], into=arrays[first:])
        return opt.get_state(copy=copy)

    def set_optimizer_state(self, state):
        self.optimizer.set_state(state)
        self._adopt_optimizer_state()

    # -- training --------------------------------------------------------------------

    def run_epoch(self, batches, rng):
        """One pass over the index batches; returns the weighted mean training loss.

        The loss includes the L2 term; it is the only value read back per epoch.
        Scratch arrays stay allocated for the next epoch (on the CPU, fresh
        ones cost page faults worth about a tenth of a W2 epoch of four
        batches); call :meth:`release` before other work needs the memory.
        """
        ks = self.kernels
        handles = ks.epoch(batches)
        acc = ks.accumulator()
        weight = 0.0
        with ks.session():
            for idx, handle in zip(batches, handles):
                weight += self._step(idx, rng, handle, acc)
        total = float(ks.to_host(acc)[0])
        return total / weight

    def release(self):
        """Drop the kernel set's scratch arrays (they are made again when needed)."""
        self.kernels.release()

    def step(self, idx, rng):
        """One optimizer step on the batch ``idx``; returns its loss."""
        acc = self.kernels.accumulator()
        with self.kernels.session():
            w_sum = self._step(idx, rng, None, acc)
        return float(self.kernels.to_host(acc)[0]) / w_sum

    def _step(self, idx, rng, handle, acc):
        """Gradients, clipping, the optimizer step and the constraints; returns the batch weight."""
        w_sum, rows, grad_rows = self._forward_backward(idx, rng, handle, acc)
        ks = self.kernels
        extra = [ks.group([grad_rows], copy=False)] if self.train_embedding else []
        clip(ks, extra + [self.grads], self._clip, self._clip_norms)
        self._update(rows, grad_rows)
        self._constrain()
        return w_sum

    def loss_and_grads(self, idx, rng):
        """Forward and backward for the batch ``idx``, parameters unchanged.

        Returns ``(loss, grads, w_sum)`` with host gradients in the order of
        the parameters; with an embedding, ``grads[0]`` is ``(rows,
        grad_rows)``: the distinct ids of the batch and their gradient rows
        (the rest of the embedding's gradient is zero).
        """
        ks = self.kernels
        acc = ks.accumulator()
        with ks.session():
            w_sum, rows, grad_rows = self._forward_backward(idx, rng, None, acc)
        loss = float(ks.to_host(acc)[0]) / w_sum
        grads = ks.read(self.grads)
        if self.train_embedding:
            grads.insert(0, (np.asarray(rows), ks.to_host(grad_rows)))
        elif self.embedding:
            grads.insert(0, None)  # frozen: no gradient is formed
        return loss, grads, w_sum

    def _forward_backward(self, idx, rng, handle, acc):
        cfg = self.config
        ks = self.kernels
        E = self.E.arrays[0] if self.embedding else None
        batch = ks.gather(self.data, idx, handle, E)
        noise, masks = _stack.draw_masks(
            rng, cfg, batch.B, batch.T, self._n_inputs, self._units, self.dtype
        )
        if noise is not None:
            ks.add_noise(batch.X, noise)
        out, final, runs = _stack.forward(
            ks, batch.X, batch.mask, self.blocks, cfg, training=True, masks=masks
        )
        pooled, aux = ks.pool(out, final, batch.mask, cfg.pooling)
        w_sum = float(self._w[idx].sum())
        if cfg.alpha > 0:
            ks.l2_terms(self._penalised, self._l2)
        d_pooled = ks.head_step(
            pooled, self.Wd, self.bd, self.data, batch, w_sum, cfg.out_activation,
            cfg.alpha, self._l2, self.gWd, self.gbd, acc,
        )  # fmt: skip
        dOut, d_final = ks.pool_backward(d_pooled, batch.mask, cfg.pooling, aux, batch.T)
        dX = _stack.backward(
            ks, runs, self.blocks, self.grad_blocks, cfg, dOut, d_final, self.train_embedding
        )
        if cfg.alpha > 0:
            for p, g in zip(self._penalised, self._penalised_grads):
                ks.axpy(g, p, cfg.alpha / w_sum)
        rows = grad_rows = None
        if self.train_embedding:
            rows, grad_rows = ks.embedding_rows(dX, batch)
        return w_sum, rows, grad_rows

    def _update(self, rows, grad_rows):
        ks, opt = self.kernels, self.optimizer
        opt.begin_step()
        opt.apply(ks, self.params, self.grads, self.slots)
        if not self.train_embedding:
            return
        if self.sparse:
            m, v = self.E_slots["ms"].arrays[0], self.E_slots["vs"].arrays[0]
            opt.apply_rows(ks, self.E.arrays[0], rows, grad_rows, m, v)
        else:
            ks.scatter_rows(grad_rows, rows, self._dense_E_grad.arrays[0])
            opt.apply(ks, self.E, self._dense_E_grad, self.E_slots)

    def _constrain(self):
        ks = self.kernels
        for p, w in zip(self._plans, self.param_arrays):
            if p is not None:
                ks.constrain(p, w)
