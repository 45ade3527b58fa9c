"""Monte-Carlo dropout, temperature scaling and the expected calibration error."""

import warnings

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state

from skgru import ConstrainedGRUClassifier, ConstrainedGRURegressor
from skgru.engine import _stack
from skgru.uncertainty import (
    TemperatureScaledClassifier,
    expected_calibration_error,
    mc_dropout_predict,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _fit(Est, X, y, **params):
    params = {"units": 4, "max_iter": 3, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Est(device="cpu", **params).fit(X, y)


def _sigmoid(x):
    return expit(x)


def _reference_pass(X, weights, input_mask, rmask):
    """NumPy GRU (reset_after=True) with variational dropout masks, last state, logits."""
    W, R, b, Wd, bd = weights
    U = R.shape[0]
    h = np.zeros((X.shape[0], U))
    for t in range(X.shape[1]):
        a = (X[:, t] * input_mask) @ W + b[0]
        m = (h * rmask) @ R + b[1]
        z = _sigmoid(a[:, :U] + m[:, :U])
        r = _sigmoid(a[:, U : 2 * U] + m[:, U : 2 * U])
        n = np.tanh(a[:, 2 * U :] + r * m[:, 2 * U :])
        h = z * h + (1 - z) * n
    return h @ Wd + bd


def test_mc_passes_equal_a_numpy_gru_with_the_same_masks():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 5, 3))
    y = np.arange(12) % 3
    clf = _fit(ConstrainedGRUClassifier, X, y, dtype="float64", dropout=0.3, recurrent_dropout=0.4)
    result = mc_dropout_predict(clf, X, n_samples=3, random_state=7, return_samples=True)
    # The masks the function draws: its generator, then draw_masks per pass.
    gen = np.random.default_rng(check_random_state(7).randint(np.iinfo(np.int32).max))
    config = clf._train_config()
    config.input_noise = 0.0
    for s in range(3):
        _, masks = _stack.draw_masks(gen, config, 12, 5, 3, 4, np.float64)
        input_mask, rmask = masks[0][0]
        logits = _reference_pass(X, clf.get_weights(), input_mask, rmask)
        np.testing.assert_allclose(result.samples[s], softmax(logits, axis=1), atol=1e-12)
    np.testing.assert_allclose(result.proba, result.samples.mean(axis=0))
    p = result.proba
    np.testing.assert_allclose(result.entropy, -(p * np.log(p)).sum(axis=1))
    assert (result.mutual_information >= 0).all()
    # The same seed gives the same passes; the passes differ from each other.
    again = mc_dropout_predict(clf, X, n_samples=3, random_state=7)
    np.testing.assert_array_equal(again.proba, result.proba)
    assert not np.allclose(result.samples[0], result.samples[1])


