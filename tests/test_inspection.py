"""Gradient attributions (saliency, integrated gradients) and AttributionDisplay."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skgru import ConstrainedGRUClassifier, ConstrainedGRURegressor
from skgru.inspection import AttributionDisplay, integrated_gradients, saliency
from skgru.testing import sequence_batches

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _fit(Est, X, y, seed=0, **params):
    """A float64 model with weights moved away from the near-zero biases of a short fit."""
    params = {"units": 3, "max_iter": 2, "random_state": 0, "dtype": "float64", **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = Est(device="cpu", **params).fit(X, y)
    rng = np.random.default_rng(seed)
    est.set_weights([w + rng.normal(scale=0.4, size=w.shape) for w in est.get_weights()])
    return est


def _column(est, label):
    return int(np.searchsorted(est.classes_, label))


def _finite_differences(est, x, column, eps=1e-6):
    """Central differences of predict_proba[:, column] for one sequence ``x (T, F)``."""
    out = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        p = est.predict_proba([plus, minus])[:, column]
        out[idx] = (p[0] - p[1]) / (2 * eps)
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=sequence_batches(n_classes=3, dtype="float64", max_length=5),
    pooling=st.sampled_from(["last", "mean", "max"]),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    reset_after=st.booleans(),
)
def test_saliency_matches_finite_differences(
    batch, pooling, num_layers, bidirectional, reset_after
):
    est = _fit(
        ConstrainedGRUClassifier, batch.X, batch.y, pooling=pooling, num_layers=num_layers,
        bidirectional=bidirectional, reset_after=reset_after,
    )  # fmt: skip
    result = saliency(est, batch.X)
    A = result.attributions
    for i in range(min(3, len(batch.y))):
        x = batch.values[i, : batch.lengths[i]]
        a = A[i] if batch.ragged else A[i, : batch.lengths[i]]
        fd = _finite_differences(est, x, _column(est, result.target[i]))
        np.testing.assert_allclose(a, fd, rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(result.target, est.predict(batch.X))
    np.testing.assert_allclose(
        result.outputs, est.predict_proba(batch.X).max(axis=1), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("output", ["proba", "logit"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_logit_output_and_explicit_targets(output, n_classes):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(9, 4, 2))
    y = np.arange(9) % n_classes
    est = _fit(ConstrainedGRUClassifier, X, y)
    target = np.arange(9) % n_classes  # one label per sample
    result = saliency(est, X, target=target, output=output)
    np.testing.assert_array_equal(result.target, target)
    logp = est.predict_log_proba(X)
    for i in range(3):
        col = _column(est, target[i])
        if output == "proba":
            fd = _finite_differences(est, X[i], col)
        else:  # the logit is log p up to a per-sample constant for softmax; log-odds for 2
            fd = np.zeros_like(X[i])
            for idx in np.ndindex(*X[i].shape):
                plus, minus = X[i].copy(), X[i].copy()
                plus[idx] += 1e-6
                minus[idx] -= 1e-6
                lp = est.predict_log_proba([plus, minus])
                if n_classes == 2:
                    f = lp[:, col] - lp[:, 1 - col]
                else:
                    f = est._logits(est._validate_X([plus, minus], reset=False))[:, col]
                fd[idx] = (f[0] - f[1]) / 2e-6
        np.testing.assert_allclose(result.attributions[i], fd, rtol=1e-4, atol=1e-7)
    assert np.isfinite(logp).all()


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_integrated_gradients_completeness(pooling):
    rng = np.random.default_rng(2)
    X = [rng.normal(size=(int(n), 2)) for n in rng.integers(2, 8, size=10)]
    y = np.arange(10) % 2
    est = _fit(ConstrainedGRUClassifier, X, y, pooling=pooling, num_layers=2)
    result = integrated_gradients(est, X, n_steps=32)
    assert [a.shape for a in result.attributions] == [x.shape for x in X]
    sums = np.array([a.sum() for a in result.attributions])
    p = est.predict_proba(X)[np.arange(10), [_column(est, t) for t in result.target]]
    np.testing.assert_allclose(result.outputs, p, atol=1e-12)
    np.testing.assert_allclose(sums, result.outputs - result.baseline_outputs, atol=1e-8)
    assert np.abs(result.delta).max() < 1e-8
    trap = integrated_gradients(est, X, n_steps=400, method="riemann_trapezoid")
    for a, b in zip(trap.attributions, result.attributions):
        np.testing.assert_allclose(a, b, atol=1e-4)
    # The baseline itself has nothing to attribute.
    same = integrated_gradients(est, X[:2], baseline=0.0, n_steps=4)
    zero = integrated_gradients(est, [np.zeros_like(x) for x in X[:2]], n_steps=4)
    for a in zero.attributions:
        np.testing.assert_array_equal(a, 0)
    assert same.attributions[0].shape == X[0].shape


def test_token_attributions_masked_steps_and_finite_differences():
    rng = np.random.default_rng(3)
    ids = np.zeros((8, 7), dtype=np.int64)
    for i in range(8):  # distinct ids per row after two padding steps
        ids[i, 2:] = rng.permutation(np.arange(1, 12))[:5]
    y = np.arange(8) % 2
    est = _fit(ConstrainedGRUClassifier, ids, y, embedding_dim=3, vocab_size=12)
    sal = saliency(est, ids)
    assert sal.attributions.shape == (8, 7)
    np.testing.assert_array_equal(sal.attributions[:, :2], 0)
    # gradient x input of a token = d output / d s, the embedding row scaled by s at 1.
    i, col = 0, _column(est, sal.target[0])
    E = est.get_weights()[0]
    for t in range(2, 7):
        outs = []
        for s in (1 + 1e-6, 1 - 1e-6):
            w = est.get_weights()
            w[0] = E.copy()
            w[0][ids[i, t]] *= s
            est.set_weights(w)
            outs.append(est.predict_proba(ids[i : i + 1])[0, col])
        np.testing.assert_allclose(sal.attributions[i, t], (outs[0] - outs[1]) / 2e-6, rtol=1e-4)
    w = est.get_weights()
    w[0] = E
    est.set_weights(w)
    ig = integrated_gradients(est, ids)
    np.testing.assert_array_equal(ig.attributions[:, :2], 0)
    assert np.abs(ig.delta).max() < 1e-8
    ragged = integrated_gradients(est, [row[row != 0] for row in ids])
    np.testing.assert_allclose(np.stack(ragged.attributions), ig.attributions[:, 2:], atol=1e-12)


def test_regressor_layouts_and_baselines():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(6, 3, 5))  # channels first: 3 channels, 5 steps
    y = rng.normal(size=(6, 2))
    est = _fit(ConstrainedGRURegressor, X, y, data_format="channels_first")
    result = integrated_gradients(est, X, target=1, baseline=np.array([0.1, -0.2, 0.3]))
    assert result.attributions.shape == X.shape
    np.testing.assert_allclose(result.outputs, est.predict(X)[:, 1], atol=1e-12)
    assert np.abs(result.delta).max() < 1e-8
    full = integrated_gradients(est, X, target=1, baseline=np.zeros_like(X))
    np.testing.assert_allclose(
        full.attributions, integrated_gradients(est, X, target=1).attributions, atol=1e-12
    )
    U = rng.normal(size=(6, 5))  # 2-D univariate
    est2 = _fit(ConstrainedGRURegressor, U, y[:, 0])
    assert saliency(est2, U).attributions.shape == (6, 5)


def test_errors():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(6, 3, 2))
    y = np.arange(6) % 2
    est = _fit(ConstrainedGRUClassifier, X, y)
    with pytest.raises(ValueError, match="not one of classes_"):
        saliency(est, X, target=7)
    with pytest.raises(ValueError, match="output must be one of"):
        saliency(est, X, output="prediction")
    with pytest.raises(ValueError, match="6 samples"):
        saliency(est, X, target=[0, 1])
    with pytest.raises(ValueError, match="n_steps"):
        integrated_gradients(est, X, n_steps=0)
    with pytest.raises(ValueError, match="method"):
        integrated_gradients(est, X, method="simpson")
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(est, X, baseline=np.zeros(5))
    est.set_params(device="cuda")
    with pytest.raises(ValueError, match="CPU only"):
        saliency(est, X)
    reg = _fit(ConstrainedGRURegressor, X, y.astype(float))
    with pytest.raises(ValueError, match="output index"):
        saliency(reg, X, target=3)


def test_display_numeric_and_tokens():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(6)
    X = rng.normal(size=(8, 6, 2))
    y = np.arange(8) % 2
    est = _fit(ConstrainedGRUClassifier, X, y)
    display = AttributionDisplay.from_estimator(est, X[0], n_steps=8)
    expected = integrated_gradients(est, X[:1], n_steps=8).attributions[0]
    np.testing.assert_allclose(display.image_.get_array(), expected.T)
    assert display.ax_values_ is not None and len(display.ax_values_.lines) == 2
    _, ax = plt.subplots()
    sal = AttributionDisplay.from_estimator(est, X[1], method="saliency", ax=ax)
    assert sal.ax_ is ax
    ids = rng.integers(1, 9, size=(8, 5))
    tok = _fit(ConstrainedGRUClassifier, ids, y, embedding_dim=2, vocab_size=9)
    row = np.array([0, 0, 3, 4, 5])
    disp = AttributionDisplay.from_estimator(tok, row, tokens=["a", "b", "c"])
    assert len(disp.bars_) == 3
    assert [t.get_text() for t in disp.ax_.get_xticklabels()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="method"):
        AttributionDisplay.from_estimator(est, X[0], method="lime")
    plt.close("all")
