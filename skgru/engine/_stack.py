"""The GRU stack, once for every kernel set: layers, directions, dropout masks.

Layer ``l`` reads the full output sequence of layer ``l - 1`` (the states
after every step; the two directions concatenated when ``bidirectional``).
The backward direction runs over the time-reversed batch with the
time-reversed mask: since the state is frozen on masked steps, that is the
sequence reversed within its valid steps, whatever the padding, and its
outputs are reversed back to line up with the forward direction (Keras's
``Bidirectional(merge_mode="concat")``). Dropout multiplies a layer's input
by a per-sequence mask before the layer reads it (and the gradient on that
input by the same mask).
"""

from ..model._network import draw_regularisers

__all__ = ["draw_masks", "forward", "backward"]


def draw_masks(rng, config, B, T, n_inputs, units, dtype):
    """Host draws for one training batch: ``(noise, masks)``.

    ``noise (T, B, F)`` (or None) is added to the first layer's input;
    ``masks[l][d] = (input_mask (B, F_l) or None, rmask (B, U) or None)``. The
    draws come in this order: the first block's noise and masks, then each
    further block's masks, layer by layer, forward direction first.
    """
    nd = 2 if config.bidirectional else 1
    noise, masks = None, []
    for l in range(config.num_layers):
        layer = []
        for d in range(nd):
            first = l == 0 and d == 0
            n, input_mask, rmask = draw_regularisers(
                rng,
                B,
                T,
                n_inputs if l == 0 else nd * units,
                units,
                dropout=config.dropout,
                recurrent_dropout=config.recurrent_dropout,
                input_noise=config.input_noise if first else 0.0,
                dtype=dtype,
            )
            if first:
                noise = n
            layer.append((input_mask, rmask))
        masks.append(layer)
    return noise, masks


def forward(kernels, X, mask, blocks, config, *, training, masks=None, tables=None, ids=None):
    """Forward through all layers; returns ``(out, final, runs)``.

    ``out (T, B, nd * U)`` is the top layer's output sequence, ``final (B,
    nd * U)`` its directions' final states and ``runs[l][d]`` what
    :func:`backward` needs. ``masks`` (training only) come from
    :func:`draw_masks`. At inference with token input, ``tables`` (one
    projected-embedding table per direction of the first layer) and the
    batch's ids stand in for ``X`` (None).
    """
    ks = kernels
    layer_in = X
    runs = []
    for l, layer in enumerate(blocks):
        layer_runs = []
        for d, (W, R, bias) in enumerate(layer):
            input_mask, rmask = masks[l][d] if masks is not None else (None, None)
            Xin = layer_in
            if input_mask is not None:
                Xin = ks.scale_rows(layer_in, input_mask, key=("in", l, d))
            m = mask
            if d == 1:
                Xin = ks.time_reversed(Xin, ("in_rev", l)) if Xin is not None else None
                m = ks.time_reversed(mask, ("mask_rev",))
            table = None
            if l == 0 and tables is not None:
                table = (tables[d], ids if d == 0 else ks.time_reversed(ids, ("ids_rev",)))
            run = ks.layer_forward(
                Xin, m, W, R, bias, rmask, config.reset_after, training, (l, d), table
            )
            run.input_mask = input_mask
            layer_runs.append(run)
        runs.append(layer_runs)
        reverse = [d == 1 for d in range(len(layer))]
        layer_in = ks.concat_features([run.H[1:] for run in layer_runs], reverse, ("out", l))
    T = mask.shape[0]
    final = ks.concat_features([run.H[T] for run in runs[-1]], [False] * len(runs[-1]), ("final",))
    return layer_in, final, runs


def backward(kernels, runs, blocks, grads, config, dOut, d_final, need_dx):
    """Back-propagation through every layer and direction.

    ``dOut (T, B, nd * U)`` (or None) is the gradient on the top layer's
    outputs, ``d_final (B, nd * U)`` (or None) on its final states. Writes
    ``(dW, dR, dbias)`` of block ``[l][d]`` into the arrays ``grads[l][d]``;
    returns the gradient on the first layer's input when ``need_dx`` (else
    None).
    """
    ks = kernels
    dX_below = None
    for l in range(len(blocks) - 1, -1, -1):
        want_dx = l > 0 or need_dx
        dX_below = None
        for d, (W, R, bias) in enumerate(blocks[l]):
            run = runs[l][d]
            U = R.shape[0]
            dH_seq = None
            if dOut is not None:
                dH_seq = ks.feature_slice(dOut, d * U, (d + 1) * U, d == 1, ("dH", l, d))
            dh_last = None
            if d_final is not None:
                dh_last = ks.feature_slice(d_final, d * U, (d + 1) * U, False, ("dh", l, d))
            dX = ks.layer_backward(
                run, W, R, bias, config.reset_after, dH_seq, dh_last, want_dx, (l, d), grads[l][d]
            )
            if want_dx:
                if run.input_mask is not None:
                    ks.scale_rows(dX, run.input_mask)
                dX_below = dX if d == 0 else ks.add_reversed(dX_below, dX)
        dOut, d_final = dX_below, None
    return dX_below if need_dx else None
