"""The estimators as transformers: transform, feature names, set_output, pipelines."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline

from skgru import ConstrainedGRUClassifier, ConstrainedGRURegressor
from skgru.kernels.cpu._kernel_set import CPUKernelSet
from skgru.model._network import head_proba
from skgru.testing import gru_configs, sequence_batches

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _fit(Est, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Est(max_iter=2, random_state=0, device="cpu", **params).fit(X, y)


def _head(est, states):
    """The output layer on given states, with prediction's own row-wise product."""
    Wd, bd = est._weights[-2:]
    return CPUKernelSet(Wd.dtype).logits(np.ascontiguousarray(states), Wd, bd)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=gru_configs(),
    batch=sequence_batches(n_classes=3),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
)
def test_transform_is_bitwise_what_the_head_reads(config, batch, num_layers, bidirectional):
    clf = _fit(
        ConstrainedGRUClassifier,
        batch.X,
        batch.y,
        num_layers=num_layers,
        bidirectional=bidirectional,
        **config,
    )
    states = clf.transform(batch.X)
    nd = 2 if bidirectional else 1
    assert states.shape == (len(batch.y), nd * config["units"])
    assert states.dtype == np.dtype(config["dtype"])
    proba = head_proba(_head(clf, states), clf.out_activation_)
    np.testing.assert_array_equal(proba, clf.predict_proba(batch.X))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=gru_configs(), batch=sequence_batches(n_classes=2))
def test_return_sequences_holds_the_pooled_states(config, batch):
    clf = _fit(ConstrainedGRUClassifier, batch.X, batch.y, **config)
    pooled = clf.transform(batch.X)
    seq = clf.transform(batch.X, return_sequences=True)
    if batch.ragged:
        assert [s.shape[0] for s in seq] == list(batch.lengths)
        seq_padded = np.zeros(batch.values.shape[:2] + (pooled.shape[1],), dtype=pooled.dtype)
        for i, s in enumerate(seq):
            seq_padded[i, : len(s)] = s
        seq = seq_padded
    else:
        assert seq.shape == batch.values.shape[:2] + (pooled.shape[1],)
    last = seq[np.arange(len(seq)), batch.lengths - 1]
    if config["pooling"] == "last":
        np.testing.assert_array_equal(last, pooled)
    elif config["pooling"] == "max":
        masked = np.where(batch.mask[:, :, None], seq, -np.inf)
        np.testing.assert_array_equal(masked.max(axis=1), pooled)
    else:
        tol = 1e-5 if config["dtype"] == "float32" else 1e-12
        mean = (seq * batch.mask[:, :, None]).sum(axis=1) / batch.lengths[:, None]
        np.testing.assert_allclose(mean, pooled, rtol=tol, atol=tol)


def test_padding_steps_are_zero_in_return_sequences():
    rng = np.random.default_rng(0)
    X = rng.integers(1, 9, size=(12, 6))
    X[:, :2] = 0  # front padding, as SequenceVectorizer's default
    y = np.arange(12) % 2
    clf = _fit(ConstrainedGRUClassifier, X, y, units=3, embedding_dim=2, vocab_size=9)
    seq = clf.transform(X, return_sequences=True)
    assert seq.shape == (12, 6, 3)
    np.testing.assert_array_equal(seq[:, :2], 0)
    np.testing.assert_array_equal(seq[:, -1], clf.transform(X))


def test_feature_names_and_pandas_output():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(20, 5, 2)), np.arange(20) % 2
    clf = _fit(ConstrainedGRUClassifier, X, y, units=3, bidirectional=True)
    names = clf.get_feature_names_out()
    assert list(names) == [f"constrainedgruclassifier{i}" for i in range(6)]
    expected = clf.transform(X)
    clf.set_output(transform="pandas")
    frame = clf.transform(X)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(names)
    np.testing.assert_array_equal(frame.to_numpy(), expected)
    with pytest.raises(ValueError, match="return_sequences=True"):
        clf.transform(X, return_sequences=True)


def test_pipeline_gru_features_into_linear_models():
    rng = np.random.default_rng(2)
    X = [rng.normal(size=(int(n), 2)) for n in rng.integers(3, 9, size=30)]
    y = np.array([x[:, 0].sum() > 0 for x in X]).astype(int)
    gru = ConstrainedGRUClassifier(units=4, max_iter=3, random_state=0, device="cpu")
    pipe = make_pipeline(gru, LogisticRegression())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    states = pipe[0].transform(X)
    np.testing.assert_array_equal(pipe.predict(X), pipe[1].predict(states))
    reg_pipe = make_pipeline(
        ConstrainedGRURegressor(units=4, max_iter=2, random_state=0, device="cpu"), Ridge()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg_pipe.fit(X, y.astype(float))
    assert reg_pipe.predict(X).shape == (30,)
    assert reg_pipe[0].transform(X).shape == (30, 4)


def test_regressor_transform_matches_predict():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(16, 4, 3))
    y = rng.normal(size=(16, 2))
    reg = _fit(ConstrainedGRURegressor, X, y, units=3, pooling="mean", num_layers=2)
    states = reg.transform(X)
    np.testing.assert_array_equal(_head(reg, states).astype(np.float64), reg.predict(X))


def test_fit_transform_equals_fit_then_transform():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(12, 5, 1)), np.arange(12) % 2
    params = dict(units=3, max_iter=2, random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ConstrainedGRUClassifier(**params).fit_transform(X, y)
        b = ConstrainedGRUClassifier(**params).fit(X, y).transform(X)
    np.testing.assert_array_equal(a, b)


def test_transform_unfitted_raises_and_cuda_is_refused():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ConstrainedGRUClassifier().transform(np.zeros((2, 3, 1)))
    X = np.random.default_rng(5).normal(size=(6, 3, 1))
    clf = _fit(ConstrainedGRUClassifier, X, np.arange(6) % 2, units=2)
    clf.set_params(device="cuda")
    with pytest.raises(ValueError, match="CPU only"):
        clf.transform(X)
