"""Prediction, written once against the kernel-set interface."""

import numpy as np

from ..model._network import split_params
from . import _stack

__all__ = ["predict_logits", "predict_pooled", "predict_sequences", "predict_states"]


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


def _forward_batches(ks, params, seqs, config, fitted):
    """Yield ``(idx, batch, out, pooled)`` per inference batch.

    ``out (Tb, B, C)`` is the top layer's output sequence over the batch's
    steps and ``pooled (B, C)`` what the output layer reads. The one forward
    pass of prediction: :func:`predict_logits` puts the output layer on it,
    :func:`predict_pooled` and :func:`predict_sequences` return its states,
    so the states a transformer gives are the ones the head reads, bitwise.
    """
    arrays = ks.group(params, copy=False).arrays
    E, blocks, _, _ = split_params(
        arrays, config.embedding, config.num_layers, config.bidirectional
    )
    order = _length_order(seqs)
    size = ks.inference_batch_size
    for start in range(0, seqs.n_samples, size):
        if order is None:
            idx = slice(start, min(start + size, seqs.n_samples))
        else:
            idx = order[start : start + size]
        batch = ks.inference_batch(seqs, idx, dense=order is None)
        X, tables = batch.X, None
        if E is not None:
            first_kernels = [W for W, _, _ in blocks[0]]
            tables = ks.input_projection_tables(E, first_kernels, batch.T * batch.B, fitted)
            X = ks.embed(E, batch) if tables is None else None
        seq_out, final, _ = _stack.forward(
            ks, X, batch.mask, blocks, config, training=False, tables=tables, ids=batch.ids
        )
        pooled, _ = ks.pool(seq_out, final, batch.mask, config.pooling)
        yield idx, batch, seq_out, pooled


def predict_logits(kernels, params, seqs, config, fitted=False):
    """The output layer's values ``(n_samples, n_outputs)`` for ``seqs``.

    Sequences are batched by length (bucketing), which saves padded work and
    changes no result: every kernel set computes each sequence's row
    independently of the others in its batch. ``fitted=True`` says
    ``params`` are a fitted model's arrays, which are replaced but never
    written in place: with token input the first layer may then read its
    input projections from projected-embedding tables kept for those arrays
    (:meth:`~skgru.kernels._interface.KernelSet.input_projection_tables`),
    bitwise the same result.
    """
    ks = kernels
    Wd, bd = ks.group(params[-2:], copy=False).arrays
    out = np.empty((seqs.n_samples, params[-1].shape[0]), dtype=np.dtype(params[-1].dtype))
    with ks.session():
        for idx, _, _, pooled in _forward_batches(ks, params, seqs, config, fitted):
            out[idx] = ks.to_host(ks.logits(pooled, Wd, bd))
    return out


def predict_pooled(kernels, params, seqs, config, fitted=False):
    """The pooled top-layer states ``(n_samples, nd * U)`` the output layer reads.

    The same batches and forward pass as :func:`predict_logits`, so each row
    is bitwise the input of the head there.
    """
    ks = kernels
    out = np.empty((seqs.n_samples, params[-2].shape[0]), dtype=np.dtype(params[-1].dtype))
    with ks.session():
        for idx, _, _, pooled in _forward_batches(ks, params, seqs, config, fitted):
            out[idx] = ks.to_host(pooled)
    return out


def predict_sequences(kernels, params, seqs, config, fitted=False):
    """The top layer's state after every step, ``(n_samples, T, nd * U)``.

    Zero on masked steps (padding); on a valid step the output the next
    layer, or mean / max pooling, reads (the two directions concatenated
    when ``bidirectional``). The same forward pass as :func:`predict_logits`.
    """
    ks = kernels
    n, T = seqs.mask.shape
    out = np.zeros((n, T, params[-2].shape[0]), dtype=np.dtype(params[-1].dtype))
    with ks.session():
        for idx, batch, seq_out, _ in _forward_batches(ks, params, seqs, config, fitted):
            rows = np.arange(n)[idx]
            # The batch starts at its first step that some row uses (time_major_batch).
            used = np.flatnonzero(seqs.mask[rows].any(axis=0))
            start = int(used[0]) if len(used) else 0
            states = np.swapaxes(ks.to_host(seq_out), 0, 1)  # (B, Tb, C)
            valid = np.swapaxes(ks.to_host(batch.mask), 0, 1).astype(bool)
            block = out[rows, start : start + states.shape[1]]
            block[valid] = states[valid]
            out[rows, start : start + states.shape[1]] = block
    return out


def predict_states(device, params, seqs, config, what, fitted=True):
    """The states prediction computes, on the CPU kernel set: ``what`` is ``"pooled"``
    (:func:`predict_pooled`) or ``"sequences"`` (:func:`predict_sequences`).

    CPU only: ``device="cuda"`` raises rather than compute elsewhere than
    ``predict`` would.
    """
    if device == "cuda":
        raise ValueError(
            "transform runs on the CPU only; set device='cpu' (the fitted weights are NumPy "
            "arrays, so a model fitted on a GPU can do that)."
        )
    from ..kernels.cpu._kernel_set import CPUKernelSet

    ks = CPUKernelSet(params[-1].dtype, config.n_threads)
    if what == "pooled":
        return predict_pooled(ks, params, seqs, config, fitted=fitted)
    return predict_sequences(ks, params, seqs, config, fitted=fitted)
