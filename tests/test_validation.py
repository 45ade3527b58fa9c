"""Bad input gives a clean ValueError or TypeError that says what is wrong and where.

One table: each case is a call on fresh or fitted estimators, the exception
type it must raise and a fragment of the message. scikit-learn's
``InvalidParameterError`` subclasses both ValueError and TypeError, and
``NotFittedError`` subclasses ValueError.
"""

import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skgru import ConstrainedGRUClassifier
from skgru.constraints import MaxNorm

N, T, F = 12, 4, 2


def _est(**kw):
    kw = {"units": 2, "max_iter": 1, "random_state": 0, "device": "cpu", **kw}
    return ConstrainedGRUClassifier(**kw)


@pytest.fixture(scope="module")
def d():
    """Data and fitted models shared by the table (fitted once, never modified)."""
    rng = np.random.default_rng(0)
    X3 = rng.normal(size=(N, T, F))
    X2 = X3[:, :, 0].copy()
    ragged = [rng.normal(size=(2 + i % 3, F)) for i in range(N)]
    y = np.arange(N) % 2
    ids = rng.integers(1, 10, size=(N, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = SimpleNamespace(
            m3=_est().fit(X3, y),
            m2=_est().fit(X2, y),
            mr=_est().fit(ragged, y),
            mt=_est(embedding_dim=3).fit(ids, y),
        )
    return SimpleNamespace(X3=X3, X2=X2, ragged=ragged, y=y, ids=ids, **vars(fitted))


def _with(a, index, value):
    a = np.array(a, dtype=float)
    a[index] = value
    return a


def _ragged_with(ragged, i, index, value):
    out = [a.copy() for a in ragged]
    out[i][index] = value
    return out


def _weights_replaced(m, i, value):
    w = m.get_weights()
    w[i] = value(w[i]) if callable(value) else value
    return w


def _second_partial_fit(d):
    est = _est()
    est.partial_fit(d.X3, d.y, classes=[0, 1])
    est.partial_fit(d.X3, d.y, classes=[0, 1, 2])


def _warm_start_new_class(d):
    est = _est(warm_start=True).fit(d.X3, d.y)
    est.fit(d.X3, np.arange(N) % 3)


def case(call, exc, fragment, id, marks=()):
    return pytest.param(call, exc, fragment, id=id, marks=marks)


VE, TE = ValueError, TypeError
CASES = [
    # -- NaN and infinity: the message names the sample, step and feature ---------
    case(lambda d: _est().fit(_with(d.X3, (3, 2, 1), np.nan), d.y), VE,
         "Input X contains NaN at sample 3, timestep 2, feature 1", "fit-3d-nan"),
    case(lambda d: _est().fit(_with(d.X3, (5, 0, 0), -np.inf), d.y), VE,
         "Input X contains infinity (or a value too large for float32) at sample 5, timestep 0",
         "fit-3d-inf"),
    case(lambda d: _est().fit(_with(d.X2, (4, 1), np.inf), d.y), VE,
         "Input X contains infinity (or a value too large for float32) at sample 4, timestep 1.",
         "fit-2d-inf"),
    case(lambda d: _est().fit(_with(d.X2, (2, 3), 1e300), d.y), VE,
         "too large for float32) at sample 2, timestep 3", "fit-2d-overflows-float32",
         pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")),
    case(lambda d: _est().fit(_ragged_with(d.ragged, 7, (1, 0), np.nan), d.y), VE,
         "Input X[7] (sequence 7) contains NaN at timestep 1, feature 0", "fit-ragged-nan"),
    case(lambda d: d.m3.predict(_with(d.X3, (0, 3, 0), np.nan)), VE,
         "contains NaN at sample 0, timestep 3, feature 0", "predict-3d-nan"),
    case(lambda d: d.m2.predict_proba(_with(d.X2, (6, 2), np.nan)), VE,
         "contains NaN at sample 6, timestep 2", "predict-2d-nan"),
    case(lambda d: d.mr.predict(_ragged_with(d.ragged, 9, (0, 1), np.inf)), VE,
         "Input X[9] (sequence 9) contains infinity", "predict-ragged-inf"),
    # -- dimensionality ----------------------------------------------------------------
    case(lambda d: _est().fit(np.zeros(N), d.y), VE, "X has 1 dimension(s) (shape (12,))",
         "fit-1d"),
    case(lambda d: _est().fit(np.zeros((N, 2, 2, 2)), d.y), VE,
         "X has 4 dimension(s) (shape (12, 2, 2, 2))", "fit-4d"),
    case(lambda d: _est().fit(3.0, d.y), VE, "X has 0 dimension(s)", "fit-scalar"),
    case(lambda d: d.m3.predict(d.X3[0, :, 0]), VE, "Reshape your data", "predict-1d"),
    case(lambda d: d.m3.predict(d.X3[:, :, :, None]), VE, "X has 4 dimension(s)",
         "predict-4d"),
    # -- feature count different from fit -----------------------------------------------
    case(lambda d: d.m2.predict(d.X2[:, :3]), VE,
         "X has 3 features, but ConstrainedGRUClassifier is expecting 4 features",
         "predict-2d-width"),
    case(lambda d: d.m3.predict(d.X3[:, :, :1]), VE,
         "X has 1 features per timestep, but ConstrainedGRUClassifier is expecting 2",
         "predict-3d-step-features"),
    case(lambda d: d.mr.predict([np.hstack([a, a]) for a in d.ragged]), VE,
         "X has 4 features per timestep, but ConstrainedGRUClassifier is expecting 2",
         "predict-ragged-step-features"),
    case(lambda d: d.m3.predict(d.X2), VE, "(a 2-D X is read as univariate sequences)",
         "predict-2d-on-3d-model"),
    case(lambda d: d.m2.predict(d.X3), VE, "X has 2 features per timestep",
         "predict-3d-on-2d-model"),
    case(lambda d: _est().fit(d.X3, d.y, validation_data=(d.X3[:, :, :1], d.y)), VE,
         "X has 1 features per timestep", "validation-data-step-features"),
    # -- ragged lists ------------------------------------------------------------------
    case(lambda d: _est().fit([np.zeros((3, 2)), np.zeros((4, 3))], [0, 1]), VE,
         "Sequence 1 has 3 features per step but sequence 0 has 2", "ragged-inconsistent"),
    case(lambda d: _est().fit([np.zeros((2, 2, 2)), np.zeros((3, 2, 2))], [0, 1]), VE,
         "Sequence 0 has 3 dimensions", "ragged-3d-element"),
    case(lambda d: _est().fit([[1.0, 2.0], "ab"], [0, 1]), VE,
         "X could not be read as an array of sequences", "inhomogeneous-nested-list"),
    # -- empty input and zero-length sequences -------------------------------------------
    case(lambda d: _est().fit(np.zeros((0, T, F)), []), VE, "0 sample(s)", "fit-empty-3d"),
    case(lambda d: _est().fit(np.zeros((0, T)), []), VE, "0 sample(s)", "fit-empty-2d"),
    case(lambda d: _est().fit([], []), VE, "X is empty", "fit-empty-list"),
    case(lambda d: d.m3.predict(np.zeros((0, T, F))), VE, "0 sample(s)", "predict-empty"),
    case(lambda d: _est().fit(np.zeros((N, 0, F)), d.y), VE, "X has 0 timesteps",
         "fit-3d-zero-steps"),
    case(lambda d: _est().fit(np.zeros((N, 0)), d.y), VE, "0 feature(s) (shape=(12, 0))",
         "fit-2d-zero-steps"),
    case(lambda d: _est().fit([np.zeros((3, 2)), np.zeros((0, 2))], [0, 1]), VE,
         "Sequence 1 has length 0", "ragged-zero-length"),
    # -- strings, objects, complex -------------------------------------------------------
    case(lambda d: _est().fit(np.full((N, T), "a"), d.y), TE, "X holds strings (dtype <U1)",
         "fit-2d-strings"),
    case(lambda d: _est().fit(np.full((N, T, F), "a"), d.y), TE, "X holds strings",
         "fit-3d-strings"),
    case(lambda d: _est().fit(["some text", "more"], [0, 1]), TE, "use SequenceVectorizer",
         "fit-list-of-str"),
    case(lambda d: d.m2.predict(np.array([[1.0, "x", 2.0, 3.0]], dtype=object)), TE,
         "X holds strings (dtype object)", "predict-object-strings"),
    case(lambda d: _est().fit([np.array(["a", "b"]), np.array(["c"])], [0, 1]), TE,
         "Sequence 0 has dtype <U1; numeric values are required", "ragged-strings"),
    case(lambda d: _est().fit(np.empty((N, T, F), dtype=object), d.y), VE,
         "contains NaN at sample 0, timestep 0, feature 0", "fit-object-none"),
    case(lambda d: _est().fit(np.array([[{"a": 1}, 2.0]], dtype=object), [0]), TE,
         "argument must be a string or a", "fit-object-dict"),
    case(lambda d: _est().fit(d.X3 + 1j, d.y), VE,
         "Complex data not supported: X has dtype complex128", "fit-3d-complex"),
    case(lambda d: _est().fit(d.X2 + 1j, d.y), VE, "Complex data not supported",
         "fit-2d-complex"),
    case(lambda d: _est().fit([a + 1j for a in d.ragged], d.y), VE,
         "Complex data not supported: sequence 0 has dtype complex128", "ragged-complex"),
    # -- token ids ---------------------------------------------------------------------
    case(lambda d: _est(embedding_dim=3).fit(np.where(d.ids == d.ids[0, 2], -1, d.ids), d.y),
         VE, "negative token id (-1) at sample 0, step 2", "tokens-negative"),
    case(lambda d: _est(embedding_dim=3).fit(d.ids + 0.5, d.y), TE, "non-integer value",
         "tokens-non-integer"),
    case(lambda d: d.mt.predict(d.ids + 100), VE, "outside [0, vocab_size=10)",
         "tokens-beyond-vocabulary"),
    case(lambda d: _est(embedding_dim=3).fit(np.full((N, 3), "w"), d.y), TE,
         "must hold integer token ids", "tokens-strings"),
    # -- y -----------------------------------------------------------------------------
    case(lambda d: _est().fit(d.X3, np.where(d.y == 0, np.nan, 1.0)), VE,
         "Input y contains NaN", "y-nan"),
    case(lambda d: _est().fit(d.X3, np.zeros(N)), VE, "contains only one class",
         "y-one-class"),
    case(lambda d: _est().fit(d.X3, d.y[:5]), VE,
         "inconsistent numbers of samples: [12, 5]", "y-length"),
    case(lambda d: _est().fit(d.X3, np.linspace(0, 1, N)), VE, "Unknown label type: continuous",
         "y-continuous"),
    case(lambda d: _est().fit(d.X3, None), VE, "requires y to be passed", "y-none"),
    case(lambda d: _est().fit(d.X3, np.arange(2 * N).reshape(N, 2)), VE,
         "y should be a 1d array, got an array of shape (12, 2)", "y-2d-not-indicator"),
    case(lambda d: _est().fit(d.X3, np.zeros((N, 2, 2))), VE, "y should be a 1d array",
         "y-3d"),
    case(lambda d: _est().fit(d.X3, d.y, validation_data=(d.X3, d.y[:3])), VE,
         "inconsistent numbers of samples: [12, 3]", "validation-data-y-length"),
    case(lambda d: _est().fit(d.X3, d.y, validation_data=d.X3), VE,
         "validation_data must be a tuple (X_val, y_val), got ndarray", "validation-data-type"),
    case(_warm_start_new_class, VE, "`y` has the same classes", "warm-start-new-class"),
    # -- sample_weight -------------------------------------------------------------------
    case(lambda d: _est().fit(d.X3, d.y, sample_weight=-np.ones(N)), VE,
         "Negative values in data passed to `sample_weight`", "sample-weight-negative"),
    case(lambda d: _est().fit(d.X3, d.y, sample_weight=np.ones(3)), VE,
         "sample_weight.shape == (3,), expected (12,)", "sample-weight-length"),
    case(lambda d: _est().fit(d.X3, d.y, sample_weight=np.full(N, np.nan)), VE,
         "Input sample_weight contains NaN", "sample-weight-nan"),
    # -- hyper-parameters ------------------------------------------------------------------
    case(lambda d: _est(units=0).fit(d.X3, d.y), VE, "The 'units' parameter", "units-0"),
    case(lambda d: _est(units=2.5).fit(d.X3, d.y), VE, "'units' parameter", "units-float"),
    case(lambda d: _est(dropout=1.0).fit(d.X3, d.y), VE,
         "'dropout' parameter of ConstrainedGRUClassifier must be a float in the range [0.0, 1.0)",
         "dropout-1"),
    case(lambda d: _est(dropout=-0.1).fit(d.X3, d.y), VE, "Got -0.1 instead",
         "dropout-negative"),
    case(lambda d: _est(recurrent_dropout=1.5).fit(d.X3, d.y), VE,
         "'recurrent_dropout' parameter", "recurrent-dropout-1.5"),
    case(lambda d: _est(clipnorm=1.0, clipvalue=1.0).fit(d.X3, d.y), VE,
         "Only one of clipnorm, clipvalue and global_clipnorm can be set, got ['clipnorm', "
         "'clipvalue']", "clipnorm-and-clipvalue"),
    case(lambda d: _est(clipvalue=1.0, global_clipnorm=1.0).fit(d.X3, d.y), VE,
         "['clipvalue', 'global_clipnorm']", "clipvalue-and-global-clipnorm"),
    case(lambda d: _est(clipnorm=0).fit(d.X3, d.y), VE, "'clipnorm' parameter", "clipnorm-0"),
    case(lambda d: _est(solver="lbfgs").fit(d.X3, d.y), VE, "Got 'lbfgs' instead",
         "unknown-solver"),
    case(lambda d: _est(kernel_constraint=42).fit(d.X3, d.y), TE,
         "kernel_constraint must be None, a string, a skgru.constraints.Constraint or a "
         "callable w -> w, got 42", "constraint-int"),
    case(lambda d: _est(recurrent_constraint="nope").fit(d.X3, d.y), VE,
         "Unknown constraint 'nope'", "constraint-unknown-name"),
    case(lambda d: _est(bias_constraint={"config": {}}).fit(d.X3, d.y), VE,
         "bias_constraint given as a dict must have a 'class_name' key", "constraint-dict"),
    case(lambda d: _est(kernel_constraint=MaxNorm).fit(d.X3, d.y), TE,
         "kernel_constraint must be None", "constraint-class-not-instance"),
    case(lambda d: _est(kernel_constraint=MaxNorm(-1.0)).fit(d.X3, d.y), VE,
         "max_value must be a real number >= 0, got -1.0", "constraint-bad-value"),
    case(lambda d: _est(learning_rate_init=0).fit(d.X3, d.y), VE,
         "'learning_rate_init' parameter", "learning-rate-0"),
    case(lambda d: _est(batch_size=0).fit(d.X3, d.y), VE, "'batch_size' parameter",
         "batch-size-0"),
    case(lambda d: _est(dtype="float16").fit(d.X3, d.y), VE, "Got 'float16' instead",
         "dtype-float16"),
    case(lambda d: _est(device="tpu").fit(d.X3, d.y), VE, "Got 'tpu' instead", "device-tpu"),
    case(lambda d: _est(early_stopping=True, validation_fraction=1.0).fit(d.X3, d.y), VE,
         "'validation_fraction' parameter", "validation-fraction-1"),
    case(lambda d: _est(max_iter=0).fit(d.X3, d.y), VE, "'max_iter' parameter", "max-iter-0"),
    case(lambda d: _est(n_iter_no_change=0).fit(d.X3, d.y), VE, "'n_iter_no_change' parameter",
         "n-iter-no-change-0"),
    case(lambda d: _est(class_weight={5: 1.0}).fit(d.X3, d.y), VE, "not in class_weight",
         "class-weight-unknown-class"),
    # -- partial_fit -----------------------------------------------------------------------
    case(lambda d: _est().partial_fit(d.X3, d.y), VE,
         "classes must be passed on the first call to partial_fit", "partial-fit-no-classes"),
    case(lambda d: _est(early_stopping=True).partial_fit(d.X3, d.y, classes=[0, 1]), VE,
         "partial_fit does not support early_stopping=True", "partial-fit-early-stopping"),
    case(lambda d: _est().partial_fit(d.X3, d.y + 6, classes=[0, 1]), VE,
         "y contains labels [6, 7] not in classes [0, 1]", "partial-fit-unseen-label"),
    case(_second_partial_fit, VE, "is not the same as on last call to partial_fit",
         "partial-fit-classes-changed"),
    # -- not fitted ------------------------------------------------------------------------
    case(lambda d: _est().predict(d.X3), NotFittedError, "is not fitted yet",
         "predict-before-fit"),
    case(lambda d: _est().predict_proba(d.X3), NotFittedError, "is not fitted yet",
         "predict-proba-before-fit"),
    case(lambda d: _est().get_weights(), NotFittedError, "is not fitted yet",
         "get-weights-before-fit"),
    case(lambda d: _est().set_weights([]), NotFittedError, "is not fitted yet",
         "set-weights-before-fit"),
    # -- set_weights -----------------------------------------------------------------------
    case(lambda d: _est().fit(d.X3, d.y).set_weights(d.m3.get_weights()[:3]), VE,
         "set_weights expected 5 arrays, got 3", "set-weights-count"),
    case(lambda d: _est().fit(d.X3, d.y).set_weights(
        _weights_replaced(d.m3, 0, np.zeros((9, 9)))), VE,
        "Weight 0 has shape (9, 9), but the model expects (2, 6)", "set-weights-shape"),
    case(lambda d: _est().fit(d.X3, d.y).set_weights(
        _weights_replaced(d.m3, 1, lambda w: _with(w, (0, 0), np.nan))), VE,
        "Weight 1 contains NaN or infinity", "set-weights-nan"),
    case(lambda d: _est().fit(d.X3, d.y).set_weights(
        _weights_replaced(d.m3, 0, lambda w: np.full(w.shape, "a"))), TE,
        "Weight 0 has dtype <U1; numeric values are required", "set-weights-strings"),
]  # fmt: skip


def test_table_has_at_least_30_cases():
    assert len(CASES) >= 30


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("call, exc, fragment", CASES)
def test_bad_input(d, call, exc, fragment):
    with pytest.raises(exc, match=re.escape(fragment)) as info:
        call(d)
    # Nothing else: every error is a ValueError or a TypeError.
    assert isinstance(info.value, (ValueError, TypeError))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_failed_call_does_not_change_fitted_model(d):
    """A bad predict or refit leaves the shared models (and any model) as they were."""
    est = _est().fit(d.X3, d.y)
    before = est.predict_proba(d.X3)
    state = {k: v for k, v in vars(est).items() if k != "_weights"}
    with pytest.raises(ValueError):
        est.fit(_with(d.X3, (0, 0, 0), np.nan), d.y)
    with pytest.raises(ValueError):
        est.fit(d.X3[:, :, :1], np.arange(N) % 3 + 5, sample_weight=-np.ones(N))
    np.testing.assert_array_equal(est.predict_proba(d.X3), before)
    assert est.n_features_in_ == F and list(est.classes_) == [0, 1]
    assert set(vars(est)) == set(state) | {"_weights"}
