"""scikit-learn compatibility and the MLPClassifier-style training semantics.

Runs scikit-learn's estimator checks, then the fit-loop contract: clone and
nested parameters, pickling, determinism, input forms (2-D, 3-D, ragged),
``partial_fit`` / ``warm_start`` bookkeeping, early stopping with best-weight
restore, divergence and interruption handling, constraints after every step,
gradient clipping and training-only regularisers.
"""

import inspect
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils import compute_sample_weight
from sklearn.utils.estimator_checks import parametrize_with_checks

import skgru.engine._trainer
from skgru import ConstrainedGRUClassifier
from skgru.constraints import MaxNorm, NonNeg, UnitNorm
from skgru.engine._trainer import Trainer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SAMPLE_WEIGHT_REASON = (
    "stochastic minibatch training: repeating a sample changes the batches and the number "
    "of updates per epoch, so weighted and repeated data do not give the same model"
)


def _expected_failed_checks(estimator):
    return {"check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_REASON}


# ``xfail_strict`` exists from scikit-learn 1.8 on: a listed check that starts to
# pass then fails the run, so the list cannot go stale.
_XFAIL_STRICT = (
    {"xfail_strict": True}
    if "xfail_strict" in inspect.signature(parametrize_with_checks).parameters
    else {}
)


@parametrize_with_checks(
    [
        ConstrainedGRUClassifier(
            units=4, max_iter=50, learning_rate_init=0.01, random_state=0, device="cpu"
        )
    ],
    expected_failed_checks=_expected_failed_checks,
    **_XFAIL_STRICT,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# -- helpers -----------------------------------------------------------------------


def _data(seed=0, n=40, T=5, F=2, n_classes=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F))
    score = X[:, :, 0].sum(axis=1) - 0.5 * X[:, -1, -1]
    if n_classes == 2:
        y = (score > 0).astype(int)
    else:
        y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    return X, y


def _ragged(seed=0, n=30, F=2, lengths=(1, 7)):
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(int(rng.integers(lengths[0], lengths[1] + 1)), F)) for _ in range(n)]
    y = np.array([int(x[:, 0].sum() > 0) for x in X])
    return X, y


def _est(**kw):
    params = {"units": 4, "max_iter": 5, "random_state": 0, "device": "cpu", "dtype": "float64"}
    params.update(kw)
    return ConstrainedGRUClassifier(**params)


