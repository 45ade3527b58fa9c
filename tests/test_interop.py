"""Weights to and from PyTorch ``nn.GRU`` and the ONNX export.

The mapping tests run everywhere (NumPy only). The parity tests run the same
weights through ``torch.nn.GRU`` (when torch is installed) and through the
standard ONNX ``GRU`` operator in onnxruntime (when onnx and onnxruntime are
installed); neither is a dependency of skgru.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from sklearn.exceptions import NotFittedError

import skgru
from skgru import ConstrainedGRUClassifier, to_onnx
from skgru.testing import gru_configs, sequence_batches

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

U = 4
F = 3


def _ragged(rng, n, F, lengths=(1, 7)):
    return [rng.normal(size=(int(rng.integers(lengths[0], lengths[1] + 1)), F)) for _ in range(n)]


def _pad(X_list):
    T = max(len(x) for x in X_list)
    values = np.zeros((len(X_list), T, X_list[0].shape[1]))
    for i, a in enumerate(X_list):
        values[i, : len(a)] = a
    return values, np.array([len(a) for a in X_list])


def _fitted(n_classes=3, reset_after=True, embedding=False, seed=0, **params):
    """A fitted float64 model with non-trivial biases (fit leaves them near zero)."""
    rng = np.random.default_rng(seed)
    n = 24
    if embedding:
        X = [rng.integers(1, 9, size=int(rng.integers(1, 7))) for _ in range(n)]
        params.update(embedding_dim=3, vocab_size=9)
    else:
        X = _ragged(rng, n, F)
    y = np.arange(n) % n_classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = ConstrainedGRUClassifier(
            units=U,
            reset_after=reset_after,
            max_iter=2,
            dtype="float64",
            random_state=seed,
            **params,
        ).fit(X, y)
    weights = clf.get_weights()
    weights = [w + rng.normal(scale=0.3, size=w.shape) for w in weights]
    clf.set_weights(weights)
    return clf, X, y


# -- the mapping (NumPy only) ---------------------------------------------------------


def test_state_dict_keys_shapes_and_gate_order():
    clf, _, _ = _fitted(n_classes=3)
    W, R, b, Wd, bd = clf.get_weights()
    sd = clf.to_torch_state_dict()
    assert list(sd) == [
        "weight_ih_l0",
        "weight_hh_l0",
        "bias_ih_l0",
        "bias_hh_l0",
        "fc.weight",
        "fc.bias",
    ]
    assert sd["weight_ih_l0"].shape == (3 * U, F)
    assert sd["weight_hh_l0"].shape == (3 * U, U)
    assert sd["fc.weight"].shape == (3, U)
    z, r, h = slice(0, U), slice(U, 2 * U), slice(2 * U, 3 * U)
    # docs/gru_equations.rst, "Mapping to PyTorch": torch row blocks are
    # (r, z, n), Keras column blocks (z, r, h).
    np.testing.assert_array_equal(sd["weight_ih_l0"][:U], W[:, r].T)
    np.testing.assert_array_equal(sd["weight_ih_l0"][U : 2 * U], W[:, z].T)
    np.testing.assert_array_equal(sd["weight_ih_l0"][2 * U :], W[:, h].T)
    np.testing.assert_array_equal(sd["weight_hh_l0"][:U], R[:, r].T)
    np.testing.assert_array_equal(sd["weight_hh_l0"][U : 2 * U], R[:, z].T)
    np.testing.assert_array_equal(sd["bias_ih_l0"], np.concatenate([b[0, r], b[0, z], b[0, h]]))
    np.testing.assert_array_equal(sd["bias_hh_l0"], np.concatenate([b[1, r], b[1, z], b[1, h]]))
    np.testing.assert_array_equal(sd["fc.weight"], Wd.T)
    np.testing.assert_array_equal(sd["fc.bias"], bd)


@pytest.mark.parametrize("embedding", [False, True])
def test_round_trip_numpy(embedding):
    clf, X, _ = _fitted(n_classes=2, embedding=embedding)
    sd = clf.to_torch_state_dict()
    assert ("embedding.weight" in sd) == embedding
    other, _, _ = _fitted(n_classes=2, embedding=embedding, seed=1)
    assert other.from_torch_state_dict(sd) is other
    for a, b in zip(clf.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(clf.predict_proba(X), other.predict_proba(X))


def test_missing_gru_biases_are_zero():
    clf, _, _ = _fitted()
    sd = clf.to_torch_state_dict()
    del sd["bias_ih_l0"], sd["bias_hh_l0"]
    clf.from_torch_state_dict(sd)
    np.testing.assert_array_equal(clf.get_weights()[2], 0.0)


def test_reset_after_false_is_refused():
    clf, _, _ = _fitted(reset_after=False)
    with pytest.raises(ValueError, match="reset_after=False"):
        clf.to_torch_state_dict()
    other, _, _ = _fitted()
    with pytest.raises(ValueError, match="reset_after=False"):
        clf.from_torch_state_dict(other.to_torch_state_dict())


def test_weights_that_do_not_fit_the_architecture_are_refused():
    clf, _, _ = _fitted()
    clf.bidirectional = True  # parameters no longer describing the fitted weights
    with pytest.raises(ValueError, match="weight arrays"):
        clf.to_torch_state_dict()
    with pytest.raises(ValueError, match="weight arrays"):
        to_onnx(clf)


@pytest.mark.parametrize(
    "params", [{"num_layers": 2}, {"bidirectional": True}, {"num_layers": 3, "bidirectional": True}]
)
def test_stacked_and_bidirectional_state_dict_keys_and_round_trip(params):
    clf, X, _ = _fitted(**params)
    sd = clf.to_torch_state_dict()
    L = params.get("num_layers", 1)
    dirs = ["", "_reverse"] if params.get("bidirectional") else [""]
    nd = len(dirs)
    gru_keys = [
        f"{name}_l{l}{d}"
        for l in range(L)
        for d in dirs
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    ]
    assert list(sd) == gru_keys + ["fc.weight", "fc.bias"]
    assert sd["weight_ih_l0"].shape == (3 * U, F)
    if L > 1:
        assert sd["weight_ih_l1"].shape == (3 * U, nd * U)
    assert sd["fc.weight"].shape == (3, nd * U)
    other, _, _ = _fitted(seed=1, **params)
    other.from_torch_state_dict(sd)
    for a, b in zip(clf.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    # A unidirectional single-layer dict does not fit a stacked model.
    with pytest.raises(ValueError, match="missing keys"):
        clf.from_torch_state_dict(_fitted()[0].to_torch_state_dict())


def test_unfitted_raises():
    with pytest.raises(NotFittedError):
        ConstrainedGRUClassifier().to_torch_state_dict()


def test_bad_state_dicts():
    clf, _, _ = _fitted()
    sd = clf.to_torch_state_dict()
    with pytest.raises(ValueError, match="missing keys \\['fc.bias'\\]"):
        clf.from_torch_state_dict({k: v for k, v in sd.items() if k != "fc.bias"})
    with pytest.raises(ValueError, match="unexpected keys \\['gru.weight_ih_l0'\\]"):
        clf.from_torch_state_dict({**sd, "gru.weight_ih_l0": sd["weight_ih_l0"]})
    with pytest.raises(ValueError, match="shape"):
        clf.from_torch_state_dict({**sd, "weight_hh_l0": sd["weight_hh_l0"].T[:, :U]})
    with pytest.raises(ValueError, match="NaN"):
        clf.from_torch_state_dict({**sd, "fc.bias": np.full(3, np.nan)})
    before = clf.get_weights()
    with pytest.raises(TypeError, match="numeric"):
        clf.from_torch_state_dict({**sd, "fc.bias": np.array(["a", "b", "c"])})
    for a, b in zip(before, clf.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- parity with torch.nn.GRU ---------------------------------------------------------


def _torch_model(torch, sd, embedding=False):
    """nn.GRU (layers and directions from the keys) + nn.Linear (+ nn.Embedding), float64."""
    units, n_features = sd["weight_hh_l0"].shape[1], sd["weight_ih_l0"].shape[1]
    num_layers = len([k for k in sd if k.startswith("weight_ih_l") and "reverse" not in k])
    bidirectional = "weight_ih_l0_reverse" in sd
    gru = torch.nn.GRU(
        n_features, units, num_layers=num_layers, bidirectional=bidirectional, batch_first=True
    ).double()
    fc = torch.nn.Linear(sd["fc.weight"].shape[1], sd["fc.weight"].shape[0]).double()
    gru.load_state_dict(
        {k: torch.as_tensor(v) for k, v in sd.items() if k.startswith(("weight_", "bias_"))}
    )
    fc.load_state_dict({k[3:]: torch.as_tensor(v) for k, v in sd.items() if k.startswith("fc.")})
    emb = None
    if embedding:
        w = torch.as_tensor(sd["embedding.weight"])
        emb = torch.nn.Embedding(*w.shape).double()
        emb.load_state_dict({"weight": w})
    return gru, fc, emb


def _torch_proba(torch, sd, values, lengths, embedding=False, pooling="last"):
    """Packed sequences through nn.GRU, pooled over the valid steps, the head, probabilities."""
    gru, fc, emb = _torch_model(torch, sd, embedding)
    with torch.no_grad():
        x = torch.as_tensor(values)
        if emb is not None:
            x = emb(x)
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False
        )
        out, h_n = gru(packed)
        if pooling == "last":
            pooled = torch.cat([h_n[-2], h_n[-1]], dim=1) if gru.bidirectional else h_n[-1]
        else:
            seq, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
            valid = (
                torch.arange(seq.shape[1])[None, :, None] < torch.as_tensor(lengths)[:, None, None]
            )
            if pooling == "mean":
                pooled = (seq * valid).sum(dim=1) / torch.as_tensor(lengths)[:, None]
            else:
                pooled = seq.masked_fill(~valid, -float("inf")).max(dim=1).values
        logits = fc(pooled)
        if logits.shape[1] == 1:
            p = torch.sigmoid(logits[:, 0])
            return torch.stack([1 - p, p], dim=1).numpy()
        return torch.softmax(logits, dim=1).numpy()


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize(
    "params", [{"num_layers": 2}, {"bidirectional": True}, {"num_layers": 2, "bidirectional": True}]
)
def test_torch_parity_stacked_and_bidirectional(params, pooling):
    torch = pytest.importorskip("torch")
    clf, X, _ = _fitted(n_classes=3, pooling=pooling, **params)
    values, lengths = _pad(X)
    proba = _torch_proba(torch, clf.to_torch_state_dict(), values, lengths, pooling=pooling)
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_torch_forward_parity(n_classes):
    torch = pytest.importorskip("torch")
    clf, X, _ = _fitted(n_classes=n_classes)
    values, lengths = _pad(X)
    proba = _torch_proba(torch, clf.to_torch_state_dict(), values, lengths)
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-6)


def test_torch_forward_parity_embedding():
    torch = pytest.importorskip("torch")
    clf, X, _ = _fitted(n_classes=3, embedding=True)
    lengths = np.array([len(x) for x in X])
    ids = np.zeros((len(X), lengths.max()), dtype=np.int64)
    for i, x in enumerate(X):
        ids[i, : len(x)] = x
    proba = _torch_proba(torch, clf.to_torch_state_dict(), ids, lengths, embedding=True)
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-6)


def test_torch_weights_load_into_our_model():
    """A torch-initialised GRU (its own init) gives our model the same forward."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    clf, X, _ = _fitted(n_classes=3)
    gru = torch.nn.GRU(F, U, batch_first=True).double()
    fc = torch.nn.Linear(U, 3).double()
    sd = {**gru.state_dict(), **{f"fc.{k}": v for k, v in fc.state_dict().items()}}
    clf.from_torch_state_dict(sd)
    values, lengths = _pad(X)
    proba = _torch_proba(torch, clf.to_torch_state_dict(), values, lengths)
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-6)
    tensors = clf.to_torch_state_dict(as_tensors=True)
    for key, value in sd.items():
        assert isinstance(tensors[key], torch.Tensor)
        np.testing.assert_array_equal(tensors[key].numpy(), value.numpy())


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=gru_configs(reset_after=True, dtype="float64", pooling="last"),
    batch=sequence_batches(n_classes=3, dtype="float64", ragged=True),
)
def test_torch_parity_property(config, batch):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = ConstrainedGRUClassifier(**config, max_iter=1, random_state=0)
        clf.fit(batch.X, batch.y)
    proba = _torch_proba(torch, clf.to_torch_state_dict(), batch.values, batch.lengths)
    np.testing.assert_allclose(proba, clf.predict_proba(batch.X), rtol=0, atol=1e-6)


