"""Multilabel (indicator matrix) targets in the classifier: logistic outputs, as MLPClassifier."""

import numpy as np
import pytest
from reference import gru_forward
from scipy.special import expit

from skgru import ConstrainedGRUClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8, 3))
    Y = (X.sum(axis=1) > 0).astype(int)
    return X, Y


def test_multilabel_learns_and_reports_indicator_outputs():
    X, Y = _data()
    clf = ConstrainedGRUClassifier(
        units=16, max_iter=80, learning_rate_init=0.01, random_state=0, device="cpu"
    ).fit(X, Y)
    assert clf.out_activation_ == "logistic"
    assert clf.n_outputs_ == 3
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    pred = clf.predict(X)
    assert pred.shape == Y.shape and set(np.unique(pred)) <= {0, 1}
    assert clf.score(X, Y) > 0.8  # subset accuracy


def test_multilabel_probabilities_match_numpy_model():
    X, Y = _data(40, seed=1)
    clf = ConstrainedGRUClassifier(
        units=4, max_iter=3, dtype="float64", random_state=0, device="cpu"
    ).fit(X, Y)
    W, R, b, Wd, bd = clf.get_weights()
    h_seq, _ = gru_forward(X, W, R, b)
    expected = expit(h_seq[:, -1] @ Wd + bd)
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(expected), rtol=1e-9, atol=1e-12)


def test_multilabel_early_stopping_and_errors():
    X, Y = _data(120, seed=2)
    clf = ConstrainedGRUClassifier(
        units=4, max_iter=5, early_stopping=True, random_state=0, device="cpu"
    ).fit(X, Y)
    assert len(clf.validation_scores_) == clf.n_iter_
    with pytest.raises(ValueError, match="class_weight"):
        ConstrainedGRUClassifier(class_weight="balanced", max_iter=1).fit(X, Y)
    warm = ConstrainedGRUClassifier(units=4, max_iter=1, warm_start=True, device="cpu")
    warm.fit(X, Y)
    with pytest.raises(ValueError, match="labels"):
        warm.fit(X, Y[:, :2])
