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


def to_onnx(estimator, *, variable_length=True, dtype="float32", opset=17):
    """Export a fitted GRU estimator to an ONNX model.

    The graph reads batch-major sequences, transposes them to the ``(seq,
    batch, F)`` layout of the standard ONNX ``GRU`` operator, and applies the
    dense head and the output activation (softmax, or a sigmoid giving ``[1 -
    p, p]`` for two classes), so its output equals :meth:`predict_proba`.

    Parameters
    ----------
    estimator : fitted ConstrainedGRUClassifier or ConstrainedGRURegressor
        One unidirectional GRU layer with ``pooling="last"``; either value of
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
        For pooling other than ``"last"``, an output activation other than
        logistic, softmax or identity, or an architecture other than one
        unidirectional layer.

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
    if estimator.pooling != "last":
        raise ValueError(
            f"to_onnx supports pooling='last' only (the ONNX GRU's final state); this model "
            f"has pooling={estimator.pooling!r}."
        )
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
            ["", "Y_h"],
            hidden_size=U,
            linear_before_reset=int(bool(estimator.reset_after)),
            direction="forward",
        )
    )
    nodes += [
        helper.make_node("Squeeze", ["Y_h", "squeeze_axes"], ["h_last"]),
        helper.make_node("MatMul", ["h_last", "dense_kernel"], ["dense_out"]),
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