def test_regressor_state_dict_if_available():
    torch = pytest.importorskip("torch")
    Regressor = getattr(skgru, "ConstrainedGRURegressor", None)
    if Regressor is None:
        pytest.skip("no ConstrainedGRURegressor in this build")
    rng = np.random.default_rng(3)
    X = _ragged(rng, 20, F)
    y = rng.normal(size=(20, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = Regressor(units=U, max_iter=2, dtype="float64", random_state=0).fit(X, y)
    gru, fc, _ = _torch_model(torch, reg.to_torch_state_dict())
    values, lengths = _pad(X)
    with torch.no_grad():
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            torch.as_tensor(values),
            torch.as_tensor(lengths),
            batch_first=True,
            enforce_sorted=False,
        )
        pred = fc(gru(packed)[1][-1]).numpy()
    np.testing.assert_allclose(pred, reg.predict(X), rtol=0, atol=1e-6)


# -- ONNX -----------------------------------------------------------------------------
#
# onnxruntime's CPU GRU kernel implements float32 only, so the exported model
# runs in float32 and is compared with our float64 predictions to 1e-5.
# ONNX's sequence_lens marks a valid prefix of each sequence; our masking also
# skips padding elsewhere (left padding, id 0 inside a token sequence), which
# ONNX cannot express, so only end padding is compared.


def _onnx_run(model, feeds):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("reset_after", [True, False])
def test_onnx_parity_ragged(reset_after, n_classes):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    clf, X, _ = _fitted(n_classes=n_classes, reset_after=reset_after)
    model = to_onnx(clf)
    gru = [n for n in model.graph.node if n.op_type == "GRU"][0]
    attrs = {a.name: a for a in gru.attribute}
    assert attrs["linear_before_reset"].i == int(reset_after)
    assert attrs["hidden_size"].i == U
    values, lengths = _pad(X)
    proba = _onnx_run(
        model, {"X": values.astype(np.float32), "sequence_lens": lengths.astype(np.int32)}
    )
    assert proba.shape == (len(X), n_classes)
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)


