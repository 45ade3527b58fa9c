"""The ``learning_rate`` schedule: "adaptive" divides the rate by 5 on each plateau."""

import numpy as np
import pytest

from skgru import ConstrainedGRUClassifier, ConstrainedGRURegressor


def _data(n=12, T=5, F=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F)).astype(np.float32)
    return X, np.arange(n) % 2


def _plateau_schedule(lr0, n_iter_no_change):
    """Epochs and final rate when no epoch ever counts as an improvement.

    The first epoch always improves on the initial best (infinity); after it,
    every ``n_iter_no_change + 1`` epochs make a plateau, which divides the
    rate while it is above 1e-6 and otherwise stops training.
    """
    divisions, lr = 0, lr0
    while lr > 1e-6:
        lr /= 5.0
        divisions += 1
    return 1 + (divisions + 1) * (n_iter_no_change + 1), lr


@pytest.mark.parametrize("Estimator", [ConstrainedGRUClassifier, ConstrainedGRURegressor])
@pytest.mark.parametrize("n_iter_no_change", [1, 2])
def test_adaptive_divides_by_five_until_spent(Estimator, n_iter_no_change):
    X, y = _data()
    # A tolerance no loss change can beat: every epoch after the first is a non-improvement.
    est = Estimator(
        units=3,
        learning_rate="adaptive",
        learning_rate_init=1e-3,
        tol=1e9,
        n_iter_no_change=n_iter_no_change,
        max_iter=500,
        random_state=0,
    ).fit(X, y)
    epochs, lr = _plateau_schedule(1e-3, n_iter_no_change)
    assert est.n_iter_ == epochs
    # Adam's per-step rate is the scheduled rate times its bias correction.
    t = est._optimizer_state["t"]
    correction = np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
    assert est._optimizer_state["learning_rate"] == pytest.approx(lr * correction, rel=1e-9)


def test_constant_stops_at_the_first_plateau():
    X, y = _data()
    est = ConstrainedGRUClassifier(
        units=3, tol=1e9, n_iter_no_change=2, max_iter=500, random_state=0
    ).fit(X, y)
    assert est.n_iter_ == 1 + (2 + 1)
    t = est._optimizer_state["t"]
    correction = np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
    assert est._optimizer_state["learning_rate"] == pytest.approx(1e-3 * correction, rel=1e-9)


def test_adaptive_with_early_stopping_reads_the_validation_score():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 4, 1)).astype(np.float32)
    y = np.arange(40) % 2
    est = ConstrainedGRUClassifier(
        units=3,
        learning_rate="adaptive",
        early_stopping=True,
        tol=1e9,
        n_iter_no_change=1,
        max_iter=500,
        random_state=0,
    ).fit(X, y)
    epochs, lr = _plateau_schedule(1e-3, 1)
    assert est.n_iter_ == epochs
    assert len(est.validation_scores_) == epochs


def test_adaptive_matches_constant_until_the_first_plateau():
    # Before any plateau the two schedules take the same steps: same weights.
    X, y = _data()
    kw = dict(units=3, max_iter=4, tol=0.0, n_iter_no_change=10, random_state=0)
    a = ConstrainedGRUClassifier(learning_rate="adaptive", **kw).fit(X, y)
    c = ConstrainedGRUClassifier(learning_rate="constant", **kw).fit(X, y)
    for wa, wc in zip(a.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wa, wc)


@pytest.mark.parametrize("solver", ["sgd", "rmsprop"])
def test_adaptive_scales_every_solver(solver):
    X, y = _data()
    est = ConstrainedGRUClassifier(
        units=3,
        solver=solver,
        learning_rate="adaptive",
        learning_rate_init=1e-3,
        tol=1e9,
        n_iter_no_change=1,
        max_iter=500,
        random_state=0,
    ).fit(X, y)
    epochs, lr = _plateau_schedule(1e-3, 1)
    assert est.n_iter_ == epochs
    assert est._optimizer_state["learning_rate"] == pytest.approx(lr, rel=1e-9)


def test_bad_schedule_is_refused():
    X, y = _data()
    with pytest.raises(ValueError, match="learning_rate"):
        ConstrainedGRUClassifier(learning_rate="invscaling").fit(X, y)
