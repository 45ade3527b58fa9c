"""The public testing tools: hypothesis strategies and ``check_gradients``.

The property tests here are written with ``skgru.testing``'s own strategies,
as a user's suite would be.
"""

import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

import skgru
from skgru import ConstrainedGRUClassifier
from skgru.kernels.cpu import _kernel_set as _cpu_kernel_set
from skgru.testing import (
    GradientCheckReport,
    SequenceBatch,
    check_gradients,
    gru_configs,
    sequence_batches,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SLOW = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fit(config, X, y, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = {"max_iter": 2, "random_state": 0, **config, **extra}
        return ConstrainedGRUClassifier(**params).fit(X, y)


def _small_problem(seed=0, n=8, n_classes=3, **params):
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(1, 6)), 2)) for _ in range(n)]
    y = np.arange(n) % n_classes
    config = {"units": 3, "dtype": "float64", **params}
    return _fit(config, X, y), X, y


# -- the strategies ---------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(batch=sequence_batches(n_classes=3, max_length=5))
def test_sequence_batches_are_consistent(batch):
    assert isinstance(batch, SequenceBatch)
    n, T, F = batch.values.shape
    assert batch.mask.shape == (n, T) and batch.mask.dtype == bool
    assert T == batch.lengths.max() <= 5 and batch.lengths.min() >= 1
    np.testing.assert_array_equal(batch.mask.sum(axis=1), batch.lengths)
    assert np.all(batch.values[~batch.mask] == 0)
    assert np.isfinite(batch.values).all()
    assert batch.values.dtype in (np.float32, np.float64)
    assert sorted(set(batch.y.tolist())) == [0, 1, 2] and len(batch.y) == n
    if batch.ragged:
        assert [len(x) for x in batch.X] == batch.lengths.tolist()
        for i, x in enumerate(batch.X):
            np.testing.assert_array_equal(x, batch.values[i, : len(x)])
    else:
        assert batch.mask.all()
        np.testing.assert_array_equal(batch.X, batch.values)


@settings(max_examples=20, deadline=None)
@given(
    batch=sequence_batches(
        n_samples=st.integers(2, 4), n_features=2, ragged=False, dtype="float32", max_length=3
    )
)
def test_sequence_batches_fixed_values(batch):
    assert batch.values.dtype == np.float32
    assert batch.values.shape[2] == 2 and 2 <= batch.values.shape[0] <= 4
    assert not batch.ragged and batch.y is None


@settings(max_examples=30, deadline=None)
@given(config=gru_configs(max_iter=1, random_state=0))
def test_gru_configs_are_valid_parameters(config):
    assert {"units", "reset_after", "dtype", "pooling", "max_iter"} <= set(config)
    ConstrainedGRUClassifier(**config)._validate_params()


@settings(max_examples=10, deadline=None)
@given(config=gru_configs(units=st.just(5), reset_after=False, pooling="max"))
def test_gru_configs_fixed_values(config):
    assert config["units"] == 5 and config["reset_after"] is False
    assert config["pooling"] == "max"


def test_strategy_argument_errors():
    with pytest.raises(ValueError, match="max_length"):
        sequence_batches(max_length=0)
    with pytest.raises(ValueError, match="n_classes"):
        sequence_batches(n_classes=1)


def test_strategies_need_hypothesis(monkeypatch):
    for name in ("hypothesis", "hypothesis.strategies", "hypothesis.extra.numpy"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match="pip install hypothesis"):
        gru_configs()
    with pytest.raises(ImportError, match="pip install hypothesis"):
        sequence_batches()


# -- properties of the estimator, drawn with the strategies ----------------------------


