"""The recommended models: what they are made of, and that their parts add up."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ParameterGrid
from sklearn.pipeline import Pipeline

from skgru import (
    ConstrainedGRUClassifier,
    SequenceVectorizer,
    make_sequence_classifier,
    make_text_classifier,
    sequence_param_grid,
    text_param_grid,
)
from skgru.datasets import make_word_order_docs
from skgru.preprocessing import DilatedConvolutions, SequenceScaler

SMALL_GRU = {"units": 4, "embedding_dim": 4, "max_iter": 2, "device": "cpu"}


@pytest.fixture(scope="module")
def corpus():
    docs, y = make_word_order_docs(120, random_state=0)
    # Topic words as well as order, so that both members have something to learn.
    docs = [d + (" red" if label else " blue") for d, label in zip(docs, y)]
    # String labels: the members see the vote's encoded labels, not these.
    return docs, np.where(y == 1, "first", "second")


@pytest.fixture(scope="module")
def fitted_vote(corpus):
    docs, y = corpus
    model = make_text_classifier(random_state=0, **SMALL_GRU)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(docs, y)


def test_text_recipe_is_a_soft_vote_of_the_gru_and_tfidf():
    model = make_text_classifier(random_state=3, units=7)
    assert isinstance(model, VotingClassifier)
    assert model.voting == "soft"
    assert [name for name, _ in model.estimators] == ["sequence", "words"]
    assert model.weights == [0.3, 0.7]
    sequence = model.named_estimators["sequence"]
    assert [name for name, _ in sequence.steps] == ["vectorize", "gru"]
    assert isinstance(sequence[0], SequenceVectorizer)
    gru = sequence[-1]
    assert isinstance(gru, ConstrainedGRUClassifier)
    assert (gru.units, gru.random_state, gru.bidirectional, gru.pooling) == (7, 3, True, "max")
    words = model.named_estimators["words"]
    assert words.get_params()["tfidf__ngram_range"] == (1, 2)
    assert words.get_params()["svm__estimator__random_state"] == 3


def test_linear_false_gives_the_gru_pipeline_alone():
    pipe = make_text_classifier(linear=False, vectorizer_params={"max_len": 50}, units=5)
    assert isinstance(pipe, Pipeline)
    assert [name for name, _ in pipe.steps] == ["vectorize", "gru"]
    assert pipe.get_params()["vectorize__max_len"] == 50
    assert pipe.get_params()["vectorize__max_features"] == 20000
    assert pipe.get_params()["gru__units"] == 5


def test_vote_probabilities_are_the_weighted_mean_of_the_members(corpus, fitted_vote):
    docs, _ = corpus
    sequence = fitted_vote.named_estimators_["sequence"]
    words = fitted_vote.named_estimators_["words"]
    expected = 0.3 * sequence.predict_proba(docs) + 0.7 * words.predict_proba(docs)
    # The GRU's probabilities are float32: agreement to its rounding.
    assert_allclose(fitted_vote.predict_proba(docs), expected, rtol=1e-6, atol=1e-7)
    assert_allclose(fitted_vote.predict_proba(docs).sum(axis=1), 1.0)


def test_members_learn_their_own_parts(corpus, fitted_vote):
    docs, y = corpus
    words = fitted_vote.named_estimators_["words"]
    # The topic word decides the TF-IDF model on the training documents.
    assert words.score(docs, fitted_vote.le_.transform(y)) == 1.0
    assert set(fitted_vote.predict(docs)) <= {"first", "second"}
    assert fitted_vote.named_estimators_["sequence"][-1].n_iter_ == 2


def test_text_grid_weights_are_valid_votes(corpus):
    grid = text_param_grid()
    model = make_text_classifier()
    for params in ParameterGrid(grid):
        candidate = clone(model).set_params(**params)
        w = np.asarray(candidate.weights, dtype=float)
        assert w.shape == (2,) and np.all(w >= 0) and w.sum() > 0
    assert [1.0, 0.0] in grid["weights"]  # the GRU alone is a candidate


def test_gru_alone_weighting_predicts_as_the_gru(corpus, fitted_vote):
    docs, _ = corpus
    sequence = fitted_vote.named_estimators_["sequence"]
    alone = clone(fitted_vote).set_params(weights=[1.0, 0.0])
    # Reuse the fitted members: the weights only enter at prediction.
    alone.estimators_ = fitted_vote.estimators_
    alone.le_ = fitted_vote.le_
    alone.classes_ = fitted_vote.classes_
    assert_allclose(alone.predict_proba(docs), sequence.predict_proba(docs), rtol=1e-6)


def test_sequence_recipe_steps_and_grid():
    pipe = make_sequence_classifier(random_state=2, units=9)
    assert [name for name, _ in pipe.steps] == ["scale", "conv", "gru"]
    assert isinstance(pipe[0], SequenceScaler) and isinstance(pipe[1], DilatedConvolutions)
    assert pipe[1].pooling == "ppv" and pipe[1].random_state == 2
    assert pipe[-1].units == 9 and pipe[-1].random_state == 2
    params = pipe.get_params()
    for name, values in sequence_param_grid().items():
        assert name in params
        assert params[name] in values  # the defaults are a candidate of the grid


def test_sequence_recipe_keeps_amplitude_by_default():
    # Two classes of the same shapes at amplitudes 1 and 3: per-series
    # scaling makes them identical, the default per-channel scaling does not.
    rng = np.random.default_rng(0)
    t = np.linspace(0, 4 * np.pi, 64)
    y = np.arange(60) % 2
    phase = rng.uniform(0, 2 * np.pi, size=60)
    noisy = np.sin(t[None] + phase[:, None]) + 0.05 * rng.standard_normal((60, 64))
    X = (1 + 2 * y)[:, None] * noisy
    small = {"units": 8, "max_iter": 40, "device": "cpu"}
    default = make_sequence_classifier(random_state=0, **small)
    assert default.named_steps["scale"].mode == "channel"
    per_series = clone(default).set_params(scale__mode="sequence")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert default.fit(X[:40], y[:40]).score(X[40:], y[40:]) == 1.0
        assert per_series.fit(X[:40], y[:40]).score(X[40:], y[40:]) <= 0.8