def _assert_weights_equal(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _weights_differ(a, b):
    return any(not np.array_equal(x, y) for x, y in zip(a, b))


# -- clone, parameters, pickling, determinism -----------------------------------------


def test_clone_and_nested_constraint_params():
    est = ConstrainedGRUClassifier(
        kernel_constraint=MaxNorm(2.0), recurrent_constraint=UnitNorm(axis=1)
    )
    params = est.get_params(deep=True)
    assert params["kernel_constraint__max_value"] == 2.0
    assert params["kernel_constraint__axis"] == 0
    assert params["recurrent_constraint__axis"] == 1
    est.set_params(kernel_constraint__max_value=0.3)
    assert est.kernel_constraint == MaxNorm(0.3)
    assert est.get_params()["kernel_constraint__max_value"] == 0.3

    twin = clone(est)
    assert twin is not est
    assert twin.kernel_constraint is not est.kernel_constraint
    assert twin.kernel_constraint == est.kernel_constraint
    assert twin.get_params() == est.get_params()
    twin.set_params(kernel_constraint__max_value=5.0)
    assert est.kernel_constraint.max_value == 0.3  # clone is independent


def test_clone_of_fitted_is_unfitted():
    X, y = _data()
    est = _est().fit(X, y)
    twin = clone(est)
    with pytest.raises(NotFittedError):
        twin.predict(X)
    with pytest.raises(NotFittedError):
        twin.get_weights()


def test_grid_search_over_nested_constraint_param():
    X, y = _data(n=30)
    grid = GridSearchCV(
        _est(max_iter=2, kernel_constraint=MaxNorm(1.0)),
        {"kernel_constraint__max_value": [0.2, 1.0]},
        cv=2,
    ).fit(X, y)
    assert grid.best_params_["kernel_constraint__max_value"] in (0.2, 1.0)
    W = grid.best_estimator_.get_weights()[0]
    limit = grid.best_params_["kernel_constraint__max_value"]
    assert np.linalg.norm(W, axis=0).max() <= limit + 1e-6


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pickle_round_trip(dtype):
    X, y = _data(n_classes=3)
    est = _est(dtype=dtype, kernel_constraint=MaxNorm(1.5)).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(restored.predict(X), est.predict(X))
    _assert_weights_equal(restored.get_weights(), est.get_weights())
    assert restored.get_params()["kernel_constraint__max_value"] == 1.5
    # A restored model keeps training (warm start) exactly like the original.
    est.set_params(warm_start=True, max_iter=2)
    restored.set_params(warm_start=True, max_iter=2)
    _assert_weights_equal(restored.fit(X, y).get_weights(), est.fit(X, y).get_weights())


def test_determinism_bitwise():
    X, y = _data()
    kw = {"dropout": 0.2, "recurrent_dropout": 0.3, "input_noise": 0.1, "batch_size": 8}
    runs = [_est(dtype="float32", **kw).fit(X, y) for _ in range(2)]
    _assert_weights_equal(runs[0].get_weights(), runs[1].get_weights())
    assert runs[0].loss_curve_ == runs[1].loss_curve_
    other = _est(dtype="float32", **{**kw, "random_state": 1}).fit(X, y)
    assert _weights_differ(other.get_weights(), runs[0].get_weights())


def test_fit_idempotent():
    X, y = _data()
    est = _est(batch_size=10)
    w1 = est.fit(X, y).get_weights()
    curve1 = list(est.loss_curve_)
    X2, y2 = _data(seed=3)
    est.fit(X2, y2)  # something else in between
    w2 = est.fit(X, y).get_weights()
    _assert_weights_equal(w1, w2)
    assert est.loss_curve_ == curve1
    assert est.t_ == 5 * len(y)


# -- input forms -------------------------------------------------------------------


def test_3d_input():
    X, y = _data(T=6, F=3)
    est = _est().fit(X, y)
    assert est.n_features_in_ == 3
    assert est.n_step_features_ == 3
    assert est.predict_proba(X).shape == (len(y), 2)
    # Sequence length is not frozen by fit for 3-D input.
    assert est.predict(X[:, :4]).shape == (len(y),)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :, :2])


def test_2d_input_is_univariate_sequences():
    X3, y = _data(T=6, F=1)
    X2 = X3[:, :, 0]
    est2 = _est().fit(X2, y)
    assert est2.n_features_in_ == 6  # scikit-learn's convention for 2-D input
    assert est2.n_step_features_ == 1
    est3 = _est().fit(X3, y)
    # Same data, same seed: the 2-D and 3-D (T, 1) forms train the same model.
    _assert_weights_equal(est2.get_weights(), est3.get_weights())
    np.testing.assert_array_equal(est2.predict_proba(X2), est3.predict_proba(X3))
    with pytest.raises(ValueError):
        est2.predict(X2[:, :4])


def test_ragged_list_prediction_equals_each_sequence_alone():
    X, y = _ragged()
    est = _est(n_iter_no_change=100).fit(X, y)
    assert est.n_features_in_ == 2
    proba = est.predict_proba(X)
    for i, x in enumerate(X):
        np.testing.assert_array_equal(est.predict_proba([x])[0], proba[i])
    # Order of the list does not matter either.
    perm = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_array_equal(est.predict_proba([X[i] for i in perm]), proba[perm])
    # A 1-D object array of sequences is the same input.
    obj = np.empty(len(X), dtype=object)
    obj[:] = X
    np.testing.assert_array_equal(est.predict_proba(obj), proba)


