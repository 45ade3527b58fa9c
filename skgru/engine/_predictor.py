"""Prediction, written once against the kernel-set interface."""

import numpy as np

from ..model._network import split_params
from . import _stack

__all__ = ["predict_logits"]


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
    arrays = ks.group(params, copy=False).arrays
    E, blocks, Wd, bd = split_params(
        arrays, config.embedding, config.num_layers, config.bidirectional
    )
    out = np.empty((seqs.n_samples, params[-1].shape[0]), dtype=np.dtype(params[-1].dtype))
    order = _length_order(seqs)
    size = ks.inference_batch_size
    with ks.session():
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
            out[idx] = ks.to_host(ks.logits(pooled, Wd, bd))
    return out
