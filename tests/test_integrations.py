"""The aeon and sktime adapters: the toolkits' own estimator checks, layouts, pickling.

Skipped where aeon or sktime is not installed (they are optional extras; CI
installs them in a step of their own).
"""

import pickle
import warnings

import numpy as np
import pytest

from skgru import ConstrainedGRUClassifier
from skgru.integrations import to_skgru_layout

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _collection(seed=0, n=16, C=2, T=12, ragged=False):
    rng = np.random.default_rng(seed)
    if ragged:
        X = [rng.normal(size=(C, int(t))) for t in rng.integers(5, T + 1, size=n)]
        y = np.array([int(x[0].sum() > 0) for x in X])
    else:
        X = rng.normal(size=(n, C, T))
        y = (X[:, 0].sum(axis=1) > 0).astype(int)
    y[:2] = [0, 1]
    return X, y


def test_layout_conversion():
    X, _ = _collection()
    np.testing.assert_array_equal(to_skgru_layout(X), X.transpose(0, 2, 1))
    R, _ = _collection(ragged=True)
    assert [a.shape for a in to_skgru_layout(R)] == [(x.shape[1], 2) for x in R]
    pd = pytest.importorskip("pandas")
    frames = [pd.DataFrame(x.T) for x in R]  # sktime's df-list: time on the rows
    for a, b in zip(to_skgru_layout(frames), to_skgru_layout(R)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("toolkit", ["aeon", "sktime"])
def test_adapter_is_the_wrapped_estimator_and_pickles(toolkit):
    pytest.importorskip(toolkit)
    import importlib

    GRUClassifier = importlib.import_module(f"skgru.integrations.{toolkit}").GRUClassifier
    small = ConstrainedGRUClassifier(units=3, max_iter=3, device="cpu")
    for ragged in (False, True):
        X, y = _collection(ragged=ragged)
        if ragged and toolkit == "sktime":  # sktime's unequal-length type: DataFrames
            pd = pytest.importorskip("pandas")
            X = [pd.DataFrame(x.T) for x in X]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = GRUClassifier(small, random_state=0).fit(X, y)
            direct = ConstrainedGRUClassifier(units=3, max_iter=3, device="cpu", random_state=0)
            direct.fit(to_skgru_layout(X), y)
        np.testing.assert_allclose(clf.predict_proba(X), direct.predict_proba(to_skgru_layout(X)))
        np.testing.assert_array_equal(clf.predict(X), direct.predict(to_skgru_layout(X)))
        copy = pickle.loads(pickle.dumps(clf))
        np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    assert small.get_params()["random_state"] is None  # the given estimator is not touched


def test_aeon_estimator_checks():
    pytest.importorskip("aeon")
    from aeon.testing.estimator_checking import check_estimator

    from skgru.integrations.aeon import GRUClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(GRUClassifier, raise_exceptions=False)
    failed = {k: v for k, v in results.items() if v != "PASSED"}
    assert len(results) > 10
    assert not failed, failed


def test_sktime_check_estimator():
    pytest.importorskip("sktime")
    from sktime.utils.estimator_checks import check_estimator

    from skgru.integrations.sktime import GRUClassifier

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(GRUClassifier, raise_exceptions=False, verbose=False)
    failed = {k: v for k, v in results.items() if v != "PASSED"}
    assert len(results) > 100
    assert not failed, failed


def test_missing_toolkit_gives_a_clear_import_error(monkeypatch):
    import builtins
    import importlib
    import sys

    real_import = builtins.__import__

    def no_aeon(name, *args, **kwargs):
        if name == "aeon" or name.startswith("aeon."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_aeon)
    monkeypatch.delitem(sys.modules, "skgru.integrations.aeon", raising=False)
    with pytest.raises(ImportError, match="pip install aeon"):
        importlib.import_module("skgru.integrations.aeon")