def test_ragged_univariate_and_equal_length_lists():
    X, y = _data(T=5, F=1)
    as_list = [x for x in X]  # equal lengths, 2-D elements: ragged path
    est = _est().fit(X, y)
    np.testing.assert_array_equal(est.predict_proba(as_list), est.predict_proba(X))
    rng = np.random.default_rng(1)
    uni = [rng.normal(size=int(rng.integers(1, 6))) for _ in range(10)]
    proba = est.predict_proba(uni)
    for i, x in enumerate(uni):
        np.testing.assert_array_equal(est.predict_proba([x[:, None]])[0], proba[i])


def test_zero_padding_in_3d_array_is_not_masked():
    """Only ragged lists are masked: zeros in a dense array are data."""
    X, y = _ragged()
    est = _est().fit(X, y)
    T = max(len(x) for x in X)
    padded = np.zeros((len(X), T, 2))
    for i, x in enumerate(X):
        padded[i, : len(x)] = x
    short = np.array([len(x) < T for x in X])
    assert short.any()
    p_list = est.predict_proba(X)
    p_dense = est.predict_proba(padded)
    np.testing.assert_array_equal(p_dense[~short], p_list[~short])
    assert not np.allclose(p_dense[short], p_list[short])


# -- partial_fit and warm_start ----------------------------------------------------------


def test_partial_fit_semantics():
    X, y = _data(n_classes=3)
    n = len(y)
    est = _est()
    with pytest.raises(ValueError, match="classes"):
        est.partial_fit(X, y)
    est.partial_fit(X[:20], y[:20], classes=[0, 1, 2])
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    assert est.n_iter_ == 1
    assert est.t_ == 20
    assert len(est.loss_curve_) == 1
    for k in range(2, 5):
        w_before = est.get_weights()
        est.partial_fit(X, y)
        assert est.n_iter_ == 1
        assert est.t_ == 20 + (k - 1) * n
        assert len(est.loss_curve_) == k
        assert _weights_differ(w_before, est.get_weights())
    # A subset of the classes is fine; a new label or other classes are not.
    est.partial_fit(X[y < 2], y[y < 2])
    with pytest.raises(ValueError):
        est.partial_fit(X, np.where(y == 2, 5, y))
    with pytest.raises(ValueError):
        est.partial_fit(X, y, classes=[0, 1, 2, 3])
    # fit (no warm start) starts over.
    est.set_params(max_iter=2).fit(X, y)
    assert est.t_ == 2 * n and len(est.loss_curve_) == 2 and est.n_iter_ == 2


def test_partial_fit_rejects_early_stopping():
    X, y = _data()
    with pytest.raises(ValueError, match="early_stopping"):
        _est(early_stopping=True).partial_fit(X, y, classes=[0, 1])


def test_warm_start_semantics():
    X, y = _data(n_classes=3)
    n = len(y)
    est = _est(warm_start=True, max_iter=3, n_iter_no_change=100)
    est.fit(X, y)
    assert est.n_iter_ == 3 and est.t_ == 3 * n and len(est.loss_curve_) == 3
    first_curve = list(est.loss_curve_)
    est.fit(X, y)
    assert est.n_iter_ == 3 and est.t_ == 6 * n and len(est.loss_curve_) == 6
    assert est.loss_curve_[:3] == first_curve
    # Other classes: ValueError, and the fitted model is left as it was.
    w = est.get_weights()
    t, curve = est.t_, list(est.loss_curve_)
    with pytest.raises(ValueError, match="classes"):
        est.fit(X[y < 2], y[y < 2])
    _assert_weights_equal(est.get_weights(), w)
    assert est.t_ == t and est.loss_curve_ == curve
    # Without warm start everything restarts.
    est.set_params(warm_start=False).fit(X, y)
    assert est.t_ == 3 * n and len(est.loss_curve_) == 3


# -- stopping rules ------------------------------------------------------------------------


def test_convergence_warning_at_max_iter():
    X, y = _data()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        _est(max_iter=2).fit(X, y)


def test_no_convergence_warning_when_stopping_early():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = _est(max_iter=500, tol=10.0, n_iter_no_change=1).fit(X, y)
    # Epoch 1 improves on inf; epochs 2 and 3 do not improve by tol=10, the count
    # reaches 2 > n_iter_no_change=1 and training stops (MLPClassifier's rule).
    assert est.n_iter_ == 3
    assert est.best_loss_ == min(est.loss_curve_)
    assert est.validation_scores_ is None and est.best_validation_score_ is None