def test_mc_stacked_tokens_regressor_and_refusals():
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 8, size=(10, 6))
    clf = _fit(
        ConstrainedGRUClassifier, ids, np.arange(10) % 2, embedding_dim=3,
        num_layers=2, bidirectional=True, dropout=0.2, pooling="mean",
    )  # fmt: skip
    result = mc_dropout_predict(clf, ids, n_samples=4, random_state=0)
    assert result.proba.shape == (10, 2)
    np.testing.assert_allclose(result.proba.sum(axis=1), 1.0, atol=1e-6)
    X = rng.normal(size=(10, 4, 2))
    reg = _fit(ConstrainedGRURegressor, X, rng.normal(size=(10, 2)), recurrent_dropout=0.3)
    r = mc_dropout_predict(reg, X, n_samples=5, random_state=0, return_samples=True)
    assert r.mean.shape == (10, 2) and r.samples.shape == (5, 10, 2)
    np.testing.assert_allclose(r.std, r.samples.std(axis=0))
    plain = _fit(ConstrainedGRUClassifier, X, np.arange(10) % 2)
    with pytest.raises(ValueError, match="dropout or recurrent_dropout"):
        mc_dropout_predict(plain, X)
    with pytest.raises(ValueError, match="n_samples"):
        mc_dropout_predict(reg, X, n_samples=0)
    reg.set_params(device="cuda")
    with pytest.raises(ValueError, match="CPU only"):
        mc_dropout_predict(reg, X)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_temperature_is_the_log_loss_minimiser_and_keeps_predictions(n_classes):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 6, 2))
    y = np.digitize(X[:, :, 0].sum(axis=1), [-1, 1] if n_classes == 3 else [0])
    clf = _fit(
        ConstrainedGRUClassifier, X[:50], y[:50], units=6, max_iter=60,
        learning_rate_init=0.02, dtype="float64",
    )  # fmt: skip
    scaled = TemperatureScaledClassifier(FrozenEstimator(clf)).fit(X[50:], y[50:])
    T = scaled.temperature_
    logits = clf._logits(clf._validate_X(X[50:], reset=False)).astype(np.float64)

    def proba(t, z):
        if n_classes == 2:
            p = expit(z[:, 0] / t)
            return np.column_stack([1 - p, p])
        return softmax(z / t, axis=1)

    def nll(t):
        return -np.log(proba(t, logits)[np.arange(30), y[50:]]).mean()

    grid = np.exp(np.linspace(-3, 3, 2001))
    best = grid[np.argmin([nll(t) for t in grid])]
    assert abs(np.log(T) - np.log(best)) < 5e-3
    assert nll(T) <= nll(best) + 1e-9
    np.testing.assert_allclose(scaled.predict_proba(X[50:]), proba(T, logits), atol=1e-10)
    np.testing.assert_array_equal(scaled.predict(X), clf.predict(X))
    np.testing.assert_array_equal(scaled.classes_, clf.classes_)


def test_cross_fitted_temperature_and_weights():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.5 * rng.normal(size=120) > 0).astype(int)
    base = LogisticRegression(C=100.0)
    scaled = TemperatureScaledClassifier(base, cv=4).fit(X, y)
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    oof = cross_val_predict(base, X, y, cv=StratifiedKFold(4), method="predict_log_proba")
    z = oof[:, 1] - oof[:, 0]
    grid = np.exp(np.linspace(-3, 3, 3001))
    nll = [-np.mean(np.log(expit(np.where(y == 1, 1, -1) * z / t))) for t in grid]
    assert abs(np.log(scaled.temperature_) - np.log(grid[np.argmin(nll)])) < 5e-3
    np.testing.assert_array_equal(
        scaled.predict(X), LogisticRegression(C=100.0).fit(X, y).predict(X)
    )
    w = np.where(y == 1, 3.0, 1.0)
    weighted = TemperatureScaledClassifier(base, cv=4).fit(X, y, sample_weight=w)
    assert weighted.temperature_ != scaled.temperature_
    with pytest.raises(ValueError, match="1-D y"):
        TemperatureScaledClassifier(base).fit(X, np.column_stack([y, y]))


def test_expected_calibration_error():
    # Two bins: confidences 0.9 (right) and 0.6 (wrong).
    y_prob = np.array([[0.9, 0.1], [0.4, 0.6]])
    assert expected_calibration_error([0, 0], y_prob, n_bins=10) == pytest.approx(
        0.5 * 0.1 + 0.5 * 0.6
    )
    rng = np.random.default_rng(4)
    p = rng.uniform(0.5, 1.0, size=200000)
    labels = (rng.uniform(size=p.size) < p).astype(int)  # calibrated by construction
    probs = np.column_stack([1 - p, p])
    assert expected_calibration_error(labels, probs) < 0.01
    assert expected_calibration_error(["b", "a"], y_prob, classes=["a", "b"]) == pytest.approx(
        expected_calibration_error([1, 0], y_prob)
    )
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([0], [[1.0, 0.0]], n_bins=0)
