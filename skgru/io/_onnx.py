"""ONNX export: the standard ``GRU`` operator (one per layer) plus pooling and the dense head.

ONNX's ``GRU`` (opset 7 and later) uses the Keras gate order ``z, r, h``, so the
weights need only a transpose: per direction ``W = kernel.T (3U, F)``, ``R =
recurrent_kernel.T (3U, U)`` and ``B = [input bias, recurrent bias] (6U,)``,
stacked over the directions (``direction="bidirectional"`` for a
bidirectional layer). ``linear_before_reset=1`` is Keras's
``reset_after=True`` (the reset gate multiplies ``h R_h + Rb_h``);
``linear_before_reset=0`` is ``reset_after=False`` (the reset gate multiplies
``h`` before the product, and the recurrent bias is zero because that variant
has none). A stacked layer reads the output sequence of the one below, the
two directions concatenated (forward first), as ours does.

Masking: ONNX's ``sequence_lens`` marks the first ``L_i`` steps of sequence
``i`` valid (the backward direction reads them reversed, as ours does) and
``Y_h`` is the state after step ``L_i``. Numeric input is padded at the end
(ragged lists are), which is exactly that. Token ids are masked wherever id 0
stands (``SequenceVectorizer`` pads at the front by default, and an id may be
0 inside a row): the graph moves each row's non-zero ids to the front, in
order (a scatter to their running count), and passes their number as
``sequence_lens``. Skipping a masked step and removing it give the same
states, so token models are exported exactly whatever their padding.
"""

import numpy as np

from ._interop import _layout

__all__ = ["to_onnx"]


def _import_onnx():
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise ImportError(
            "to_onnx needs the onnx package (pip install onnx); onnxruntime runs the model."
        ) from exc
    return onnx, TensorProto, helper, numpy_helper


def _reduce(op, data, out, opset, nodes, helper):
    # ReduceMax/ReduceMean take their axes as an input from opset 18, ReduceSum from 13.
    if op == "ReduceSum" or opset >= 18:
        nodes.append(helper.make_node(op, [data, "axis0"], [out], keepdims=0))
    else:
        nodes.append(helper.make_node(op, [data], [out], axes=[0], keepdims=0))


def _pool(pooling, lens, opset, elem, nodes, initializers, init, helper):
    """Nodes reducing the top layer to ``(batch, C)``; returns the output name.

    ``"last"`` is ``Y_h`` (the directions concatenated). ``"mean"`` and
    ``"max"`` run over ``Y_top (T, batch, C)`` restricted to the first
    ``lens`` steps by an explicit mask, so nothing depends on what the
    runtime writes past the end.
    """
    node = helper.make_node
    if pooling == "last":
        return "h_last"
    if lens is None:
        _reduce("ReduceMean" if pooling == "mean" else "ReduceMax", "Y_top", "pooled", opset,
                nodes, helper)  # fmt: skip
        return "pooled"
    initializers += [
        init("zero_i", 0, np.int64),
        init("one_i", 1, np.int64),
        init("fill", 0.0 if pooling == "mean" else -np.inf),
    ]
    nodes += [
        node("Shape", ["Y_top"], ["steps_shape"]),
        node("Gather", ["steps_shape", "zero_i"], ["n_steps"], axis=0),
        node("Range", ["zero_i", "n_steps", "one_i"], ["step_index"]),
        node("Unsqueeze", ["step_index", "axis1"], ["step_col"]),  # (T, 1)
        node("Cast", [lens], ["lens64"], to=7),  # INT64
        node("Unsqueeze", ["lens64", "axis0"], ["lens_row"]),  # (1, batch)
        node("Less", ["step_col", "lens_row"], ["valid"]),  # (T, batch)
        node("Unsqueeze", ["valid", "axis2"], ["valid3"]),  # (T, batch, 1)
        node("Where", ["valid3", "Y_top", "fill"], ["Y_valid"]),
    ]
    if pooling == "max":
        _reduce("ReduceMax", "Y_valid", "pooled", opset, nodes, helper)
        return "pooled"
    _reduce("ReduceSum", "Y_valid", "steps_sum", opset, nodes, helper)
    nodes += [
        node("Cast", ["lens64"], ["lens_f"], to=elem),
        node("Unsqueeze", ["lens_f", "axis1"], ["lens_col"]),  # (batch, 1)
        node("Div", ["steps_sum", "lens_col"], ["pooled"]),
    ]
    return "pooled"