def test_onnx_parity_fixed_length():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    clf, _, _ = _fitted(n_classes=3)
    X = np.random.default_rng(5).normal(size=(10, 6, F))
    model = to_onnx(clf, variable_length=False)
    assert [i.name for i in model.graph.input] == ["X"]
    proba = _onnx_run(model, {"X": X.astype(np.float32)})
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)


def test_onnx_parity_embedding():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    clf, X, _ = _fitted(n_classes=3, embedding=True)
    lengths = np.array([len(x) for x in X], dtype=np.int32)
    ids = np.zeros((len(X), lengths.max()), dtype=np.int64)
    for i, x in enumerate(X):
        ids[i, : len(x)] = x
    # The graph finds the padding (id 0) itself: "X" is its only input.
    model = to_onnx(clf)
    assert [i.name for i in model.graph.input] == ["X"]
    proba = _onnx_run(model, {"X": ids})
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)


def test_onnx_regressor_if_available():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    Regressor = getattr(skgru, "ConstrainedGRURegressor", None)
    if Regressor is None:
        pytest.skip("no ConstrainedGRURegressor in this build")
    rng = np.random.default_rng(4)
    X = _ragged(rng, 20, F)
    y = rng.normal(size=(20, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = Regressor(units=U, max_iter=2, dtype="float64", random_state=0).fit(X, y)
    values, lengths = _pad(X)
    pred = _onnx_run(
        to_onnx(reg), {"X": values.astype(np.float32), "sequence_lens": lengths.astype(np.int32)}
    )
    np.testing.assert_allclose(pred, reg.predict(X).reshape(pred.shape), rtol=0, atol=1e-5)


def test_onnx_float64_model_is_valid():
    onnx = pytest.importorskip("onnx")
    clf, _, _ = _fitted()
    model = to_onnx(clf, dtype="float64")
    onnx.checker.check_model(model)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


@pytest.mark.parametrize("opset", [13, 17, 18])
@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_onnx_parity_pooling(pooling, opset):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    clf, X, _ = _fitted(n_classes=3, pooling=pooling)
    values, lengths = _pad(X)
    proba = _onnx_run(
        to_onnx(clf, opset=opset),
        {"X": values.astype(np.float32), "sequence_lens": lengths.astype(np.int32)},
    )
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)
    X_full = np.random.default_rng(6).normal(size=(7, 5, F))
    proba = _onnx_run(
        to_onnx(clf, opset=opset, variable_length=False), {"X": X_full.astype(np.float32)}
    )
    np.testing.assert_allclose(proba, clf.predict_proba(X_full), rtol=0, atol=1e-5)


def test_onnx_refusals():
    pytest.importorskip("onnx")
    clf, _, _ = _fitted()
    with pytest.raises(ValueError, match="dtype"):
        to_onnx(clf, dtype="float16")
    with pytest.raises(ValueError, match="opset"):
        to_onnx(clf, opset=11)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize(
    "params",
    [
        {"num_layers": 2},
        {"bidirectional": True},
        {"num_layers": 3, "bidirectional": True, "reset_after": False},
    ],
)
def test_onnx_parity_stacked_and_bidirectional(params, pooling):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    clf, X, _ = _fitted(n_classes=3, pooling=pooling, **params)
    model = to_onnx(clf)
    grus = [n for n in model.graph.node if n.op_type == "GRU"]
    assert len(grus) == params.get("num_layers", 1)
    values, lengths = _pad(X)
    proba = _onnx_run(
        model, {"X": values.astype(np.float32), "sequence_lens": lengths.astype(np.int32)}
    )
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)


