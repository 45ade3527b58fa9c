"""ONNX export: the standard ``GRU`` operator plus the dense head.

ONNX's ``GRU`` (opset 7 and later) uses the Keras gate order ``z, r, h``, so the
weights need only a transpose: ``W = kernel.T (1, 3U, F)``, ``R =
recurrent_kernel.T (1, 3U, U)`` and ``B = [input bias, recurrent bias] (1,
6U)``. ``linear_before_reset=1`` is Keras's ``reset_after=True`` (the reset gate
multiplies ``h R_h + Rb_h``); ``linear_before_reset=0`` is ``reset_after=False``
(the reset gate multiplies ``h`` before the product, and the recurrent bias is
zero because that variant has none).

Masking: ONNX's ``sequence_lens`` marks the first ``L_i`` steps of sequence
``i`` valid and ``Y_h`` is the state after step ``L_i``. That is our model's
result whenever the padding is at the end, which is how ragged lists are
padded; padding elsewhere (left padding, or token id 0 inside a sequence),
which our model skips wherever it stands, has no ONNX equivalent here.
"""

import numpy as np

from ._interop import _check_mappable

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


def _pool(pooling, variable_length, opset, elem, nodes, initializers, init, helper):
    """Nodes reducing the GRU's states to ``(batch, U)``; returns the output name.

    ``"last"`` is ``Y_h``. ``"mean"`` and ``"max"`` run over ``Y (T, 1, batch,
    U)`` restricted to the first ``sequence_lens`` steps by an explicit mask,
    so nothing depends on what the runtime writes into ``Y`` past the end.
    """
    node = helper.make_node
    if pooling == "last":
        nodes.append(node("Squeeze", ["Y_h", "squeeze_axes"], ["h_last"]))
        return "h_last"
    initializers.append(init("one_axis", [1], np.int64))
    nodes.append(node("Squeeze", ["Y", "one_axis"], ["Y_steps"]))  # (T, batch, U)

    def reduce(op, data, out):
        # ReduceMax/ReduceMean take their axes as an input from opset 18, ReduceSum from 13.
        if op == "ReduceSum" or opset >= 18:
            nodes.append(node(op, [data, "squeeze_axes"], [out], keepdims=0))
        else:
            nodes.append(node(op, [data], [out], axes=[0], keepdims=0))

    if not variable_length:
        reduce("ReduceMean" if pooling == "mean" else "ReduceMax", "Y_steps", "pooled")
        return "pooled"
    initializers += [
        init("zero_i", 0, np.int64),
        init("one_i", 1, np.int64),
        init("two_axis", [2], np.int64),
        init("fill", 0.0 if pooling == "mean" else -np.inf),
    ]
    nodes += [
        node("Shape", ["Y_steps"], ["steps_shape"]),
        node("Gather", ["steps_shape", "zero_i"], ["n_steps"], axis=0),
        node("Range", ["zero_i", "n_steps", "one_i"], ["step_index"]),
        node("Unsqueeze", ["step_index", "one_axis"], ["step_col"]),  # (T, 1)
        node("Cast", ["sequence_lens"], ["lens64"], to=7),  # INT64
        node("Unsqueeze", ["lens64", "squeeze_axes"], ["lens_row"]),  # (1, batch)
        node("Less", ["step_col", "lens_row"], ["valid"]),  # (T, batch)
        node("Unsqueeze", ["valid", "two_axis"], ["valid3"]),  # (T, batch, 1)
        node("Where", ["valid3", "Y_steps", "fill"], ["Y_valid"]),
    ]
    if pooling == "max":
        reduce("ReduceMax", "Y_valid", "pooled")
        return "pooled"
    reduce("ReduceSum", "Y_valid", "steps_sum")
    nodes += [
        node("Cast", ["lens64"], ["lens_f"], to=elem),
        node("Unsqueeze", ["lens_f", "one_axis"], ["lens_col"]),  # (batch, 1)
        node("Div", ["steps_sum", "lens_col"], ["pooled"]),
    ]
    return "pooled"