def _compact_tokens(nodes, initializers, init, helper):
    """Nodes moving each row's non-zero ids to the front, in order: ``ids_packed``, ``token_lens``.

    Position of a non-zero id: the number of non-zero ids up to it, minus 1;
    of a zero: after all the row's non-zero ids, in order. That is a
    permutation of each row, so a scatter writes every position once.
    """
    node = helper.make_node
    initializers += [init("zero_id", 0, np.int64), init("one_id", 1, np.int64)]
    nodes += [
        node("Equal", ["X", "zero_id"], ["is_pad"]),
        node("Not", ["is_pad"], ["is_token"]),
        node("Cast", ["is_token"], ["token_i"], to=7),
        node("Cast", ["is_pad"], ["pad_i"], to=7),
        node("CumSum", ["token_i", "one_id"], ["token_rank"]),
        node("CumSum", ["pad_i", "one_id"], ["pad_rank"]),
        node("ReduceSum", ["token_i", "axis1"], ["n_tokens"], keepdims=1),  # (batch, 1)
        node("Sub", ["token_rank", "one_id"], ["token_pos"]),
        node("Add", ["pad_rank", "n_tokens"], ["pad_after"]),
        node("Sub", ["pad_after", "one_id"], ["pad_pos"]),
        node("Where", ["is_token", "token_pos", "pad_pos"], ["positions"]),
        node("Shape", ["X"], ["X_shape"]),
        node("ConstantOfShape", ["X_shape"], ["zeros_ids"], value=_int64_zero(helper)),
        node("ScatterElements", ["zeros_ids", "positions", "X"], ["ids_packed"], axis=1),
        node("Squeeze", ["n_tokens", "axis1"], ["n_tokens_1d"]),
        node("Max", ["n_tokens_1d", "one_id"], ["n_at_least_1"]),
        node("Cast", ["n_at_least_1"], ["token_lens"], to=6),  # INT32
        node("Greater", ["n_tokens_1d", "zero_id"], ["has_tokens"]),
        node("Unsqueeze", ["has_tokens", "axis1"], ["has_tokens_col"]),  # (batch, 1)
    ]


def _int64_zero(helper):
    from onnx import TensorProto

    return helper.make_tensor("zero", TensorProto.INT64, [1], [0])


