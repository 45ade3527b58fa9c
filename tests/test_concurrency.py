"""Determinism across processes, thread-safe prediction, batched prediction.

* The same ``random_state`` gives bitwise the same model on the CPU whether a
  surrounding GridSearchCV runs its fits in this process or in workers.
* ``predict`` on one fitted model from several threads at once gives what a
  serial call gives (the kernels release the GIL, so calls really overlap).
* A large input is predicted in batches of at most 256 sequences, and the
  result is bitwise the one of predicting it in small chunks.
"""

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, StratifiedKFold

import skgru.kernels.cpu._kernel_set
from skgru import ConstrainedGRUClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _est(**kw):
    kw = {"units": 3, "max_iter": 3, "random_state": 0, "device": "cpu", **kw}
    return ConstrainedGRUClassifier(**kw)


def _data(n=40, T=6, F=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    return X, y


def _ragged(n, F=2, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(1 + (7 * i) % 9, F)) for i in range(n)]


@pytest.mark.slow
def test_grid_search_is_bitwise_reproducible_across_n_jobs():
    X, y = _data()
    grid = {"units": [2, 3], "learning_rate_init": [0.01, 0.05]}
    results = []
    for n_jobs in (1, 2):
        search = GridSearchCV(
            _est(dropout=0.2, recurrent_dropout=0.1),  # exercises the host-side random draws
            grid,
            cv=StratifiedKFold(2),
            n_jobs=n_jobs,
            return_train_score=True,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(X, y)
        results.append(search)
    a, b = results
    for key in ("split0_test_score", "split1_test_score", "split0_train_score"):
        np.testing.assert_array_equal(a.cv_results_[key], b.cv_results_[key])
    assert a.best_params_ == b.best_params_
    for wa, wb in zip(a.best_estimator_.get_weights(), b.best_estimator_.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_same_seed_same_weights_in_this_process():
    X, y = _data()
    w1 = _est(dropout=0.3).fit(X, y).get_weights()
    w2 = _est(dropout=0.3).fit(X, y).get_weights()
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("form", ["3d", "ragged"])
def test_predict_is_thread_safe(form):
    X, y = _data()
    est = _est().fit(X, y) if form == "3d" else _est().fit(_ragged(40), y)
    chunks = [_data(n=60, seed=s)[0] for s in range(8)]
    if form == "ragged":
        chunks = [_ragged(60, seed=s) for s in range(8)]
    serial = [(est.predict_proba(c), est.predict(c), est.predict_log_proba(c)) for c in chunks]

    def work(i):
        c = chunks[i % len(chunks)]
        return i, (est.predict_proba(c), est.predict(c), est.predict_log_proba(c))

    with ThreadPoolExecutor(max_workers=6) as pool:
        for i, got in pool.map(work, range(48)):
            for g, s in zip(got, serial[i % len(chunks)]):
                np.testing.assert_array_equal(g, s)


@pytest.mark.parametrize("form", ["3d", "2d", "ragged", "tokens"])
def test_large_input_is_predicted_in_bounded_batches(monkeypatch, form):
    n = 700
    rng = np.random.default_rng(5)
    if form == "3d":
        X = rng.normal(size=(n, 5, 2))
        est = _est()
    elif form == "2d":
        X = rng.normal(size=(n, 5))
        est = _est()
    elif form == "ragged":
        X = _ragged(n)
        est = _est()
    else:
        X = rng.integers(0, 20, size=(n, 7))
        est = _est(embedding_dim=3, pooling="mean")
    y = np.arange(n) % 3
    est.fit(X[:60], y[:60])

    sizes = []
    kernels = skgru.kernels.cpu._kernel_set._cpu
    forward_part = kernels.gru_forward_part

    def recording_forward(*args):
        b0, b1 = args[-2:]
        sizes.append(b1 - b0)
        return forward_part(*args)

    monkeypatch.setattr(kernels, "gru_forward_part", recording_forward)
    whole = est.predict_proba(X)
    assert max(sizes) <= 256 and sum(sizes) == n and len(sizes) >= 3
    monkeypatch.undo()
    pieces = np.concatenate([est.predict_proba(X[i : i + 7]) for i in range(0, n, 7)])
    np.testing.assert_array_equal(whole, pieces)
    # Order does not matter either: each sequence's result is independent of its batch.
    order = rng.permutation(n)
    shuffled = [X[i] for i in order] if form == "ragged" else X[order]
    np.testing.assert_array_equal(est.predict_proba(shuffled), whole[order])
