"""Faults during training: divergence, interruption, exceptions, thread settings.

A fit either ends with a usable model or leaves the estimator exactly as it
was before the call: never with non-finite weights, and never with fitted
attributes (``classes_``, ``n_features_in_``) that describe other weights.
"""

import warnings

import numba
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import skgru.engine._trainer
import skgru.estimators._base
from skgru import ConstrainedGRUClassifier
from skgru.kernels._numba import numba_threads

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    # Huge learning rates overflow on purpose.
    pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
]


def _data(n=30, T=5, F=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    return X, y


def _est(**kw):
    kw = {"units": 3, "max_iter": 4, "random_state": 0, "device": "cpu", "batch_size": 10, **kw}
    return ConstrainedGRUClassifier(**kw)


def _snapshot(est):
    """Deep copy of the estimator's attributes (arrays copied)."""

    def copy(v):
        if isinstance(v, np.ndarray):
            return v.copy()
        if isinstance(v, list):
            return [copy(x) for x in v]
        if isinstance(v, dict):
            return {k: copy(x) for k, x in v.items()}
        return v

    return {k: copy(v) for k, v in vars(est).items()}


def _assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        va, vb = a[k], b[k]
        if isinstance(va, np.ndarray):
            np.testing.assert_array_equal(va, vb, err_msg=k)
        elif k == "_weights":
            for p, q in zip(va, vb):
                np.testing.assert_array_equal(p, q, err_msg=k)
        elif k == "_optimizer_state":
            assert va.keys() == vb.keys()
            for s in va:
                if isinstance(va[s], list):
                    for p, q in zip(va[s], vb[s]):
                        np.testing.assert_array_equal(p, q, err_msg=f"{k}[{s}]")
                else:
                    assert va[s] == vb[s]
        else:
            assert va == vb or (va != va and vb != vb), k  # NaN == NaN here


# -- divergence -----------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("lr", [1e30, 1e38, 1e300])
def test_huge_learning_rate_raises_or_stays_finite(solver, lr):
    X, y = _data()
    est = _est(solver=solver, learning_rate_init=lr)
    try:
        est.fit(X, y)
    except ValueError as exc:
        assert "Training diverged" in str(exc) and "learning_rate_init" in str(exc)
        # Nothing was committed: the estimator is as unfitted as before.
        assert set(vars(est)) == set(est.get_params())
        with pytest.raises(NotFittedError):
            est.predict(X)
    else:
        assert all(np.isfinite(w).all() for w in est.get_weights())
        try:
            assert np.isfinite(est.predict_proba(X)).all()
        except ValueError as exc:
            assert "not finite" in str(exc)


def test_finite_weights_with_overflowing_output_refuse_to_predict():
    """Found by test_fuzz: the last update of a diverging run is never evaluated.

    Its weights can be finite while the output overflows float32 (here a dense
    kernel near float32's maximum: the logits sum to infinity); predict raises
    instead of returning NaN or infinity.
    """
    X, y = _data()
    est = _est(units=4, max_iter=1).fit(X, y)
    weights = est.get_weights()
    weights[-2] = np.full_like(weights[-2], 3e38)  # finite, but 4 terms overflow
    weights[-2][:, 0] = -3e38
    est.set_weights(weights)
    for method in (est.predict, est.predict_proba, est.predict_log_proba):
        with pytest.raises(ValueError, match="output for sample .* is not finite"):
            method(X)


def test_divergence_message_when_only_the_weights_overflow():
    # float32 weights overflow at the first step while the loss is still finite.
    X, y = _data()
    with pytest.raises(ValueError, match="the weights became NaN or infinite at epoch 1"):
        _est(solver="sgd", learning_rate_init=1e300, batch_size="auto").fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_divergence_in_warm_start_keeps_previous_model(solver):
    X, y = _data()
    est = _est(solver=solver, warm_start=True).fit(X, y)
    before, proba = _snapshot(est), est.predict_proba(X)
    est.set_params(learning_rate_init=1e300, max_iter=20)
    with pytest.raises(ValueError, match="diverged"):
        est.fit(X, y)
    est.set_params(learning_rate_init=1e-3, max_iter=4)
    _assert_same_state(_snapshot(est), before)
    np.testing.assert_array_equal(est.predict_proba(X), proba)


# -- KeyboardInterrupt ------------------------------------------------------------------


@pytest.mark.parametrize("interrupt_at", [1, 4])
def test_keyboard_interrupt_mid_epoch_keeps_best_weights(monkeypatch, interrupt_at):
    X, y = _data()
    original = skgru.engine._trainer.Trainer.run_epoch
    seen = []  # (loss, weights) after each completed epoch
    initial = []

    def run_epoch(self, batches, rng):
        if not initial:
            initial.append(self.get_params())
        if len(seen) + 1 == interrupt_at:
            self.step(batches[0], rng)  # the weights move mid-epoch, then Ctrl-C
            raise KeyboardInterrupt
        loss = original(self, batches, rng)
        seen.append((loss, self.get_params()))
        return loss

    monkeypatch.setattr(skgru.engine._trainer.Trainer, "run_epoch", run_epoch)
    est = _est(max_iter=10, learning_rate_init=0.05)
    with pytest.warns(UserWarning, match=f"after {interrupt_at - 1} complete epochs"):
        est.fit(X, y)
    if seen:
        expected = min(seen, key=lambda s: s[0])[1]  # first epoch with the lowest loss
    else:
        expected = initial[0]
    for p, q in zip(est.get_weights(), expected):
        np.testing.assert_array_equal(p, q)
    assert est.n_iter_ == interrupt_at - 1 == len(est.loss_curve_)
    assert np.isfinite(est.predict_proba(X)).all()  # usable


def test_keyboard_interrupt_outside_the_epoch_loop_propagates_and_restores(monkeypatch):
    X, y = _data()
    est = _est().fit(X, y)
    before = _snapshot(est)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(skgru.estimators._base, "make_trainer", interrupted)
    with pytest.raises(KeyboardInterrupt):
        est.fit(X[:, :, :1], y)
    _assert_same_state(_snapshot(est), before)


# -- exceptions inside fit ----------------------------------------------------------------


def _failing_after(monkeypatch, n_ok, exc=None):
    exc = RuntimeError("injected fault") if exc is None else exc
    original = skgru.engine._trainer.Trainer.run_epoch
    calls = []

    def run_epoch(self, batches, rng):
        calls.append(1)
        if len(calls) > n_ok:
            self.step(batches[0], rng)
            raise exc
        return original(self, batches, rng)

    monkeypatch.setattr(skgru.engine._trainer.Trainer, "run_epoch", run_epoch)


@pytest.mark.parametrize("n_ok", [0, 2])
def test_exception_in_warm_start_fit_keeps_previous_weights(monkeypatch, n_ok):
    X, y = _data()
    est = _est(warm_start=True).fit(X, y)
    before, proba = _snapshot(est), est.predict_proba(X)
    _failing_after(monkeypatch, n_ok)
    with pytest.raises(RuntimeError, match="injected fault"):
        est.fit(X, y)
    _assert_same_state(_snapshot(est), before)
    np.testing.assert_array_equal(est.predict_proba(X), proba)


def test_exception_in_partial_fit_keeps_previous_weights(monkeypatch):
    X, y = _data()
    est = _est()
    est.partial_fit(X, y, classes=[0, 1])
    before = _snapshot(est)
    _failing_after(monkeypatch, 0, MemoryError("injected"))
    with pytest.raises(MemoryError):
        est.partial_fit(X, y)
    _assert_same_state(_snapshot(est), before)


def test_failed_refit_with_other_shapes_restores_every_attribute(monkeypatch):
    """A non-warm refit on 5 features and 3 classes fails: nothing of it remains.

    Before the fix, validation had already set ``n_step_features_=5`` and the
    new ``classes_``, so predict accepted 5 features with a kernel of 2 rows.
    """
    X, y = _data()
    est = _est().fit(X, y)
    before, proba = _snapshot(est), est.predict_proba(X)
    X5, _ = _data(F=5, seed=1)
    _failing_after(monkeypatch, 1)
    with pytest.raises(RuntimeError):
        est.fit(X5, np.arange(len(X5)) % 3)
    _assert_same_state(_snapshot(est), before)
    np.testing.assert_array_equal(est.predict_proba(X), proba)
    with pytest.raises(ValueError, match="expecting 2 features per timestep"):
        est.predict(X5)


def test_failed_first_fit_leaves_an_unfitted_estimator(monkeypatch):
    X, y = _data()
    est = _est()
    _failing_after(monkeypatch, 1)
    with pytest.raises(RuntimeError):
        est.fit(X, y)
    assert set(vars(est)) == set(est.get_params())
    with pytest.raises(NotFittedError):
        est.predict(X)


# -- numba thread settings ----------------------------------------------------------------


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_numba_threads_restored_after_exception(exc):
    previous = numba.get_num_threads()
    with pytest.raises(exc):
        with numba_threads(1):
            assert numba.get_num_threads() == 1
            with numba_threads(10**6):  # clamped to the pool size
                assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
                raise exc
    assert numba.get_num_threads() == previous
    with numba_threads(None):
        assert numba.get_num_threads() == previous
    with numba_threads(0):  # at least one thread
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == previous


def test_numba_threads_unchanged_by_a_failing_fit(monkeypatch):
    X, y = _data()
    previous = numba.get_num_threads()
    _failing_after(monkeypatch, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError):
            _est().fit(X, y)
        monkeypatch.undo()
        with pytest.raises(ValueError):
            _est(learning_rate_init=1e300, solver="sgd").fit(X, y)
    assert numba.get_num_threads() == previous


@pytest.mark.parametrize("early_stopping", [False, True])
def test_scratch_kept_between_epochs_and_dropped_before_validation(monkeypatch, early_stopping):
    # Scratch arrays live across epochs (fresh ones cost page faults every
    # epoch) but not beside a validation pass, and never past the fit.
    events = []
    trainer_cls = skgru.engine._trainer.Trainer
    run_epoch, release = trainer_cls.run_epoch, trainer_cls.release
    validation_score = ConstrainedGRUClassifier._validation_score

    def log(name, original):
        def wrapper(self, *args):
            events.append(name)
            return original(self, *args)

        return wrapper

    monkeypatch.setattr(trainer_cls, "run_epoch", log("epoch", run_epoch))
    monkeypatch.setattr(trainer_cls, "release", log("release", release))
    monkeypatch.setattr(
        ConstrainedGRUClassifier, "_validation_score", log("validate", validation_score)
    )
    X, y = _data(n=40)
    _est(max_iter=3, early_stopping=early_stopping, n_iter_no_change=5).fit(X, y)
    if early_stopping:
        assert events == ["epoch", "release", "validate"] * 3 + ["release"]
    else:
        assert events == ["epoch"] * 3 + ["release"]