@pytest.mark.parametrize("params", [{}, {"bidirectional": True, "num_layers": 2}])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_onnx_tokens_front_padding_and_holes(params, pooling):
    """SequenceVectorizer's default front padding, ids 0 inside rows, a row of padding only."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    clf, _, _ = _fitted(n_classes=3, embedding=True, pooling=pooling, **params)
    rng = np.random.default_rng(8)
    ids = rng.integers(1, 9, size=(12, 7))
    ids[:, :3] = 0  # front padding
    ids[4, 5] = 0  # a hole
    ids[7] = 0  # nothing but padding
    proba = _onnx_run(to_onnx(clf), {"X": ids.astype(np.int64)})
    # (a list: the model was fitted on lists of ids, so a 2-D array must have its width)
    np.testing.assert_allclose(proba, clf.predict_proba(list(ids)), rtol=0, atol=1e-5)


def test_onnx_vectorizer_pipeline_default_padding():
    """The exported GRU of a default text pipeline reads the vectorizer's front-padded ids."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from skgru import SequenceVectorizer

    docs = ["good fine", "bad awful thing here", "fine good nice day", "awful"] * 5
    y = np.array([1, 0, 1, 0] * 5)
    vec = SequenceVectorizer()
    ids = vec.fit_transform(docs)
    assert (ids[:, 0] == 0).any()  # front padded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = ConstrainedGRUClassifier(units=3, embedding_dim=4, max_iter=3, random_state=0)
        clf.fit(ids, y)
    proba = _onnx_run(to_onnx(clf), {"X": ids.astype(np.int64)})
    np.testing.assert_allclose(proba, clf.predict_proba(ids), rtol=0, atol=1e-5)


def test_onnx_multilabel_and_channels_first():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(9)
    X = rng.normal(size=(16, 5, F))
    Y = (rng.random(size=(16, 3)) < 0.5).astype(int)
    Y[0], Y[1] = 1, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = ConstrainedGRUClassifier(units=U, max_iter=2, random_state=0).fit(X, Y)
    proba = _onnx_run(to_onnx(clf, variable_length=False), {"X": X.astype(np.float32)})
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=1e-5)
    clf.set_params(data_format="channels_first")
    with pytest.raises(ValueError, match="channels_first"):
        to_onnx(clf)
