"""Projected-embedding tables at inference (token input, CPU): exact, kept only as promised."""

import gc
import threading
import warnings

import numpy as np
import pytest
from _blas import BLAS_REASON, BLAS_ROWS_BITWISE
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import gru_forward
from scipy.special import softmax

from skgru import ConstrainedGRUClassifier
from skgru.engine._devices import predict_logits
from skgru.kernels.cpu import _kernel_set as _cpu_stack

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _ids(rng, n, T, vocab, p_pad=0.25):
    ids = rng.integers(1, vocab, size=(n, T))
    ids[rng.random((n, T)) < p_pad] = 0
    return ids


def _fit(ids, y, **params):
    defaults = dict(units=6, embedding_dim=5, max_iter=1, random_state=0)
    defaults.update(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ConstrainedGRUClassifier(**defaults).fit(ids, y)


def _direct_logits(clf, ids):
    """Logits without any table: the path that projects each step's embeddings."""
    seqs = clf._check_X_predict(ids)
    return predict_logits("cpu", clf._weights, seqs, clf._train_config(), fitted=False)


def _entry(clf, direction=0):
    """The cache entry ``[tokens seen, table]`` of the first layer's direction, or None."""
    E = clf._weights[0]
    W = clf._weights[1 + 3 * direction]
    return _cpu_stack._TABLES._entries.get((id(E), id(W)))


@settings(max_examples=12, deadline=None)
@given(
    dtype=st.sampled_from(["float32", "float64"]),
    bidirectional=st.booleans(),
    reset_after=st.booleans(),
    num_layers=st.integers(1, 2),
    pooling=st.sampled_from(["last", "mean", "max"]),
    n_jobs=st.sampled_from([1, 2]),
    units=st.integers(1, 40),
    embedding_dim=st.integers(1, 24),
    seed=st.integers(0, 2**16),
)
@pytest.mark.xfail(not BLAS_ROWS_BITWISE, reason=BLAS_REASON, strict=False)
def test_table_predictions_are_bitwise_the_direct_ones(
    dtype, bidirectional, reset_after, num_layers, pooling, n_jobs, units, embedding_dim, seed
):
    rng = np.random.default_rng(seed)
    vocab = 30
    ids = _ids(rng, 50, 11, vocab)
    y = rng.integers(0, 3, size=50)
    clf = _fit(
        ids,
        y,
        vocab_size=vocab,
        dtype=dtype,
        bidirectional=bidirectional,
        reset_after=reset_after,
        num_layers=num_layers,
        pooling=pooling,
        n_jobs=n_jobs,
        units=units,
        embedding_dim=embedding_dim,
    )
    proba = clf.predict_proba(ids)  # 550 token positions >= 30: the tables are built
    for d in range(2 if bidirectional else 1):
        assert _entry(clf, d) is not None and _entry(clf, d)[1] is not None
    direct = _direct_logits(clf, ids)
    table = predict_logits(
        "cpu", clf._weights, clf._check_X_predict(ids), clf._train_config(), fitted=True
    )
    np.testing.assert_array_equal(table, direct)
    # The estimator's own answer comes from the table path and is the same again.
    np.testing.assert_array_equal(clf.predict_proba(ids), proba)
    # A sequence predicted alone (its own tiny batch) gets the same bits.
    np.testing.assert_array_equal(clf.predict_proba(ids[7:8]), proba[7:8])


@pytest.mark.xfail(not BLAS_ROWS_BITWISE, reason=BLAS_REASON, strict=False)
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_both_gate_forms_read_the_table_exactly(reset_after, bidirectional):
    # Both forms read the table's rows in place, each through its own loops.
    rng = np.random.default_rng(7)
    ids = _ids(rng, 70, 13, 45)
    clf = _fit(
        ids,
        np.arange(70) % 3,
        vocab_size=45,
        units=33,
        embedding_dim=9,
        n_jobs=2,
        reset_after=reset_after,
        bidirectional=bidirectional,
    )
    direct = _direct_logits(clf, ids)
    clf.predict_proba(ids)
    assert _entry(clf)[1] is not None
    np.testing.assert_array_equal(clf._logits(clf._check_X_predict(ids)), direct)


@pytest.mark.parametrize("reset_after", [True, False])
def test_table_predictions_match_the_numpy_oracle(reset_after):
    # Independent of both CPU paths: embedding lookup and the float64 NumPy GRU.
    rng = np.random.default_rng(11)
    ids = _ids(rng, 60, 10, 30)
    clf = _fit(ids, np.arange(60) % 3, vocab_size=30, units=12, reset_after=reset_after)
    clf.predict_proba(ids)
    assert _entry(clf)[1] is not None
    E, W, R, b, Wd, bd = [w.astype(np.float64) for w in clf.get_weights()]
    mask = ids != 0
    h_seq, _ = gru_forward(E[ids], W, R, b, mask=mask, reset_after=reset_after)
    pooled = np.zeros((len(ids), clf.units))
    for i in range(len(ids)):
        valid = np.flatnonzero(mask[i])
        if len(valid):
            pooled[i] = h_seq[i, valid[-1]]
    expected = softmax(pooled @ Wd + bd, axis=1)
    np.testing.assert_allclose(clf.predict_proba(ids), expected, rtol=1e-4, atol=1e-5)


def test_table_is_built_once_a_vocabulary_of_tokens_was_predicted():
    rng = np.random.default_rng(0)
    vocab = 1000
    ids = rng.integers(1, vocab, size=(10, 9))  # no padding: 90 positions per call
    clf = _fit(ids, np.arange(10) % 2, vocab_size=vocab)
    first = clf.predict_proba(ids)
    for call in range(2, 12):  # 11 calls: 990 positions < 1000
        np.testing.assert_array_equal(clf.predict_proba(ids), first)
        assert _entry(clf)[0] == 90 * call and _entry(clf)[1] is None
    np.testing.assert_array_equal(clf.predict_proba(ids), first)  # 1080 >= 1000
    table = _entry(clf)[1]
    assert table.shape == (vocab, 3 * clf.units)
    E, W = clf._weights[0], clf._weights[1]
    np.testing.assert_allclose(table, E @ W, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(clf.predict_proba(ids), first)


def test_no_table_over_the_size_limit(monkeypatch):
    rng = np.random.default_rng(1)
    ids = _ids(rng, 40, 8, 20)
    clf = _fit(ids, np.arange(40) % 2, vocab_size=20)
    limit = 20 * 3 * clf.units * 4  # float32: exactly one table
    monkeypatch.setattr(_cpu_stack, "TABLE_MAX_BYTES", limit - 1)
    clf.predict_proba(ids)
    clf.predict_proba(ids)
    assert _entry(clf) is None
    monkeypatch.setattr(_cpu_stack, "TABLE_MAX_BYTES", limit)
    clf.predict_proba(ids)
    assert _entry(clf)[1] is not None


def test_tables_follow_the_weights_they_came_from():
    rng = np.random.default_rng(2)
    ids = _ids(rng, 60, 10, 25)
    y = np.arange(60) % 3
    clf = _fit(ids, y, vocab_size=25)
    before = clf.predict_proba(ids)
    assert _entry(clf)[1] is not None
    old_key = (id(clf._weights[0]), id(clf._weights[1]))

    # New weights through set_weights: the answer follows them, not the old table.
    weights = clf.get_weights()
    weights[0] = weights[0] * 1.5
    clf.set_weights(weights)
    gc.collect()
    assert old_key not in _cpu_stack._TABLES._entries
    after = clf.predict_proba(ids)
    assert not np.array_equal(after, before)
    np.testing.assert_array_equal(after, clf.predict_proba(ids))
    np.testing.assert_array_equal(
        _direct_logits(clf, ids),
        predict_logits(
            "cpu", clf._weights, clf._check_X_predict(ids), clf._train_config(), fitted=True
        ),
    )
    # set_weights copies: writing the caller's arrays afterwards changes nothing.
    weights[0][...] = 0
    np.testing.assert_array_equal(clf.predict_proba(ids), after)

    # A refit replaces the arrays; a dropped model takes its tables with it.
    clf.set_params(max_iter=2).fit(ids, y)
    clf.predict_proba(ids)
    key = (id(clf._weights[0]), id(clf._weights[1]))
    assert _cpu_stack._TABLES._entries[key][1] is not None
    del clf
    gc.collect()
    assert key not in _cpu_stack._TABLES._entries


def test_fit_never_uses_a_table_for_its_validation_scores():
    # Early stopping scores the live weights of the fit, which change in place
    # between epochs: they must not be cached.
    rng = np.random.default_rng(3)
    ids = _ids(rng, 80, 10, 15)
    y = np.arange(80) % 2
    n_before = len(_cpu_stack._TABLES)
    clf = _fit(ids, y, vocab_size=15, early_stopping=True, max_iter=4, n_iter_no_change=10)
    gc.collect()
    assert _entry(clf) is None
    assert len(_cpu_stack._TABLES) <= n_before


def test_concurrent_predictions_share_one_table():
    rng = np.random.default_rng(4)
    ids = _ids(rng, 64, 12, 40)
    clf = _fit(ids, np.arange(64) % 4, vocab_size=40, units=16)
    expected = _direct_logits(clf, ids)
    results = [None] * 4

    def work(i):
        results[i] = [clf._logits(clf._check_X_predict(ids)) for _ in range(3)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    table = _entry(clf)[1]
    assert table is not None
    for per_thread in results:
        for got in per_thread:
            np.testing.assert_array_equal(got, expected)
