"""Stacked and bidirectional GRUs: parity with an independent NumPy model, gradients."""

import numpy as np
import pytest
from reference import gru_forward, numerical_gradient
from scipy.special import expit, softmax

from skgru import ConstrainedGRUClassifier, ConstrainedGRURegressor
from skgru.data._sequences import to_sequences, to_token_sequences
from skgru.engine._devices import make_trainer
from skgru.training._optimizers import make_optimizer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _numpy_stack(weights, seqs, num_layers, bidirectional, reset_after=True, pooling="last"):
    """Independent model: each sequence alone, the backward direction on the reversed
    valid steps, weights read in the documented order (Keras's get_weights order)."""
    nd = 2 if bidirectional else 1
    weights = [w.astype(np.float64) for w in weights]
    Wd, bd = weights[-2], weights[-1]
    pooled = []
    for x in seqs:
        layer_in = x
        for layer in range(num_layers):
            outs, finals = [], []
            for d in range(nd):
                W, R, b = weights[3 * (layer * nd + d) : 3 * (layer * nd + d) + 3]
                xi = layer_in if d == 0 else layer_in[::-1]
                h_seq, _ = gru_forward(xi[None], W, R, b, reset_after=reset_after)
                h_seq = h_seq[0]
                finals.append(h_seq[-1])
                outs.append(h_seq if d == 0 else h_seq[::-1])
            layer_in = np.concatenate(outs, axis=1)
        if pooling == "last":
            pooled.append(np.concatenate(finals))
        elif pooling == "mean":
            pooled.append(layer_in.mean(axis=0))
        else:
            pooled.append(layer_in.max(axis=0))
    logits = np.array(pooled) @ Wd + bd
    if logits.shape[1] == 1:
        p = expit(logits[:, 0])
        return np.column_stack([1 - p, p])
    return softmax(logits, axis=1)


def _ragged(rng, n=12, F=2):
    return [rng.normal(size=(rng.integers(1, 9), F)) for _ in range(n)]


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_two_layer_bidirectional_matches_numpy_model_on_ragged_input(pooling, reset_after):
    rng = np.random.default_rng(0)
    X = _ragged(rng)
    y = rng.integers(0, 3, size=len(X))
    clf = ConstrainedGRUClassifier(
        units=3,
        num_layers=2,
        bidirectional=True,
        pooling=pooling,
        reset_after=reset_after,
        dtype="float64",
        max_iter=2,
        learning_rate_init=0.05,
        random_state=0,
        device="cpu",
    ).fit(X, y)
    weights = clf.get_weights()
    shapes = [w.shape for w in weights]
    bias = (2, 9) if reset_after else (9,)
    assert shapes == [
        (2, 9),
        (3, 9),
        bias,
        (2, 9),
        (3, 9),
        bias,
        (6, 9),
        (3, 9),
        bias,
        (6, 9),
        (3, 9),
        bias,
        (6, 3),
        (3,),
    ]
    expected = _numpy_stack(weights, X, 2, True, reset_after, pooling)
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("num_layers, bidirectional", [(2, False), (1, True), (3, True)])
def test_stack_variants_match_numpy_model(num_layers, bidirectional):
    rng = np.random.default_rng(1)
    X = _ragged(rng, n=8)
    y = rng.integers(0, 2, size=8)
    y[:2] = [0, 1]
    clf = ConstrainedGRUClassifier(
        units=2,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dtype="float64",
        max_iter=1,
        random_state=1,
        device="cpu",
    ).fit(X, y)
    expected = _numpy_stack(clf.get_weights(), X, num_layers, bidirectional)
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("tokens", [False, True])
def test_stack_gradients_match_finite_differences(pooling, tokens):
    rng = np.random.default_rng(2)
    if tokens:
        X = rng.integers(0, 6, size=(5, 6))
        X[:, 0] = rng.integers(1, 6, size=5)
        X[1, :3] = 0  # leading padding
        X[2, 3] = 0  # a hole
    else:
        X = _ragged(rng, n=5)
    y = np.array([0, 1, 2, 1, 0])
    clf = ConstrainedGRUClassifier(
        units=2,
        num_layers=2,
        bidirectional=True,
        pooling=pooling,
        dtype="float64",
        max_iter=1,
        random_state=0,
        alpha=0.05,
        device="cpu",
        embedding_dim=3 if tokens else None,
    ).fit(X, y)
    params = [p + rng.normal(0, 0.3, size=p.shape) for p in clf.get_weights()]
    seqs = to_token_sequences(X, clf.vocab_size_) if tokens else to_sequences(X, np.float64)[0]
    opt = make_optimizer(
        "sgd", params, learning_rate_init=0.1, momentum=0.0, nesterovs_momentum=False
    )
    trainer = make_trainer(
        "cpu", params, opt, clf._train_config(), seqs, clf._encode_y(y), rng.uniform(0.5, 2, size=5)
    )
    idx = np.arange(5)
    _, grads, _ = trainer.loss_and_grads(idx, np.random.default_rng(0))
    if tokens:
        rows, grad_rows = grads[0]
        dense = np.zeros_like(trainer.param_arrays[0])
        dense[rows] = grad_rows
        grads[0] = dense

    def loss():
        return trainer.loss_and_grads(idx, np.random.default_rng(0))[0]

    for p, g in zip(trainer.param_arrays, grads):
        np.testing.assert_allclose(g, numerical_gradient(loss, p), rtol=1e-5, atol=1e-8)


def test_dropout_between_layers_only_while_training():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 6, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    kw = dict(units=4, num_layers=2, bidirectional=True, max_iter=3, random_state=0, device="cpu")
    plain = ConstrainedGRUClassifier(**kw).fit(X, y)
    dropped = ConstrainedGRUClassifier(dropout=0.5, recurrent_dropout=0.3, **kw).fit(X, y)
    assert any(not np.allclose(a, b) for a, b in zip(plain.get_weights(), dropped.get_weights()))
    np.testing.assert_array_equal(dropped.predict_proba(X), dropped.predict_proba(X))


def test_stacked_regressor_learns():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 8, 1))
    y = X.sum(axis=(1, 2))
    reg = ConstrainedGRURegressor(
        units=8,
        num_layers=2,
        bidirectional=True,
        learning_rate_init=0.01,
        max_iter=40,
        random_state=0,
        device="cpu",
    ).fit(X[:300], y[:300])
    assert reg.score(X[300:], y[300:]) > 0.9
