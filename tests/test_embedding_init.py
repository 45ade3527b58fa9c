"""Pretrained embeddings: embedding_init, embedding_trainable and the vectorizer's helpers."""

import warnings

import numpy as np
import pytest

from skgru import ConstrainedGRUClassifier, SequenceVectorizer, load_model, save_model
from skgru.testing import check_gradients

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

DOCS = ["the cat sat on the mat", "a dog ran", "the dog sat", "cats and dogs", "a mat"] * 4
LABELS = np.array([0, 1, 0, 1, 0] * 4)


def _tokens(seed=0, n=40, vocab=20, T=8):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, vocab, size=(n, T))
    return X, np.arange(n) % 2, rng.normal(size=(vocab, 4)).astype(np.float32)


def _fit(X, y, **params):
    params = {"units": 3, "embedding_dim": 4, "max_iter": 3, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ConstrainedGRUClassifier(device="cpu", **params).fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize("sparse", [True, False])
def test_frozen_embedding_never_moves_and_has_no_optimizer_state(solver, sparse):
    X, y, E0 = _tokens()
    clf = _fit(
        X, y, embedding_init=E0, embedding_trainable=False, solver=solver,
        sparse_embeddings=sparse, embedding_constraint="unit_norm",
    )  # fmt: skip
    np.testing.assert_array_equal(clf.get_weights()[0], E0)
    n_gru_weights = len(clf.get_weights()) - 1
    for slot, arrays in clf._optimizer_state.items():
        if isinstance(arrays, list) and arrays:
            assert len(arrays) == n_gru_weights, slot
    trainable = _fit(X, y, embedding_init=E0, solver=solver, sparse_embeddings=sparse)
    assert not np.array_equal(trainable.get_weights()[0], E0)
    # The other weights still train.
    start = _fit(X, y, embedding_init=E0, embedding_trainable=False, max_iter=1)
    assert not np.array_equal(start.get_weights()[1], clf.get_weights()[1])


def test_embedding_init_is_the_starting_point():
    X, y, E0 = _tokens(1)
    clf = _fit(X, y, embedding_init=E0, max_iter=1, learning_rate_init=1e-6)
    np.testing.assert_allclose(clf.get_weights()[0], E0, atol=1e-5)
    assert clf.vocab_size_ == 20
    # Other weights are initialised exactly as without embedding_init (same draws).
    default = _fit(X, y, max_iter=1, learning_rate_init=1e-6)
    np.testing.assert_allclose(default.get_weights()[1], clf.get_weights()[1], atol=1e-5)


def test_unfreezing_with_warm_start_fine_tunes():
    X, y, E0 = _tokens(2)
    clf = _fit(X, y, embedding_init=E0, embedding_trainable=False)
    clf.set_params(embedding_trainable=True, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    assert not np.array_equal(clf.get_weights()[0], E0)
    assert len(clf._optimizer_state["ms"]) == len(clf.get_weights())
    clf.set_params(embedding_trainable=False)
    E1 = clf.get_weights()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    np.testing.assert_array_equal(clf.get_weights()[0], E1)
    assert len(clf._optimizer_state["ms"]) == len(clf.get_weights()) - 1


def test_frozen_model_gradient_check_and_save_load(tmp_path):
    X, y, E0 = _tokens(3, n=10, T=5)
    clf = _fit(X, y, embedding_init=E0, embedding_trainable=False, dtype="float64")
    assert check_gradients(clf, X, y, max_entries=20, random_state=0).passed
    save_model(clf, tmp_path / "m.skgru")
    loaded = load_model(tmp_path / "m.skgru")
    np.testing.assert_array_equal(loaded.embedding_init, E0)
    assert loaded.embedding_trainable is False
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


def test_embedding_init_errors():
    X, y, E0 = _tokens(4)
    with pytest.raises(ValueError, match="columns, but embedding_dim=4"):
        _fit(X, y, embedding_init=E0[:, :3])
    with pytest.raises(ValueError, match="rows, but vocab_size=30"):
        _fit(X, y, embedding_init=E0, vocab_size=30)
    with pytest.raises(ValueError, match="outside"):
        _fit(X, y, embedding_init=E0[:10])  # ids up to 19 do not fit 10 rows
    bad = E0.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _fit(X, y, embedding_init=bad)
    with pytest.raises(ValueError, match="needs token input"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ConstrainedGRUClassifier(embedding_init=E0, max_iter=1).fit(
                np.zeros((4, 3, 1)), [0, 1, 0, 1]
            )


def test_vectorizer_embedding_matrix_from_mapping_and_file(tmp_path):
    vec = SequenceVectorizer().fit(DOCS)
    assert vec.vocab_size_ == len(vec.vocabulary_) + 2
    words = list(vec.vocabulary_)
    rng = np.random.default_rng(0)
    vectors = {w: rng.normal(size=3) for w in words[:-2]}  # two words have no vector
    vectors["unrelated"] = np.ones(3)
    E = vec.embedding_matrix(vectors, random_state=0)
    assert E.shape == (vec.vocab_size_, 3) and E.dtype == np.float32
    for w in words[:-2]:
        np.testing.assert_allclose(E[vec.vocabulary_[w]], vectors[w], rtol=1e-6)
    np.testing.assert_array_equal(E[0], 0)  # padding
    assert vec.found_.sum() == len(words) - 2
    assert not vec.found_[[0, 1]].any()
    assert np.abs(E[1]).sum() > 0  # OOV drawn, not zero
    zeros = vec.embedding_matrix(vectors, missing="zeros")
    np.testing.assert_array_equal(zeros[~vec.found_], 0)
    # The same vectors from a word2vec-format text file (with its header line).
    path = tmp_path / "vectors.txt"
    lines = [f"{len(vectors)} 3"] + [
        w + " " + " ".join(repr(float(x)) for x in v) for w, v in vectors.items()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    np.testing.assert_array_equal(vec.embedding_matrix(str(path), missing="zeros"), zeros)
    np.testing.assert_array_equal(vec.embedding_matrix(path, missing="zeros"), zeros)
    # ... and it trains a frozen classifier on the vectorizer's ids.
    ids = vec.transform(DOCS)
    clf = _fit(ids, LABELS, embedding_dim=3, embedding_init=E, embedding_trainable=False)
    np.testing.assert_array_equal(clf.get_weights()[0], E)


def test_vectorizer_embedding_matrix_errors(tmp_path):
    vec = SequenceVectorizer().fit(DOCS)
    with pytest.raises(ValueError, match="None of the vocabulary"):
        vec.embedding_matrix({"CAT": [1.0, 2.0]})
    with pytest.raises(ValueError, match="same length"):
        vec.embedding_matrix({"cat": [1.0, 2.0], "dog": [1.0]})
    with pytest.raises(ValueError, match="missing"):
        vec.embedding_matrix({"cat": [1.0]}, missing="mean")
    path = tmp_path / "bad.txt"
    path.write_text("cat 1.0 x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Line 1"):
        vec.embedding_matrix(path)


@pytest.mark.parametrize(
    "docs, error, match",
    [
        ([1, 2], TypeError, "Document 0 is of type int"),
        (["fine", None], ValueError, "Document 1 is None, a missing value"),
        (["fine", float("nan")], ValueError, "Document 1 is nan"),
        (np.array([["a b"], ["c d"]]), TypeError, "2-D input"),
        ([["already", "tokens"]], TypeError, "of type list"),
    ],
)
def test_vectorizer_non_string_documents(docs, error, match):
    with pytest.raises(error, match=match):
        SequenceVectorizer().fit(docs)
    vec = SequenceVectorizer().fit(DOCS)
    with pytest.raises(error, match=match):
        vec.transform(docs)


def test_vectorizer_dataframe_and_callable_analyzer():
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match="DataFrame with columns \\['text'\\]"):
        SequenceVectorizer().fit(pd.DataFrame({"text": DOCS}))
    # A Series of text is fine, and a callable analyzer may take any document.
    SequenceVectorizer().fit(pd.Series(DOCS))
    vec = SequenceVectorizer(analyzer=lambda doc: list(doc)).fit([["a", "b"], ["b"]])
    assert set(vec.vocabulary_) == {"a", "b"}
    with pytest.raises(ValueError, match="missing value"):
        vec.transform([None])