def test_validation_data_restores_best_weights():
    X, y = _data(n=60, n_classes=3)
    Xv, yv = _data(seed=9, n=31, n_classes=3)
    kw = {"max_iter": 8, "n_iter_no_change": 100, "learning_rate_init": 0.02, "batch_size": 10}
    est = _est(**kw).fit(X, y, validation_data=(Xv, yv))
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_ == 8
    assert est.best_loss_ is None
    assert est.best_validation_score_ == max(scores)
    assert all(abs(s * len(yv) - round(s * len(yv))) < 1e-9 for s in scores)  # accuracies on yv
    assert est.score(Xv, yv) == pytest.approx(est.best_validation_score_, abs=1e-12)
    # The restored weights are those of the best epoch: the same run stopped there.
    best_epoch = int(np.argmax(scores)) + 1
    ref = _est(**{**kw, "max_iter": best_epoch}).fit(X, y, validation_data=(Xv, yv))
    _assert_weights_equal(est.get_weights(), ref.get_weights())
    assert ref.validation_scores_ == scores[:best_epoch]


def test_early_stopping_internal_split():
    X, y = _data(n=80)
    est = _est(early_stopping=True, max_iter=300, n_iter_no_change=2).fit(X, y)
    assert est.best_loss_ is None
    assert isinstance(est.validation_scores_, list)
    assert len(est.validation_scores_) == est.n_iter_ < 300
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert len(est.loss_curve_) == est.n_iter_
    # Fewer than 2 validation samples is an error.
    with pytest.raises(ValueError, match="validation"):
        _est(early_stopping=True, validation_fraction=0.01).fit(X[:20], y[:20])


def test_class_weight_balanced_equals_balanced_sample_weight():
    X, y = _data(n=40)
    y = np.where(np.arange(40) < 30, 0, 1)  # imbalanced
    a = _est(class_weight="balanced").fit(X, y)
    b = _est().fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    _assert_weights_equal(a.get_weights(), b.get_weights())
    c = _est().fit(X, y)
    assert _weights_differ(a.get_weights(), c.get_weights())
    d = _est(class_weight={0: 1.0, 1: 3.0}).fit(X, y)
    e = _est().fit(X, y, sample_weight=np.where(y == 1, 3.0, 1.0))
    _assert_weights_equal(d.get_weights(), e.get_weights())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_raises_on_fresh_model():
    X, y = _data()
    # Note: learning_rate_init=1e6 only makes the loss huge (about 5e5), not non-finite,
    # so it does not count as divergence (MLPClassifier's rule); 1e38 overflows float32.
    est = _est(dtype="float32", solver="sgd", momentum=0.9, learning_rate_init=1e38, max_iter=20)
    with pytest.raises(ValueError, match="diverged"):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "solver",
    ["adam", "sgd"],
)
def test_divergence_raises_and_keeps_previous_model(solver):
    X, y = _data()
    est = _est(
        dtype="float32", solver=solver, momentum=0.9, learning_rate_init=0.01, warm_start=True
    ).fit(X, y)
    w = est.get_weights()
    proba = est.predict_proba(X)
    t, curve, n_iter = est.t_, list(est.loss_curve_), est.n_iter_
    est.set_params(learning_rate_init=1e38, max_iter=20)
    with pytest.raises(ValueError, match="diverged"):
        est.fit(X, y)
    _assert_weights_equal(est.get_weights(), w)
    np.testing.assert_array_equal(est.predict_proba(X), proba)
    assert est.t_ == t and est.loss_curve_ == curve and est.n_iter_ == n_iter


