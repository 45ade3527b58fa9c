"""Exact streaming: GRUStream's outputs are bitwise the estimator's on every prefix."""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skgru import ConstrainedGRUClassifier, ConstrainedGRURegressor, GRUStream

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _fit(Est, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Est(max_iter=2, random_state=0, device="cpu", **params).fit(X, y)


def _chunks(T, sizes):
    """Consecutive chunk bounds covering ``range(T)`` with the drawn sizes (cycled)."""
    bounds, t, i = [], 0, 0
    while t < T:
        k = min(sizes[i % len(sizes)], T - t)
        bounds.append((t, t + k))
        t, i = t + k, i + 1
    return bounds


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    units=st.integers(1, 5),
    n_features=st.integers(1, 3),
    T=st.integers(1, 9),
    num_layers=st.integers(1, 3),
    pooling=st.sampled_from(["last", "mean", "max"]),
    reset_after=st.booleans(),
    dtype=st.sampled_from(["float32", "float64"]),
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_stream_equals_predict_proba_of_every_prefix(
    units, n_features, T, num_layers, pooling, reset_after, dtype, sizes, seed
):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(7, T, n_features))
    y = np.arange(7) % 3
    clf = _fit(
        ConstrainedGRUClassifier, X, y, units=units, num_layers=num_layers,
        pooling=pooling, reset_after=reset_after, dtype=dtype,
    )  # fmt: skip
    stream = GRUStream(clf, n_streams=7)
    for t0, t1 in _chunks(T, sizes):
        steps = stream.predict_proba(X[:, t0:t1], every_step=True)
        assert steps.shape == (7, t1 - t0, 3)
        for j in range(t1 - t0):
            np.testing.assert_array_equal(steps[:, j], clf.predict_proba(X[:, : t0 + j + 1]))
    assert (stream.n_steps_ == T).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pooling=st.sampled_from(["last", "mean", "max"]),
    num_layers=st.integers(1, 2),
    T=st.integers(1, 8),
    seed=st.integers(0, 2**16),
)
def test_token_streams_with_padding_ids(pooling, num_layers, T, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 6, size=(6, T))  # id 0 (padding) anywhere is masked
    y = np.arange(6) % 2
    clf = _fit(
        ConstrainedGRUClassifier, list(ids) + [np.array([1, 2])], list(y) + [1],
        units=3, embedding_dim=2, vocab_size=6, pooling=pooling, num_layers=num_layers,
    )  # fmt: skip
    stream = GRUStream(clf, n_streams=6)
    for t in range(T):
        proba = stream.predict_proba(ids[:, t])  # one token per stream
        np.testing.assert_array_equal(proba, clf.predict_proba(list(ids[:, : t + 1])))
    np.testing.assert_array_equal(stream.n_steps_, (ids != 0).sum(axis=1))


def test_ragged_chunks_streams_subsets_and_reset():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 10, 2))
    # float64: these streams sit at other rows than in the batches they are compared
    # with, and some BLAS builds round a float32 row by its position (tests/_blas.py).
    clf = _fit(ConstrainedGRUClassifier, X, [0, 1, 0, 1], units=4, pooling="mean", dtype="float64")
    stream = GRUStream(clf, n_streams=4)
    # Chunks of different lengths per stream, and streams fed at different times.
    stream.predict_proba([X[0, :3], X[1, :1], X[2, :5], X[3, :2]])
    stream.predict_proba([X[0, 3:4], X[2, 5:9]], streams=[0, 2])
    proba = stream.predict_proba([X[1, 1:10], X[3, 2:6]], streams=[1, 3])
    np.testing.assert_array_equal(proba, clf.predict_proba([X[1], X[3, :6]]))
    np.testing.assert_array_equal(stream.n_steps_, [4, 10, 9, 6])
    stream.reset(streams=[1])
    proba = stream.predict_proba(X[:, 9:10][[1]], streams=[1])
    np.testing.assert_array_equal(proba, clf.predict_proba(X[1:2, 9:10]))
    # Pickled mid-stream, the copy goes on where the stream stood.
    copy = pickle.loads(pickle.dumps(stream))
    np.testing.assert_array_equal(copy.predict_proba(X[:, :1]), stream.predict_proba(X[:, :1]))


def test_univariate_2d_model_and_regressor_and_transform():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(9, 8))  # 2-D: univariate sequences
    y = rng.normal(size=(9, 2))
    reg = _fit(ConstrainedGRURegressor, X, y, units=3, pooling="max", num_layers=2)
    stream = GRUStream(reg, n_streams=9)
    first = stream.predict(X[:, :5])  # 5 steps of each univariate stream
    np.testing.assert_array_equal(first, reg.predict(X[:, :5, None]))
    states = stream.transform(X[:, 5:], every_step=True)
    assert states.shape == (9, 3, 3)
    np.testing.assert_array_equal(states[:, -1], reg.transform(X))
    clf = _fit(ConstrainedGRUClassifier, X, np.arange(9) % 2, units=3)
    labels = GRUStream(clf, 9).predict(X, every_step=True)
    assert labels.shape == (9, 8)
    np.testing.assert_array_equal(labels[:, -1], clf.predict(X))


def test_refusals():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(6, 4, 1))
    y = np.arange(6) % 2
    bi = _fit(ConstrainedGRUClassifier, X, y, units=2, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional model cannot be streamed"):
        GRUStream(bi)
    clf = _fit(ConstrainedGRUClassifier, X, y, units=2)
    clf.set_params(device="cuda")
    with pytest.raises(ValueError, match="CPU only"):
        GRUStream(clf)
    clf.set_params(device="cpu")
    stream = GRUStream(clf, n_streams=2)
    with pytest.raises(ValueError, match="one row per stream"):
        stream.predict_proba(X[:3, :1])
    with pytest.raises(ValueError, match="features per timestep"):
        stream.predict_proba(rng.normal(size=(2, 1, 3)))
    with pytest.raises(ValueError, match="repeat"):
        stream.predict_proba(X[:2, :1], streams=[0, 0])
    with pytest.raises(ValueError, match="n_streams"):
        GRUStream(clf, n_streams=0)
    reg = _fit(ConstrainedGRURegressor, X, y.astype(float), units=2)
    with pytest.raises(AttributeError, match="classifiers only"):
        GRUStream(reg).predict_proba(X[:1, :1])


def test_channels_first_model_streams_in_its_layout():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5, 2, 7))  # (n, channels, T)
    clf = _fit(ConstrainedGRUClassifier, X, np.arange(5) % 2, units=3, data_format="channels_first")
    stream = GRUStream(clf, n_streams=5)
    for t in range(7):
        proba = stream.predict_proba(X[:, :, t])  # one step: (n_streams, channels)
    np.testing.assert_array_equal(proba, clf.predict_proba(X))
    U = rng.normal(size=(5, 7))  # univariate: (n_streams, k steps)
    uni = _fit(ConstrainedGRUClassifier, U, np.arange(5) % 2, units=3, data_format="channels_first")
    np.testing.assert_array_equal(
        GRUStream(uni, 5).predict_proba(U[:, :4]),
        uni.predict_proba(U[:, :4, None].transpose(0, 2, 1)),
    )
