"""ConstrainedGRURegressor: learning, the scikit-learn contract and the loss gradient."""

import numpy as np
import pytest
from _blas import BLAS_REASON, BLAS_ROWS_BITWISE
from reference import gru_forward
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from skgru import ConstrainedGRURegressor
from skgru.data._sequences import to_sequences
from skgru.engine._devices import make_trainer
from skgru.training._optimizers import make_optimizer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

_SW_REASON = (
    "stochastic minibatch training: repeating a sample changes the batches and the number "
    "of updates per epoch, so weighted and repeated data do not give the same model"
)


@parametrize_with_checks(
    [ConstrainedGRURegressor(device="cpu", max_iter=200)],
    expected_failed_checks=lambda est: {
        "check_sample_weight_equivalence_on_dense_data": _SW_REASON,
        **({} if BLAS_ROWS_BITWISE else {"check_methods_sample_order_invariance": BLAS_REASON}),
    },
)
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_learns_the_sum_of_a_sequence():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 10, 1))
    y = X.sum(axis=(1, 2))
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0)
    reg = ConstrainedGRURegressor(
        units=16, learning_rate_init=0.01, max_iter=60, random_state=0, device="cpu"
    ).fit(X_tr, y_tr)
    assert reg.score(X_te, y_te) > 0.9


def test_multi_output_and_ragged_predictions_match_numpy_model():
    rng = np.random.default_rng(1)
    X = [rng.normal(size=(rng.integers(1, 7), 2)) for _ in range(20)]
    y = rng.normal(size=(20, 3))
    reg = ConstrainedGRURegressor(
        units=4, max_iter=3, dtype="float64", random_state=0, device="cpu"
    ).fit(X, y)
    W, R, b, Wd, bd = reg.get_weights()
    expected = []
    for x in X:
        h_seq, _ = gru_forward(x[None], W, R, b)
        expected.append(h_seq[0, -1] @ Wd + bd)
    pred = reg.predict(X)
    assert pred.shape == (20, 3)
    np.testing.assert_allclose(pred, np.array(expected), rtol=1e-10, atol=1e-12)


def test_squared_error_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(6, 4, 2))
    y = rng.normal(size=(6, 2))
    reg = ConstrainedGRURegressor(
        units=3, max_iter=1, dtype="float64", random_state=0, alpha=0.1, device="cpu"
    ).fit(X, y)
    params = [p + rng.normal(0, 0.2, size=p.shape) for p in reg.get_weights()]
    seqs, _ = to_sequences(X, np.float64)
    w = rng.uniform(0.5, 2, size=6)
    opt = make_optimizer(
        "sgd", params, learning_rate_init=0.1, momentum=0.0, nesterovs_momentum=False
    )
    trainer = make_trainer("cpu", params, opt, reg._train_config(), seqs, y, w)
    idx = np.arange(6)
    _, grads, _ = trainer.loss_and_grads(idx, np.random.default_rng(0))
    for p, g in zip(trainer.param_arrays, grads):
        num = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + 1e-6
            lp = trainer.loss_and_grads(idx, np.random.default_rng(0))[0]
            p[i] = old - 1e-6
            lm = trainer.loss_and_grads(idx, np.random.default_rng(0))[0]
            p[i] = old
            num[i] = (lp - lm) / 2e-6
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-9)


def test_early_stopping_uses_r2_and_restores_best():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 6, 1))
    y = X.sum(axis=(1, 2))
    reg = ConstrainedGRURegressor(
        units=6,
        early_stopping=True,
        max_iter=15,
        random_state=0,
        learning_rate_init=0.01,
        device="cpu",
    ).fit(X, y)
    assert reg.best_loss_ is None
    assert reg.best_validation_score_ == max(reg.validation_scores_)
