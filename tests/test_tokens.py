"""Token input, embeddings, masking, pooling, ragged batching and text pipelines (issue 3)."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import gru_forward, numerical_gradient
from scipy.special import expit, softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from skgru import ConstrainedGRUClassifier, SequenceVectorizer
from skgru.constraints import MaxNorm
from skgru.data._sequences import to_token_sequences
from skgru.datasets import make_word_order_docs
from skgru.engine._devices import make_trainer
from skgru.training._optimizers import make_optimizer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _token_data(rng, n=40, T=9, vocab=12, p_pad=0.3):
    ids = rng.integers(1, vocab, size=(n, T))
    ids[rng.random((n, T)) < p_pad] = 0
    y = (ids == 3).any(axis=1).astype(int)
    y[:2] = [0, 1]
    return ids, y


def _fitted(ids, y, **params):
    defaults = dict(units=5, embedding_dim=4, max_iter=2, random_state=0)
    defaults.update(params)
    return ConstrainedGRUClassifier(**defaults).fit(ids, y)


def _numpy_proba(weights, ids, reset_after=True, pooling="last"):
    """Independent model from get_weights(): embedding lookup, id 0 masked, oracle GRU."""
    E, W, R, b, Wd, bd = [w.astype(np.float64) for w in weights]
    x = E[ids]
    mask = ids != 0
    h_seq, _ = gru_forward(x, W, R, b, mask=mask, reset_after=reset_after)
    if pooling == "last":
        pooled = np.zeros((len(ids), W.shape[1] // 3))
        for i in range(len(ids)):
            valid = np.flatnonzero(mask[i])
            if len(valid):
                pooled[i] = h_seq[i, valid[-1]]
    elif pooling == "mean":
        counts = np.maximum(mask.sum(axis=1), 1)[:, None]
        pooled = (h_seq * mask[:, :, None]).sum(axis=1) / counts
    else:
        pooled = np.where(mask[:, :, None], h_seq, -np.inf).max(axis=1)
        pooled[~mask.any(axis=1)] = 0
    logits = pooled @ Wd + bd
    if logits.shape[1] == 1:
        p = expit(logits[:, 0])
        return np.column_stack([1 - p, p])
    return softmax(logits, axis=1)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_token_forward_matches_numpy_model(pooling, reset_after):
    rng = np.random.default_rng(0)
    ids, y = _token_data(rng)
    y = rng.integers(0, 3, size=len(ids))
    clf = _fitted(ids, y, pooling=pooling, reset_after=reset_after, learning_rate_init=0.05)
    weights = clf.get_weights()
    assert weights[0].shape == (clf.vocab_size_, 4)
    expected = _numpy_proba(weights, ids, reset_after, pooling)
    np.testing.assert_allclose(clf.predict_proba(ids), expected, rtol=1e-4, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    where=st.sampled_from(["pre", "post", "inside"]),
    n_pad=st.integers(1, 5),
    pooling=st.sampled_from(["last", "mean", "max"]),
)
def test_padding_anywhere_never_changes_a_prediction(seed, where, n_pad, pooling):
    rng = np.random.default_rng(seed)
    ids, y = _token_data(np.random.default_rng(1))
    clf = _fitted(ids, y, pooling=pooling)
    doc = rng.integers(1, 12, size=rng.integers(1, 8))
    pos = {"pre": 0, "post": len(doc), "inside": rng.integers(0, len(doc) + 1)}[where]
    padded = np.insert(doc, pos, np.zeros(n_pad, dtype=doc.dtype))
    # The padded doc, alone or next to other rows, predicts as the plain doc.
    p_plain = clf.predict_proba([doc])
    p_padded = clf.predict_proba([padded])
    p_in_batch = clf.predict_proba([*list(ids[:5]), padded])[-1:]
    np.testing.assert_allclose(p_padded, p_plain, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(p_in_batch, p_plain, rtol=1e-6, atol=1e-7)


def _trainer(pooling, seed=0, sparse=True, solver="adam", dropout=0.0):
    rng = np.random.default_rng(seed)
    ids, y = _token_data(rng, n=6, T=5, vocab=7)
    clf = _fitted(
        ids, y, dtype="float64", pooling=pooling, max_iter=1, solver=solver, dropout=dropout
    )
    weights = [w + rng.normal(0, 0.3, size=w.shape) for w in clf.get_weights()]
    seqs = to_token_sequences(ids, clf.vocab_size_)
    Y = clf._encode_y(y)
    w = rng.uniform(0.5, 2.0, size=len(y))
    opt = make_optimizer(
        solver, weights, learning_rate_init=0.1, momentum=0.9, nesterovs_momentum=True
    )
    cfg = clf._train_config()
    cfg.sparse_embeddings = sparse
    trainer = make_trainer("cpu", weights, opt, cfg, seqs, Y, w)
    return trainer, ids


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_embedding_and_pooling_gradients_match_finite_differences(pooling):
    trainer, ids = _trainer(pooling)
    idx = np.arange(len(ids))
    rng = np.random.default_rng(0)
    _, grads, _ = trainer.loss_and_grads(idx, rng)
    rows, grad_rows = grads[0]
    dense = np.zeros_like(trainer.param_arrays[0])
    dense[rows] = grad_rows
    grads[0] = dense

    def loss():
        return trainer.loss_and_grads(idx, np.random.default_rng(0))[0]

    for p, g in zip(trainer.param_arrays, grads):
        num = numerical_gradient(loss, p, eps=1e-6)
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)
    # Padding id 0 never receives a gradient.
    assert 0 not in rows


def test_sparse_row_update_equals_dense_update_on_touched_rows():
    sparse, ids = _trainer("last", sparse=True)
    dense, _ = _trainer("last", sparse=False)
    before = sparse.param_arrays[0].copy()
    for batch in (np.arange(0, 3), np.arange(3, 6), np.arange(0, 6)):
        state = dense.get_optimizer_state()
        sparse.set_params(dense.get_params())
        sparse.set_optimizer_state(state)
        before = sparse.param_arrays[0].copy()
        sparse.step(batch, np.random.default_rng(1))
        dense.step(batch, np.random.default_rng(1))
        touched = np.unique(ids[batch][ids[batch] != 0])
        untouched = np.setdiff1d(np.arange(len(before)), touched)
        np.testing.assert_allclose(
            sparse.param_arrays[0][touched], dense.param_arrays[0][touched], rtol=1e-12
        )
        np.testing.assert_array_equal(sparse.param_arrays[0][untouched], before[untouched])
        for a, b in zip(sparse.param_arrays[1:], dense.param_arrays[1:]):
            np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize(
    "X, message",
    [
        (np.array([[1, 2], [3, -1]]), "negative token id"),
        (np.array([[1.5, 2.0], [3.0, 1.0]]), "non-integer"),
        (np.array([["a", "b"], ["c", "d"]]), "integer token ids"),
    ],
)
def test_bad_token_ids_raise(X, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ConstrainedGRUClassifier(embedding_dim=3, max_iter=1).fit(X, [0, 1])


def test_ids_beyond_vocabulary_raise_at_predict_and_fit():
    ids, y = _token_data(np.random.default_rng(0), vocab=6)
    clf = _fitted(ids, y)
    with pytest.raises(ValueError, match="outside"):
        clf.predict(ids + 10)
    with pytest.raises(ValueError, match="outside"):
        ConstrainedGRUClassifier(embedding_dim=3, vocab_size=4, max_iter=1).fit(ids, y)


def test_embedding_constraint_is_projected():
    ids, y = _token_data(np.random.default_rng(0))
    clf = _fitted(
        ids, y, embedding_constraint=MaxNorm(0.05, axis=1), learning_rate_init=0.5, max_iter=3
    )
    norms = np.linalg.norm(clf.get_weights()[0], axis=1)
    assert norms.max() <= 0.05 * (1 + 1e-5)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), batch=st.sampled_from([1, 3, 256]))
def test_ragged_predictions_independent_of_order_and_batch(seed, batch):
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(rng.integers(1, 12), 2)) for _ in range(30)]
    y = rng.integers(0, 2, size=30)
    y[:2] = [0, 1]
    clf = ConstrainedGRUClassifier(units=6, max_iter=2, random_state=0).fit(X, y)
    full = clf.predict_proba(X)
    order = rng.permutation(30)
    shuffled = clf.predict_proba([X[i] for i in order])
    np.testing.assert_array_equal(shuffled, full[order])
    pieces = np.concatenate([clf.predict_proba(X[i : i + batch]) for i in range(0, 30, batch)])
    np.testing.assert_array_equal(pieces, full)


@pytest.mark.slow
def test_word_order_task_gru_beats_bag_of_words():
    docs, y = make_word_order_docs(700, random_state=0)
    d_train, d_test, y_train, y_test = train_test_split(docs, y, test_size=0.3, random_state=0)
    bow = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(d_train, y_train)
    bow_acc = bow.score(d_test, y_test)
    pipe = make_pipeline(
        SequenceVectorizer(),
        ConstrainedGRUClassifier(
            embedding_dim=8, learning_rate_init=0.02, max_iter=40, random_state=0
        ),
    )
    grid = {
        "constrainedgruclassifier__units": [8, 16],
        "constrainedgruclassifier__kernel_constraint": [None, MaxNorm(3.0)],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(d_train, y_train)
    gru_acc = search.score(d_test, y_test)
    print(f"word order: bag-of-words {bow_acc:.3f}, GRU {gru_acc:.3f}")
    assert bow_acc < 0.75
    assert gru_acc >= 0.9


def test_pipeline_search_same_scores_with_n_jobs_1_and_2():
    docs, y = make_word_order_docs(120, random_state=1)
    pipe = make_pipeline(
        SequenceVectorizer(), ConstrainedGRUClassifier(embedding_dim=4, max_iter=3, random_state=0)
    )
    grid = {
        "sequencevectorizer__max_len": [6, None],
        "constrainedgruclassifier__units": [4],
        "constrainedgruclassifier__kernel_constraint": [None, MaxNorm(1.0)],
    }
    r1 = GridSearchCV(pipe, grid, cv=2, n_jobs=1).fit(docs, y).cv_results_
    r2 = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(docs, y).cv_results_
    np.testing.assert_array_equal(r1["mean_test_score"], r2["mean_test_score"])