@pytest.mark.parametrize(
    "solver",
    [
        "adam",
        "sgd",
        "rmsprop",
    ],
)
def test_warm_start_uses_current_learning_rate(solver):
    """A warm-started fit steps with the current learning_rate_init (as MLPClassifier)."""
    X, y = _data()
    kw = {"solver": solver, "momentum": 0.0, "max_iter": 1, "batch_size": 40, "shuffle": False}
    est = _est(warm_start=True, learning_rate_init=0.01, **kw).fit(X, y)
    w0 = est.get_weights()
    est.set_params(learning_rate_init=1e-12).fit(X, y)
    moved = max(np.abs(a - b).max() for a, b in zip(est.get_weights(), w0))
    assert moved < 1e-9


def test_keyboard_interrupt_mid_epoch_keeps_best_weights(monkeypatch):
    X, y = _data()
    kw = {"batch_size": 8, "learning_rate_init": 0.05, "max_iter": 10}
    original = Trainer.run_epoch
    calls = {"n": 0}

    def run_epoch(self, batches, rng):
        calls["n"] += 1
        if calls["n"] == 3:
            self.step(batches[0], rng)  # the parameters move, then the interrupt
            raise KeyboardInterrupt
        return original(self, batches, rng)

    monkeypatch.setattr(skgru.engine._trainer.Trainer, "run_epoch", run_epoch)
    est = _est(**kw)
    with pytest.warns(UserWarning, match="KeyboardInterrupt"):
        est.fit(X, y)
    assert calls["n"] == 3
    assert est.n_iter_ == 2 and len(est.loss_curve_) == 2
    w = est.get_weights()
    assert all(np.isfinite(p).all() for p in w)
    proba = est.predict_proba(X)
    assert np.isfinite(proba).all()

    monkeypatch.setattr(skgru.engine._trainer.Trainer, "run_epoch", original)
    best_epoch = int(np.argmin(est.loss_curve_)) + 1
    ref = _est(**{**kw, "max_iter": best_epoch}).fit(X, y)
    _assert_weights_equal(w, ref.get_weights())
    assert ref.loss_curve_ == est.loss_curve_[:best_epoch]


# -- constraints, clipping, regularisers ------------------------------------------------------


def test_constraint_applied_after_every_step_not_at_init(monkeypatch):
    X, y = _data()
    # The same tiny rate before and after set_weights.
    est = _est(
        solver="sgd",
        momentum=0.0,
        max_iter=1,
        warm_start=True,
        batch_size=10,
        learning_rate_init=1e-12,
    ).fit(X, y)
    W, R, b, Wd, bd = est.get_weights()
    W = 3.0 * W / np.linalg.norm(W, axis=0).min()  # every column norm >= 3 > 0.3
    est.set_weights([W, R, b, Wd, bd])
    assert np.linalg.norm(est.get_weights()[0], axis=0).min() > 0.3  # not projected by set

    seen = []
    original = Trainer._step  # the per-batch step run_epoch calls

    def step(self, idx, rng, handle, acc):
        out = original(self, idx, rng, handle, acc)
        seen.append(np.linalg.norm(self.param_arrays[0], axis=0).max())
        return out

    monkeypatch.setattr(skgru.engine._trainer.Trainer, "_step", step)
    est.set_params(kernel_constraint=MaxNorm(0.3), learning_rate_init=1e-12)
    est.fit(X, y)
    assert len(seen) == 4  # 40 samples, batches of 10: projected after each step
    assert max(seen) <= 0.3 + 1e-6
    norms = np.linalg.norm(est.get_weights()[0], axis=0)
    assert norms.max() <= 0.3 + 1e-6
    # With a negligible step the projection lands on the bound (Keras formula, eps=1e-7).
    np.testing.assert_allclose(norms, 0.3, rtol=1e-5)


def test_all_three_constraints_after_fit():
    X, y = _data()
    est = _est(
        kernel_constraint=MaxNorm(0.3),
        recurrent_constraint="non_neg",
        bias_constraint=MaxNorm(0.1),
        learning_rate_init=0.05,
    ).fit(X, y)
    W, R, b, _, _ = est.get_weights()
    assert np.linalg.norm(W, axis=0).max() <= 0.3 + 1e-6
    assert R.min() >= 0
    assert b.shape == (2, 12)
    assert np.linalg.norm(b, axis=0).max() <= 0.1 + 1e-6
    nn = _est(recurrent_constraint=NonNeg()).fit(X, y)
    assert nn.get_weights()[1].min() >= 0


