"""Hypothesis fuzz of the public API: every call succeeds with finite output or
raises ValueError / TypeError, never anything else and never a crash.

Inputs are drawn over the forms the estimator accepts (3-D, 2-D, ragged lists,
token ids) and many it must refuse: empty shapes, zero-length sequences,
int/bool/object/str/complex dtypes, NaN and infinity anywhere, label arrays of
the wrong length or with one class, and a few hyper-parameters, valid or not.
"""

import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from skgru import ConstrainedGRUClassifier  # noqa: E402

ALLOWED = (ValueError, TypeError)
FORMS = ("3d", "2d", "ragged", "tokens", "list3d")
DTYPES = ("float64", "float32", "int", "bool", "object", "str", "complex")
VALID_DTYPES = ("float64", "float32", "int", "bool", "object")


def _broad(draw):
    """About 40% of the draws are corrupted; the rest exercise the success path."""
    return draw(st.integers(0, 9)) >= 6


@st.composite
def inputs(draw, form=None, broad=None):
    form = form or draw(st.sampled_from(FORMS))
    broad = _broad(draw) if broad is None else broad
    n = draw(st.integers(0, 6) if broad else st.integers(4, 9))
    T = draw(st.integers(0, 4) if broad else st.integers(1, 4))
    F = draw(st.integers(0, 3) if broad else st.integers(1, 3))
    if broad:
        dtype = draw(st.sampled_from(DTYPES))
    else:
        dtype = "int" if form == "tokens" else draw(st.sampled_from(VALID_DTYPES))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if form == "tokens":
        X = rng.integers(-1 if broad and draw(st.booleans()) else 0, 8, size=(n, T))
    elif form == "ragged":
        lengths = st.integers(0, 4) if broad else st.integers(1, 4)
        X = [rng.normal(size=(draw(lengths), F)) for _ in range(n)]
    else:
        X = rng.normal(size=(n, T, F) if form in ("3d", "list3d") else (n, T))
    if broad and draw(st.booleans()):
        # NaN or infinity somewhere (in one sequence of a ragged list).
        bad = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e300]))
        if form == "tokens":
            X = X.astype(float)
        target = X[draw(st.integers(0, n - 1))] if form == "ragged" and n else X
        if isinstance(target, np.ndarray) and target.size:
            target.flat[draw(st.integers(0, target.size - 1))] = bad
    if form != "ragged":
        X = _cast(X, dtype)
    elif dtype in ("str", "int", "complex"):
        X = [_cast(a, dtype) for a in X]
    if form == "list3d":
        X = X.tolist()
    return form, X


def _cast(X, dtype):
    if dtype in ("float64", "float32"):
        return X.astype(dtype)
    if dtype == "int":
        return np.nan_to_num(X, posinf=0, neginf=0).astype(int)
    if dtype == "bool":
        return X > 0
    if dtype == "object":
        return X.astype(object)
    if dtype == "complex":
        return X.astype(complex)
    return X.astype(str)


@st.composite
def labels(draw, n):
    kinds = ["int", "str", "one-class", "float-nan", "wrong-length"]
    kind = draw(st.sampled_from(kinds if _broad(draw) else kinds[:2]))
    k = draw(st.integers(2, 3))
    if kind == "int":
        return np.arange(n) % k
    if kind == "str":
        return np.array(["a", "b", "c"])[np.arange(n) % k]
    if kind == "one-class":
        return np.zeros(n, dtype=int)
    if kind == "float-nan":
        y = (np.arange(n) % k).astype(float)
        if n:
            y[0] = np.nan
        return y
    return np.arange(n + 1) % k


@st.composite
def params(draw, form):
    broad = _broad(draw)
    p = {
        "units": draw(st.sampled_from([1, 2, 3, 0] if broad else [1, 2, 3])),
        "max_iter": draw(st.integers(1, 2)),
        "dropout": draw(st.sampled_from([0.0, 0.3, 1.0] if broad else [0.0, 0.3])),
        "reset_after": draw(st.booleans()),
        "solver": draw(st.sampled_from(["adam", "sgd", "rmsprop"])),
        "batch_size": draw(st.sampled_from(["auto", 1, 3, 0] if broad else ["auto", 1, 3])),
        "learning_rate_init": draw(st.sampled_from([1e-3, 0.5, 1e30] if broad else [1e-3, 0.5])),
        "pooling": draw(st.sampled_from(["last", "mean", "max"])),
        "early_stopping": broad and draw(st.booleans()),
        "random_state": 0,
        "device": "cpu",
    }
    if form == "tokens":
        p["embedding_dim"] = draw(st.sampled_from([2, 3]))
    return p


def _check_output(est, X, n):
    proba = est.predict_proba(X)
    assert proba.shape[0] == n and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-4)
    pred = est.predict(X)
    assert pred.shape[0] == n and set(pred) <= set(est.classes_)


def _call(fn, *args, **kwargs):
    """Run fn; return (ok, result). Only ValueError / TypeError may escape as refusals."""
    try:
        return True, fn(*args, **kwargs)
    except ALLOWED:
        return False, None


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_public_api_fuzz(data):
    form, X = data.draw(inputs())
    n = len(X)
    y = data.draw(labels(n))
    est = ConstrainedGRUClassifier(**data.draw(params(form)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok, _ = _call(est.fit, X, y)
        if ok:
            assert all(np.isfinite(w).all() for w in est.get_weights())
            # A diverged run can keep finite weights whose output overflows:
            # predict then refuses with a ValueError.
            _call(_check_output, est, X, n)
            # Predict on another draw of the same form: works or is refused cleanly.
            _, X2 = data.draw(inputs(form, broad=_broad(data.draw)))
            _call(_check_output, est, X2, len(X2))
            if not est.early_stopping:
                ok3, _ = _call(est.partial_fit, X, y)
                if ok3:
                    assert all(np.isfinite(w).all() for w in est.get_weights())
        else:
            # A refused fit leaves an unfitted estimator.
            assert set(vars(est)) == set(est.get_params(deep=False))
            ok, _ = _call(est.predict, X)
            assert not ok
        classes = np.unique(y[~(y != y)]) if y.dtype.kind == "f" else np.unique(y)
        ok, _ = _call(
            ConstrainedGRUClassifier(**{**est.get_params(), "early_stopping": False}).partial_fit,
            X,
            y,
            classes=classes,
        )
