"""sample_weight through GridSearchCV and Pipeline with metadata routing enabled."""

import warnings

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skgru import ConstrainedGRUClassifier, ConstrainedGRURegressor, SequenceVectorizer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


class _Recording(ConstrainedGRUClassifier):
    """Records the sample weights each fit receives."""

    seen = []

    def fit(self, X, y, sample_weight=None, validation_data=None):
        type(self).seen.append(None if sample_weight is None else np.asarray(sample_weight))
        return super().fit(X, y, sample_weight=sample_weight, validation_data=validation_data)


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    w = rng.uniform(0.5, 2.0, size=n)
    return X, y, w


def test_grid_search_and_pipeline_route_sample_weight(routing):
    X, y, w = _data()
    _Recording.seen = []
    gru = _Recording(units=2, max_iter=1, random_state=0, device="cpu")
    gru.set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
    pipe = Pipeline([("gru", gru)])
    search = GridSearchCV(pipe, {"gru__units": [2, 3]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X, y, sample_weight=w)
    # 2 candidates x 3 folds, then the refit on everything.
    assert len(_Recording.seen) == 7
    assert all(s is not None for s in _Recording.seen)
    np.testing.assert_array_equal(_Recording.seen[-1], w)
    fold_sizes = sorted({len(s) for s in _Recording.seen[:-1]})
    assert fold_sizes == [16]
    assert {round(float(s.sum()), 6) for s in _Recording.seen[:-1]} <= {
        round(float(w[m].sum()), 6) for m in _fold_masks(len(w))
    }


def _fold_masks(n):
    from sklearn.model_selection import StratifiedKFold

    X, y, _ = _data()
    return [train for train, _ in StratifiedKFold(3).split(X, y)]


def test_weights_change_the_fit_through_the_pipeline(routing):
    X, y, w = _data(seed=1)
    w = np.where(y == 1, 5.0, 0.2)
    base = dict(units=3, max_iter=3, random_state=0, device="cpu")
    weighted = Pipeline(
        [("gru", ConstrainedGRUClassifier(**base).set_fit_request(sample_weight=True))]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted.fit(X, y, sample_weight=w)
        direct = ConstrainedGRUClassifier(**base).fit(X, y, sample_weight=w)
        plain = ConstrainedGRUClassifier(**base).fit(X, y)
    np.testing.assert_array_equal(weighted.predict_proba(X), direct.predict_proba(X))
    assert not np.array_equal(plain.predict_proba(X), direct.predict_proba(X))


def test_gru_features_pipeline_routes_to_both_steps(routing):
    X, y, w = _data(seed=2)
    _Recording.seen = []
    gru = _Recording(units=2, max_iter=1, random_state=0, device="cpu")
    pipe = Pipeline(
        [
            ("gru", gru.set_fit_request(sample_weight=True)),
            ("lr", LogisticRegression().set_fit_request(sample_weight=True)),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(_Recording.seen[-1], w)
    expected = LogisticRegression().fit(pipe[0].transform(X), y, sample_weight=w)
    np.testing.assert_allclose(pipe[1].coef_, expected.coef_)


def test_unrequested_weight_is_an_error_and_text_pipeline(routing):
    X, y, w = _data(seed=3)
    pipe = Pipeline([("gru", ConstrainedGRUClassifier(units=2, max_iter=1, device="cpu"))])
    with pytest.raises(sklearn.exceptions.UnsetMetadataPassedError):
        pipe.fit(X, y, sample_weight=w)
    docs = ["good fine nice", "bad awful", "fine good", "awful terrible bad"] * 3
    labels = np.array([1, 0, 1, 0] * 3)
    text = Pipeline(
        [
            ("vec", SequenceVectorizer()),
            (
                "gru",
                ConstrainedGRUClassifier(
                    units=2, embedding_dim=3, max_iter=1, device="cpu"
                ).set_fit_request(sample_weight=True),
            ),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text.fit(docs, labels, sample_weight=np.linspace(0.5, 1.5, 12))
    reg = ConstrainedGRURegressor(units=2, max_iter=1, device="cpu")
    search = GridSearchCV(
        reg.set_fit_request(sample_weight=True).set_score_request(sample_weight=True),
        {"units": [2]},
        cv=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X, y.astype(float), sample_weight=w)
    assert search.best_params_ == {"units": 2}