def _one_step_est(lr, n):
    """Plain full-batch SGD, one step per fit, continuing from the current weights."""
    return _est(
        solver="sgd",
        momentum=0.0,
        learning_rate_init=lr,
        max_iter=1,
        batch_size=n,
        shuffle=False,
        warm_start=True,
    )


@pytest.mark.parametrize(
    "clip", [{"clipnorm": 0.01}, {"clipvalue": 1e-3}, {"global_clipnorm": 0.02}]
)
def test_clipping_bounds_one_sgd_step(clip):
    X, y = _data(n_classes=3)
    n = len(y)
    lr = 1.0
    est = _one_step_est(lr, n).fit(X, y)
    w0 = est.get_weights()
    est.set_params(**clip)
    w1 = est.fit(X, y).get_weights()
    deltas = [a - b for a, b in zip(w1, w0)]
    assert all(np.isfinite(d).all() for d in deltas)
    ((name, c),) = clip.items()
    if name == "clipvalue":
        biggest = max(np.abs(d).max() for d in deltas)
        assert biggest <= lr * c * (1 + 1e-9)
        assert biggest == pytest.approx(lr * c, rel=1e-9)  # some gradient was clipped
    elif name == "clipnorm":
        norms = [np.linalg.norm(d) for d in deltas]
        assert max(norms) <= lr * c * (1 + 1e-9)
        assert max(norms) == pytest.approx(lr * c, rel=1e-9)
    else:
        total = np.sqrt(sum(np.sum(d * d) for d in deltas))
        assert total == pytest.approx(lr * c, rel=1e-9)
    # A huge threshold changes nothing.
    est.set_weights(w0).set_params(**{name: 1e9})
    ref = _one_step_est(lr, n).fit(X, y)
    ref.set_weights(w0)
    _assert_weights_equal(est.fit(X, y).get_weights(), ref.fit(X, y).get_weights())


@pytest.mark.parametrize("clip", [{"clipnorm": 1.0}, {"clipvalue": 0.5}, {"global_clipnorm": 1.0}])
@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_clipping_options_run(clip, solver):
    X, y = _data()
    est = _est(solver=solver, **clip).fit(X, y)
    assert all(np.isfinite(p).all() for p in est.get_weights())
    assert est.predict(X).shape == y.shape


@pytest.mark.parametrize(
    "pair",
    [
        {"clipnorm": 1.0, "clipvalue": 1.0},
        {"clipnorm": 1.0, "global_clipnorm": 1.0},
        {"clipvalue": 1.0, "global_clipnorm": 1.0},
    ],
)
def test_two_clipping_modes_raise(pair):
    X, y = _data()
    with pytest.raises(ValueError, match="Only one of"):
        _est(**pair).fit(X, y)
    with pytest.raises(ValueError, match="Only one of"):
        _est(**pair).partial_fit(X, y, classes=[0, 1])


@pytest.mark.parametrize(
    "reg", [{"dropout": 0.3}, {"recurrent_dropout": 0.3}, {"input_noise": 0.2}]
)
@pytest.mark.parametrize("reset_after", [True, False])
def test_regularisers_change_training_not_prediction(reg, reset_after):
    X, y = _data()
    plain = _est(reset_after=reset_after).fit(X, y)
    noisy = _est(reset_after=reset_after, **reg).fit(X, y)
    assert _weights_differ(plain.get_weights(), noisy.get_weights())
    p1 = noisy.predict_proba(X)
    np.testing.assert_array_equal(noisy.predict_proba(X), p1)  # deterministic
    # Prediction is dropout- and noise-free: the plain model with the same weights agrees.
    plain.set_weights(noisy.get_weights())
    np.testing.assert_array_equal(plain.predict_proba(X), p1)


def test_dropout_rate_one_is_rejected():
    # dropout is validated to [0, 1) (Keras would treat 1.0 as "no dropout").
    X, y = _data()
    with pytest.raises(ValueError):
        _est(dropout=1.0).fit(X, y)