@SLOW
@given(
    config=gru_configs(dtype="float64"),
    batch=sequence_batches(n_classes=2, dtype="float64"),
)
def test_prediction_does_not_depend_on_the_batch(config, batch):
    """Padding and batch composition change nothing: each row alone gives the same."""
    clf = _fit(config, batch.X, batch.y, max_iter=1)
    proba = clf.predict_proba(batch.X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    X_rows = batch.X if batch.ragged else list(batch.X)
    for i in range(len(X_rows)):
        alone = clf.predict_proba([X_rows[i]])
        np.testing.assert_allclose(alone[0], proba[i], rtol=0, atol=1e-12)


@SLOW
@given(
    config=gru_configs(units=st.integers(1, 3), pooling=st.sampled_from(["last", "mean"])),
    batch=sequence_batches(n_classes=3, n_samples=st.integers(3, 5), max_length=4),
)
def test_gradients_property(config, batch):
    """The backend's analytic gradients match finite differences for drawn models.

    ``pooling="max"`` is left out: where two steps tie, the loss has a kink
    that a finite difference straddles (it is checked on a fixed example).
    """
    clf = _fit(config, batch.X, batch.y)
    report = check_gradients(clf, batch.X, batch.y)
    assert report.passed, str(report)


# -- check_gradients ---------------------------------------------------------------------


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_check_gradients_passes(reset_after, pooling):
    clf, X, y = _small_problem(reset_after=reset_after, pooling=pooling, alpha=0.1)
    before = clf.get_weights()
    report = check_gradients(clf, X, y, sample_weight=np.linspace(0.5, 2, len(y)))
    assert isinstance(report, GradientCheckReport)
    assert report.passed, str(report)
    assert [t.name for t in report.tensors] == [
        "kernel",
        "recurrent_kernel",
        "bias",
        "dense_kernel",
        "dense_bias",
    ]
    for t, w in zip(report.tensors, before):
        assert t.shape == w.shape and t.n_checked == w.size
        assert t.max_rel_error < 1e-5
    for a, b in zip(before, clf.get_weights()):
        np.testing.assert_array_equal(a, b)  # the estimator is not modified


def test_check_gradients_float32_model_and_embedding():
    rng = np.random.default_rng(1)
    X = [rng.integers(1, 7, size=int(rng.integers(1, 5))) for _ in range(6)]
    y = np.array([0, 1, 2, 0, 1, 2])
    clf = _fit({"units": 2, "embedding_dim": 2, "vocab_size": 7, "dtype": "float32"}, X, y)
    report = check_gradients(clf, X, y)
    assert report.passed, str(report)
    assert report.tensors[0].name == "embedding"
    assert report.tensors[0].shape == (7, 2)


def test_check_gradients_catches_a_wrong_recurrent_gradient(monkeypatch):
    clf, X, y = _small_problem(seed=2)
    original = _cpu_kernel_set._weight_grads

    def wrong_weight_grads(*args):
        original(*args)
        args[9][...] *= 1.01  # dR: a 1% error in the recurrent kernel's gradient

    monkeypatch.setattr(_cpu_kernel_set, "_weight_grads", wrong_weight_grads)
    report = check_gradients(clf, X, y)
    assert not report.passed
    status = {t.name: t.passed for t in report.tensors}
    assert status == {
        "kernel": True,
        "recurrent_kernel": False,
        "bias": True,
        "dense_kernel": True,
        "dense_bias": True,
    }
    assert 5e-3 < report.max_rel_error["recurrent_kernel"] < 2e-2
    text = str(report)
    assert "FAILED" in text and "recurrent_kernel" in text and "NO" in text


def test_check_gradients_catches_a_wrong_head_gradient(monkeypatch):
    from skgru.engine._trainer import Trainer

    clf, X, y = _small_problem(seed=3, n_classes=2)
    original = Trainer.loss_and_grads

    def wrong(self, idx, rng):
        loss, grads, w_sum = original(self, idx, rng)
        grads[-1] = grads[-1] + 1e-3
        return loss, grads, w_sum

    monkeypatch.setattr(Trainer, "loss_and_grads", wrong)
    report = check_gradients(clf, X, y)
    assert [t.name for t in report.tensors if not t.passed] == ["dense_bias"]


def test_report_text_and_subsampling():
    clf, X, y = _small_problem()
    report = check_gradients(clf, X, y, max_entries=4, random_state=0)
    assert report.passed
    checked = {t.name: t.n_checked for t in report.tensors}
    assert checked == {
        "kernel": 4,
        "recurrent_kernel": 4,
        "bias": 4,
        "dense_kernel": 4,
        "dense_bias": 3,
    }
    assert np.isnan(report.numerical[0]).sum() == report.numerical[0].size - 4
    text = str(report)
    assert text.splitlines()[0].startswith("Gradient check (passed)")
    assert "max rel err" in text and "dense_bias" in text


def test_check_gradients_errors():
    with pytest.raises(NotFittedError):
        check_gradients(ConstrainedGRUClassifier(), [[1.0, 2.0]], [0])
    clf, X, y = _small_problem()
    with pytest.raises(ValueError, match="not fitted on"):
        check_gradients(clf, X, np.full(len(y), 7))
    with pytest.raises(ValueError, match="eps"):
        check_gradients(clf, X, y, eps=0)
    with pytest.raises(ValueError, match="non-zero|sum to zero"):
        check_gradients(clf, X, y, sample_weight=np.zeros(len(y)))


def test_check_gradients_regressor_if_available():
    Regressor = getattr(skgru, "ConstrainedGRURegressor", None)
    if Regressor is None:
        pytest.skip("no ConstrainedGRURegressor in this build")
    rng = np.random.default_rng(4)
    X = [rng.normal(size=(int(rng.integers(1, 5)), 2)) for _ in range(6)]
    y = rng.normal(size=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = Regressor(units=3, max_iter=2, dtype="float64", random_state=0).fit(X, y)
    report = check_gradients(reg, X, y)
    assert report.passed, str(report)


@pytest.mark.skipif(
    "num_layers" not in ConstrainedGRUClassifier().get_params(),
    reason="no stacked / bidirectional GRUs in this build",
)
def test_check_gradients_stacked_bidirectional():
    clf, X, y = _small_problem(seed=5, num_layers=2, bidirectional=True)
    report = check_gradients(clf, X, y, max_entries=6, random_state=0)
    assert report.passed, str(report)
    names = [t.name for t in report.tensors]
    assert names[:4] == ["l0_kernel", "l0_recurrent_kernel", "l0_bias", "l0_backward_kernel"]
    assert names[-2:] == ["dense_kernel", "dense_bias"] and len(names) == 14
    assert [t.shape for t in report.tensors] == [w.shape for w in clf.get_weights()]
    assert "l1_backward_recurrent_kernel" in str(report)