def to_onnx(estimator, *, variable_length=True, dtype="float32", opset=17):
    """Export a fitted GRU estimator to an ONNX model.

    The graph reads batch-major sequences, transposes them to the ``(seq,
    batch, F)`` layout of the standard ONNX ``GRU`` operator (one per layer,
    ``direction="bidirectional"`` for a bidirectional one), pools, and applies
    the dense head and the output activation (softmax; a sigmoid giving ``[1
    - p, p]`` for two classes; one sigmoid per label for multilabel), so its
    output equals :meth:`predict_proba` (or ``predict``).

    Parameters
    ----------
    estimator : fitted ConstrainedGRUClassifier or ConstrainedGRURegressor
        Any ``num_layers``, ``bidirectional``, ``pooling`` and
        ``reset_after``.
    variable_length : bool, default=True
        Numeric input: add a second input ``"sequence_lens"`` (int32,
        ``(n_samples,)``), the number of valid steps of each sequence, padded
        at the end; with ``False`` every step of every sequence is used.
        Token input: the graph finds the padding itself (id 0, wherever it
        stands), so it has the one input ``"X"`` either way; with ``False``
        every id is read, as if none were padding (which the estimator never
        does: only for inputs without id 0).
    dtype : {"float32", "float64"}, default="float32"
        Floating type of the weights and the ``"X"`` input. onnxruntime's CPU
        ``GRU`` kernel implements float32 only.
    opset : int, default=17
        ONNX opset of the default domain (13 or later).

    Returns
    -------
    model : onnx.ModelProto
        Inputs ``"X"``: ``(n_samples, n_timesteps, n_features)`` floats, or
        ``(n_samples, n_timesteps)`` int64 token ids for a model with an
        embedding; and ``"sequence_lens"`` for numeric input when
        ``variable_length``. Output ``"probabilities"``: ``(n_samples,
        n_classes)`` for a classifier (``n_labels`` for multilabel), or
        ``"predictions"``: ``(n_samples, n_outputs)`` for a regressor.

    Raises
    ------
    ValueError
        For an output activation other than logistic, softmax or identity,
        ``data_format="channels_first"`` (the graph reads ``(n, T, F)``), or
        a bad ``dtype`` or ``opset``.

    Notes
    -----
    Numeric sequences must be padded at the end, with ``sequence_lens`` their
    lengths (at least 1): ragged lists are padded so. Token ids need no
    lengths: a row's padding (id 0) may stand anywhere, as
    ``SequenceVectorizer``'s front padding does, and a row of padding only
    gives the output layer's bias, as the estimator does. onnxruntime runs the
    float32 model; its ``GRU`` kernel has no float64 implementation.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from skgru import ConstrainedGRUClassifier, to_onnx
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 5, 2))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     clf = ConstrainedGRUClassifier(units=4, max_iter=2, random_state=0).fit(X, y)
    >>> model = to_onnx(clf)  # doctest: +SKIP
    >>> [i.name for i in model.graph.input]  # doctest: +SKIP
    ['X', 'sequence_lens']
    >>> import onnxruntime  # doctest: +SKIP
    >>> session = onnxruntime.InferenceSession(model.SerializeToString())  # doctest: +SKIP
    >>> lengths = np.full(len(X), 5, dtype=np.int32)
    >>> proba = session.run(None, {"X": X.astype(np.float32), "sequence_lens": lengths})[0]
    ... # doctest: +SKIP
    """
    E, blocks, Wd, bd = _layout(estimator)
    activation = getattr(estimator, "out_activation_", None)
    if activation not in ("logistic", "softmax", "identity"):
        raise ValueError(
            "to_onnx supports the logistic, softmax and identity heads, got "
            f"out_activation_={activation!r}."
        )
    if getattr(estimator, "data_format", "channels_last") != "channels_last":
        raise ValueError(
            "to_onnx exports a graph reading (n_samples, n_timesteps, n_features); this model "
            "has data_format='channels_first': set it to 'channels_last' (the weights do not "
            "depend on it) and transpose the inputs of the exported model."
        )
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}.")
    if opset < 13:
        raise ValueError(f"opset must be 13 or later (Squeeze's axes input), got {opset}.")
    onnx, TensorProto, helper, numpy_helper = _import_onnx()
    np_dtype = np.dtype(dtype)
    elem = TensorProto.FLOAT if dtype == "float32" else TensorProto.DOUBLE
    node = helper.make_node

    def init(name, value, dt=np_dtype):
        return numpy_helper.from_array(np.ascontiguousarray(value, dtype=dt), name=name)

    initializers = [
        init("dense_kernel", Wd),
        init("dense_bias", bd),
        init("axis0", [0], np.int64),
        init("axis1", [1], np.int64),
        init("axis2", [2], np.int64),
        init("steps_batch_flat", [0, 0, -1], np.int64),
        init("batch_flat", [0, -1], np.int64),
    ]
    nodes, inputs = [], []
    lens = None
    if E is not None:
        inputs.append(helper.make_tensor_value_info("X", TensorProto.INT64, ["batch", "time"]))
        initializers.append(init("embedding", E))
        ids = "X"
        if variable_length:
            _compact_tokens(nodes, initializers, init, helper)
            ids, lens = "ids_packed", "token_lens"
        nodes.append(node("Gather", ["embedding", ids], ["embedded"], axis=0))
        layer_in = "embedded"
    else:
        F = blocks[0][0][0].shape[0]
        inputs.append(helper.make_tensor_value_info("X", elem, ["batch", "time", F]))
        layer_in = "X"
        if variable_length:
            inputs.append(
                helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["batch"])
            )
            lens = "sequence_lens"
    nodes.append(node("Transpose", [layer_in], ["X_tm"], perm=[1, 0, 2]))
    layer_in = "X_tm"
    for l, layer in enumerate(blocks):
        U = layer[0][1].shape[0]
        initializers += [
            init(f"W{l}", np.stack([W.T for W, _, _ in layer])),
            init(f"R{l}", np.stack([R.T for _, R, _ in layer])),
            init(f"B{l}", np.stack([_fused(b).reshape(6 * U) for _, _, b in layer])),
        ]
        gru_inputs = [layer_in, f"W{l}", f"R{l}", f"B{l}"] + ([lens] if lens else [])
        nodes.append(
            node(
                "GRU",
                gru_inputs,
                [f"Y{l}", f"Y_h{l}"],
                hidden_size=U,
                linear_before_reset=int(bool(estimator.reset_after)),
                direction="bidirectional" if len(layer) == 2 else "forward",
            )
        )
        # Y (T, nd, batch, U) -> (T, batch, nd * U): directions concatenated, forward first.
        nodes += [
            node("Transpose", [f"Y{l}"], [f"Y{l}_t"], perm=[0, 2, 1, 3]),
            node("Reshape", [f"Y{l}_t", "steps_batch_flat"], [f"Y{l}_cat"]),
        ]
        layer_in = f"Y{l}_cat"
    top = len(blocks) - 1
    nodes += [
        node("Identity", [layer_in], ["Y_top"]),
        node("Transpose", [f"Y_h{top}"], ["Y_h_t"], perm=[1, 0, 2]),  # (batch, nd, U)
        node("Reshape", ["Y_h_t", "batch_flat"], ["h_last"]),
    ]
    pooled = _pool(estimator.pooling, lens, opset, elem, nodes, initializers, init, helper)
    if E is not None and variable_length:
        # A row of padding only: no step is read, the pooled state is zero.
        initializers.append(init("zero_state", 0.0))
        nodes.append(node("Where", ["has_tokens_col", pooled, "zero_state"], ["pooled_tokens"]))
        pooled = "pooled_tokens"
    nodes += [
        node("MatMul", [pooled, "dense_kernel"], ["dense_out"]),
        node("Add", ["dense_out", "dense_bias"], ["logits"]),
    ]
    width = Wd.shape[1]
    if activation == "identity":
        output = "predictions"
        nodes.append(node("Identity", ["logits"], [output]))
    elif activation == "softmax":
        output = "probabilities"
        nodes.append(node("Softmax", ["logits"], [output], axis=1))
    elif width > 1:  # multilabel: one logistic output per label
        output = "probabilities"
        nodes.append(node("Sigmoid", ["logits"], [output]))
    else:
        output, width = "probabilities", 2
        initializers.append(init("one", 1.0))
        nodes += [
            node("Sigmoid", ["logits"], ["p1"]),
            node("Sub", ["one", "p1"], ["p0"]),
            node("Concat", ["p0", "p1"], [output], axis=1),
        ]
    outputs = [helper.make_tensor_value_info(output, elem, ["batch", width])]
    used = {name for n in nodes for name in n.input}
    initializers = [t for t in initializers if t.name in used]
    graph = helper.make_graph(
        nodes, f"skgru_{type(estimator).__name__}", inputs, outputs, initializer=initializers
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="skgru",
    )
    # onnxruntime releases lag onnx's newest IR version; 8 is read by all of
    # them that know opset 17.
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    return model


def _fused(bias):
    return bias if bias.ndim == 2 else np.stack([bias, np.zeros_like(bias)])
