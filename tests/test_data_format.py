"""Data layout: channels_first ((n, channels, T), aeon / sktime) and the single-step warning."""

import warnings

import numpy as np
import pytest

from skgru import ConstrainedGRUClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _clf(**params):
    return ConstrainedGRUClassifier(units=3, max_iter=2, random_state=0, device="cpu", **params)


def test_channels_first_is_the_transpose():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3, 20))  # (n_cases, n_channels, n_timepoints)
    y = np.arange(12) % 2
    a = _clf(data_format="channels_first").fit(X, y)
    b = _clf().fit(X.transpose(0, 2, 1), y)
    assert a.n_features_in_ == 3
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X.transpose(0, 2, 1)))
    # Unequal lengths: aeon's list of (n_channels, n_timepoints_i) arrays.
    ragged = [x[:, : 10 + i] for i, x in enumerate(X)]
    np.testing.assert_array_equal(a.predict_proba(ragged), b.predict_proba([x.T for x in ragged]))
    # 2-D arrays are univariate sequences in either layout.
    U = rng.normal(size=(12, 15))
    np.testing.assert_array_equal(
        _clf(data_format="channels_first").fit(U, y).predict_proba(U),
        _clf().fit(U, y).predict_proba(U),
    )


def test_single_step_array_warns_at_fit_only():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(10, 1, 30))  # aeon's univariate layout read as one step
    y = np.arange(10) % 2
    with pytest.warns(UserWarning, match="data_format='channels_first'"):
        clf = _clf().fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.predict(X)  # a one-step prefix is a legitimate prediction
        _clf(data_format="channels_first").fit(X, y)
        _clf().fit(X.transpose(0, 2, 1), y)
        _clf().fit(rng.normal(size=(10, 1, 1)), y)
    assert not [w for w in caught if "data_format" in str(w.message)]