def to_onnx(estimator, *, variable_length=True, dtype="float32", opset=17):
    """Export a fitted GRU estimator to an ONNX model.

    The graph reads batch-major sequences, transposes them to the ``(seq,
    batch, F)`` layout of the standard ONNX ``GRU`` operator, and applies the
    dense head and the output activation (softmax, or a sigmoid giving ``[1 -
    p, p]`` for two classes), so its output equals :meth:`predict_proba`.

    Parameters
    ----------
    estimator : fitted ConstrainedGRUClassifier or ConstrainedGRURegressor
        One unidirectional GRU layer; any ``pooling`` and either value of
        ``reset_after``.
    variable_length : bool, default=True
        Add a second input ``"sequence_lens"`` (int32, ``(n_samples,)``): the
        number of valid steps of each sequence, padded at the end. With
        ``False`` every step of every sequence is used.
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
        embedding; and ``"sequence_lens"`` when ``variable_length``. Output
        ``"probabilities"``: ``(n_samples, n_classes)`` for a classifier, or
        ``"predictions"``: ``(n_samples, n_outputs)`` for a regressor.

    Raises
    ------
    ValueError
        For an output activation other than logistic, softmax or identity, or
        an architecture other than one unidirectional layer.

    Notes
    -----
    ``sequence_lens`` counts the valid steps from the start of each sequence:
    it reproduces our masking when the padding is at the end (ragged lists
    are padded so). Padding elsewhere, which our model skips wherever it
    stands (left padding, token id 0 inside a sequence), has no ONNX ``GRU``
    equivalent, and such inputs give other results. Lengths must be at least
    1. onnxruntime runs the float32 model; its ``GRU`` kernel has no float64
    implementation.

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
    weights = _check_mappable(estimator, target="ONNX")
    activation = getattr(estimator, "out_activation_", None)
    if activation not in ("logistic", "softmax", "identity"):
        raise ValueError(
            "to_onnx supports the logistic, softmax and identity heads, got "
            f"out_activation_={activation!r}."
        )
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}.")
    if opset < 13:
        raise ValueError(f"opset must be 13 or later (Squeeze's axes input), got {opset}.")
    onnx, TensorProto, helper, numpy_helper = _import_onnx()
    np_dtype = np.dtype(dtype)
    elem = TensorProto.FLOAT if dtype == "float32" else TensorProto.DOUBLE

    E = weights.pop(0) if len(weights) == 6 else None
    W, R, bias, Wd, bd = weights
    U = R.shape[0]
    b2 = bias if bias.ndim == 2 else np.stack([bias, np.zeros_like(bias)])

    def init(name, value, dt=np_dtype):
        return numpy_helper.from_array(np.ascontiguousarray(value, dtype=dt), name=name)

    initializers = [
        init("W", W.T[None]),
        init("R", R.T[None]),
        init("B", b2.reshape(1, 6 * U)),
        init("dense_kernel", Wd),
        init("dense_bias", bd),
        init("squeeze_axes", [0], np.int64),
    ]
    nodes = []
    inputs = []
    if E is not None:
        inputs.append(helper.make_tensor_value_info("X", TensorProto.INT64, ["batch", "time"]))
        initializers.append(init("embedding", E))
        nodes.append(helper.make_node("Gather", ["embedding", "X"], ["embedded"], axis=0))
        gru_x = "embedded"
    else:
        F = W.shape[0]
        inputs.append(helper.make_tensor_value_info("X", elem, ["batch", "time", F]))
        gru_x = "X"
    nodes.append(helper.make_node("Transpose", [gru_x], ["X_tm"], perm=[1, 0, 2]))
    gru_inputs = ["X_tm", "W", "R", "B"]
    if variable_length:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["batch"]))
        gru_inputs.append("sequence_lens")
    nodes.append(
        helper.make_node(
            "GRU",
            gru_inputs,
            ["Y", "Y_h"],
            hidden_size=U,
            linear_before_reset=int(bool(estimator.reset_after)),
            direction="forward",
        )
    )
    pooled = _pool(
        estimator.pooling, variable_length, opset, elem, nodes, initializers, init, helper
    )
    nodes += [
        helper.make_node("MatMul", [pooled, "dense_kernel"], ["dense_out"]),
        helper.make_node("Add", ["dense_out", "dense_bias"], ["logits"]),
    ]
    if activation == "identity":
        output, width = "predictions", Wd.shape[1]
        nodes.append(helper.make_node("Identity", ["logits"], [output]))
    elif activation == "softmax":
        output, width = "probabilities", len(estimator.classes_)
        nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
    else:
        output, width = "probabilities", len(estimator.classes_)
        initializers.append(init("one", 1.0))
        nodes += [
            helper.make_node("Sigmoid", ["logits"], ["p1"]),
            helper.make_node("Sub", ["one", "p1"], ["p0"]),
            helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1),
        ]
    outputs = [helper.make_tensor_value_info(output, elem, ["batch", width])]
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
