"""The sequence transformers of ``skgru.preprocessing``.

Every transformer is compared against a plain per-sequence NumPy loop written
here (an independent oracle), on 3-D arrays, 2-D (univariate) arrays and
ragged lists, with shapes drawn by hypothesis.
"""

import doctest
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import skgru.preprocessing._resampling
import skgru.preprocessing._scaling
import skgru.preprocessing._windows
from skgru import ConstrainedGRUClassifier
from skgru.preprocessing import SequenceResampler, SequenceScaler, WindowStacker, stack_windows

TOL = {np.float32: 2e-5, np.float64: 1e-10}

# -- oracles: one sequence x (T, F) at a time, plain NumPy -------------------------


def scale_sequence(x, with_mean=True, with_std=True, epsilon=1e-8):
    out = np.empty_like(x, dtype=np.float64)
    for c in range(x.shape[1]):
        col = x[:, c].astype(np.float64)
        mean, std = np.mean(col), np.std(col)
        v = col - mean if with_mean else col
        if with_std and std >= epsilon:
            v = v / std
        out[:, c] = v
    return out


def stack_sequence(x, width, stride):
    """Windows until one reaches the last step, indices past the end on the last step."""
    T = len(x)
    rows, start = [], 0
    while True:
        rows.append(np.concatenate([x[min(start + j, T - 1)] for j in range(width)]))
        if start + width >= T:
            return np.array(rows)
        start += stride


def resample_factor(x, k, method):
    if method == "subsample":
        return np.array([x[j] for j in range(0, len(x), k)])
    return np.array([x[j : j + k].astype(np.float64).mean(axis=0) for j in range(0, len(x), k)])


def resample_n_steps(x, m, method):
    T = len(x)
    if method == "mean" and T >= m:
        bounds = [j * T // m for j in range(m + 1)]
        blocks = zip(bounds, bounds[1:])
        return np.array([x[a:b].astype(np.float64).mean(axis=0) for a, b in blocks])
    positions = np.linspace(0, T - 1, m)
    return np.stack([np.interp(positions, np.arange(T), x[:, c]) for c in range(x.shape[1])], 1)


# -- data --------------------------------------------------------------------------


def make_data(kind, rng, n, T, F, dtype, max_extra=4):
    """``(X, seqs)``: the input in ``kind`` and the same sequences as (T_i, F) arrays."""
    if kind == "ragged":
        lengths = rng.integers(1, T + max_extra + 1, size=n)
        seqs = [rng.standard_normal((L, F)).astype(dtype) for L in lengths]
        return seqs, seqs
    if kind == "2d":
        X = rng.standard_normal((n, T)).astype(dtype)
        return X, [x[:, None] for x in X]
    X = rng.standard_normal((n, T, F)).astype(dtype)
    return X, list(X)


def check_against_oracle(out, X, kind, seqs, oracle, dtype, equal_length=False):
    """``out`` is of the kind of ``X`` and equals ``oracle`` sequence by sequence."""
    expected = [oracle(x) for x in seqs]
    if kind == "ragged" and not equal_length:
        assert isinstance(out, list) and len(out) == len(seqs)
        got = out
        for a in got:
            assert a.ndim == 2
    else:
        assert isinstance(out, np.ndarray)
        univariate = all(e.shape[1] == 1 for e in expected)
        if kind == "2d" and univariate:
            assert out.ndim == 2
            got = list(out[:, :, None])
        else:
            assert out.ndim == 3
            got = list(out)
    for a, e in zip(got, expected):
        assert a.dtype == dtype
        assert a.shape == e.shape
        assert_allclose(a, e, rtol=TOL[dtype], atol=TOL[dtype])


kinds = st.sampled_from(["3d", "2d", "ragged"])
dtypes = st.sampled_from([np.float32, np.float64])
shapes = {"n": st.integers(1, 5), "T": st.integers(1, 12), "F": st.integers(1, 3)}


# -- SequenceScaler ---------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    kind=kinds,
    dtype=dtypes,
    with_mean=st.booleans(),
    with_std=st.booleans(),
    seed=st.integers(0, 2**16),
    **shapes,
)
def test_sequence_scaler_matches_loop(kind, dtype, with_mean, with_std, seed, n, T, F):
    X, seqs = make_data(kind, np.random.default_rng(seed), n, T, F, dtype)
    scaler = SequenceScaler(with_mean=with_mean, with_std=with_std)
    out = scaler.fit_transform(X)

    def oracle(x):
        return scale_sequence(x, with_mean, with_std)

    check_against_oracle(out, X, kind, seqs, oracle, dtype)


@settings(max_examples=40, deadline=None)
@given(
    kind=kinds,
    dtype=dtypes,
    with_mean=st.booleans(),
    with_std=st.booleans(),
    seed=st.integers(0, 2**16),
    **shapes,
)
def test_channel_scaler_matches_loop(kind, dtype, with_mean, with_std, seed, n, T, F):
    rng = np.random.default_rng(seed)
    X, seqs = make_data(kind, rng, n, T, F, dtype)
    X_new, seqs_new = make_data(kind, rng, n, T, F, dtype)
    scaler = SequenceScaler("channel", with_mean=with_mean, with_std=with_std).fit(X)

    steps = np.concatenate(seqs).astype(np.float64)
    F_seen = steps.shape[1]
    mean = np.array([np.mean(steps[:, c]) for c in range(F_seen)])
    std = np.array([np.std(steps[:, c]) for c in range(F_seen)])
    std[std < 1e-8] = 1.0
    if with_mean or with_std:
        assert_allclose(scaler.mean_, mean, rtol=1e-6, atol=1e-9)
    else:
        assert scaler.mean_ is None
    if with_std:
        assert_allclose(scaler.scale_, std, rtol=1e-6)
    else:
        assert scaler.scale_ is None

    def oracle(x):
        v = x.astype(np.float64)
        v = v - mean if with_mean else v
        return v / std if with_std else v

    check_against_oracle(scaler.transform(X_new), X_new, kind, seqs_new, oracle, dtype)


def test_scaler_constant_channel():
    X = np.stack([np.full(6, 3.0), np.arange(6.0)], axis=1)[None]  # (1, 6, 2)
    out = SequenceScaler().fit_transform(X)
    assert np.isfinite(out).all()
    assert_allclose(out[0, :, 0], 0.0, atol=1e-12)
    assert_allclose(out[0, :, 1].std(), 1.0)
    scaler = SequenceScaler("channel").fit(X)
    assert_array_equal(scaler.scale_[0], 1.0)
    assert_allclose(scaler.transform(X)[0, :, 0], 0.0, atol=1e-12)
    # A one-step sequence is constant too.
    assert_array_equal(SequenceScaler().fit_transform([np.ones((1, 2)), np.ones((3, 2))])[0], 0)


def test_channel_scaler_ignores_padding():
    # A padded 3-D array would count the zeros of the short sequence.
    seqs = [np.array([[1.0], [3.0]]), np.array([[5.0], [7.0], [9.0], [11.0]])]
    scaler = SequenceScaler("channel").fit(seqs)
    assert_allclose(scaler.mean_, [6.0])
    assert_allclose(scaler.scale_, [np.std([1, 3, 5, 7, 9, 11])])


# -- WindowStacker ---------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    kind=kinds,
    dtype=dtypes,
    width=st.integers(1, 5),
    stride=st.one_of(st.none(), st.integers(1, 6)),
    seed=st.integers(0, 2**16),
    **shapes,
)
def test_window_stacker_matches_loop(kind, dtype, width, stride, seed, n, T, F):
    X, seqs = make_data(kind, np.random.default_rng(seed), n, T, F, dtype)
    out = WindowStacker(width, stride=stride).fit_transform(X)

    def oracle(x):
        return stack_sequence(x, width, width if stride is None else stride)

    check_against_oracle(out, X, kind, seqs, oracle, dtype)


def test_window_stacker_length_formula():
    for T in range(1, 16):
        for width in range(1, 6):
            for stride in range(1, 7):
                out = WindowStacker(width, stride=stride).fit_transform(np.zeros((1, T, 1)))
                assert out.shape[1] == -(-max(T - width, 0) // stride) + 1  # the documented one


def test_window_stacker_by_hand():
    x = np.arange(10.0).reshape(5, 2)  # steps (0, 1), (2, 3), ..., (8, 9)
    out = WindowStacker(2).fit_transform([x])[0]
    assert out.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 8, 9]]  # last step repeated
    out = WindowStacker(3, stride=1).fit_transform(x[None])[0]
    assert out.tolist() == [[0, 1, 2, 3, 4, 5], [2, 3, 4, 5, 6, 7], [4, 5, 6, 7, 8, 9]]
    short = WindowStacker(4).fit_transform([x[:2]])[0]  # shorter than width: one window
    assert short.tolist() == [[0, 1, 2, 3, 2, 3, 2, 3]]


@pytest.mark.parametrize("kind", ["3d", "2d", "ragged"])
def test_window_stacker_width_one_is_identity(kind):
    X, seqs = make_data(kind, np.random.default_rng(0), 3, 5, 2, np.float64)
    out = WindowStacker(1, stride=1).fit_transform(X)
    if kind == "ragged":
        for a, x in zip(out, seqs):
            assert_array_equal(a, x)
    else:
        assert isinstance(out, np.ndarray)
        assert_array_equal(out, X)


def test_stack_windows_keeps_its_behaviour():
    X = np.arange(2 * 7 * 2).reshape(2, 7, 2)  # ints stay ints
    Z = stack_windows(X, width=3)
    assert Z.shape == (2, 2, 6) and Z.dtype == X.dtype
    assert Z[1, 1].tolist() == [20, 21, 22, 23, 24, 25]  # the trailing step is dropped
    assert stack_windows(X, width=1) is X
    assert stack_windows(X, width=8).shape == (2, 0, 16)
    # Where the windows fill the sequence, the transformer gives the same.
    assert_array_equal(WindowStacker(3).fit_transform(X[:, :6]), stack_windows(X[:, :6], 3))

    from skgru._demo import stack_windows as demo_stack_windows

    assert demo_stack_windows is stack_windows


# -- SequenceResampler ---------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    kind=kinds,
    dtype=dtypes,
    factor=st.integers(1, 5),
    method=st.sampled_from(["mean", "subsample"]),
    seed=st.integers(0, 2**16),
    **shapes,
)
def test_resampler_factor_matches_loop(kind, dtype, factor, method, seed, n, T, F):
    X, seqs = make_data(kind, np.random.default_rng(seed), n, T, F, dtype)
    out = SequenceResampler(factor=factor, method=method).fit_transform(X)

    def oracle(x):
        return resample_factor(x, factor, method)

    check_against_oracle(out, X, kind, seqs, oracle, dtype)


@settings(max_examples=50, deadline=None)
@given(
    kind=kinds,
    dtype=dtypes,
    n_steps=st.integers(1, 15),
    method=st.sampled_from(["mean", "linear"]),
    seed=st.integers(0, 2**16),
    **shapes,
)
def test_resampler_n_steps_matches_loop(kind, dtype, n_steps, method, seed, n, T, F):
    X, seqs = make_data(kind, np.random.default_rng(seed), n, T, F, dtype)
    out = SequenceResampler(n_steps=n_steps, method=method).fit_transform(X)

    def oracle(x):
        return resample_n_steps(x, n_steps, method)

    # With n_steps, a ragged list becomes one 3-D array.
    check_against_oracle(out, X, kind, seqs, oracle, dtype, equal_length=True)


def test_resampler_by_hand():
    x = np.arange(7.0)[:, None]
    # Boundaries floor(linspace(0, 7, 4)) = 0, 2, 4, 7.
    out = SequenceResampler(n_steps=3).fit_transform([x, x[:5]])
    assert out.shape == (2, 3, 1)
    assert out[0, :, 0].tolist() == [0.5, 2.5, 5.0]
    assert out[1, :, 0].tolist() == [0.0, 1.5, 3.5]  # 5 steps: boundaries 0, 1, 3, 5
    # Fewer steps than n_steps: nothing to average, interpolated.
    assert SequenceResampler(n_steps=3).fit_transform([x[:2]])[0, :, 0].tolist() == [0, 0.5, 1]
    # T=30, m=22: boundary 11 * 30 / 22 = 15, which floating-point linspace puts below 15.
    assert np.floor(np.linspace(0, 30, 23))[11] == 14
    out = SequenceResampler(n_steps=22).fit_transform(np.arange(30.0)[None])
    assert out[0, 10] == np.mean([13.0, 14.0]) and out[0, 11] == 15.0
    assert SequenceResampler(factor=3).fit_transform(x.T).tolist() == [[1.0, 4.0, 6.0]]


# -- shared behaviour ------------------------------------------------------------

TRANSFORMERS = [
    SequenceScaler(),
    SequenceScaler("channel"),
    WindowStacker(3),
    WindowStacker(3, stride=1),
    SequenceResampler(factor=2),
    SequenceResampler(factor=3, method="subsample"),
    SequenceResampler(n_steps=4),
    SequenceResampler(n_steps=6, method="linear"),
]
IDS = [repr(t) for t in TRANSFORMERS]


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=IDS)
def test_ragged_equals_equal_length(transformer):
    X = np.random.default_rng(1).standard_normal((4, 9, 2))
    dense = clone(transformer).fit_transform(X)
    ragged = clone(transformer).fit_transform(list(X))
    assert isinstance(dense, np.ndarray) and dense.ndim == 3
    assert_allclose(np.stack(ragged), dense, rtol=1e-12, atol=1e-12)
    # Univariate: a 2-D array, a 3-D array with one feature and a list of 1-D arrays agree.
    X1 = X[:, :, 0]
    flat = clone(transformer).fit_transform(X1)
    fitted = clone(transformer).fit(X1[:, :, None])
    three = fitted.transform(X1[:, :, None])
    listed = fitted.transform([x for x in X1[:2]] + [X1[2, :5], X1[3]])
    assert_allclose(flat.reshape(three.shape), three)
    assert_allclose(np.asarray(listed[0]), three[0])
    assert_allclose(np.asarray(listed[3]), three[3])


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=IDS)
def test_dtypes(transformer):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((3, 8, 2))
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        for data in (Xd, Xd[:, :, 0], [Xd[0], Xd[1, :5]]):
            out = clone(transformer).fit_transform(data)
            for a in out if isinstance(out, list) else [out]:
                assert a.dtype == dtype
    # Integers and lists of lists become float64.
    ints = rng.integers(0, 5, size=(3, 8, 2))
    assert clone(transformer).fit_transform(ints).dtype == np.float64
    out = clone(transformer).fit_transform([[[1, 2]] * 4, [[3, 4]] * 6])
    for a in out if isinstance(out, list) else [out]:
        assert a.dtype == np.float64


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=IDS)
def test_clone_params_pickle(transformer):
    params = transformer.get_params()
    twin = clone(transformer)
    assert twin.get_params() == params and twin is not transformer
    X = np.random.default_rng(3).standard_normal((3, 7, 2))
    fitted = clone(transformer).fit(X)
    assert fitted.n_features_in_ == 2 and fitted.n_step_features_ == 2
    restored = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(restored.transform(X), fitted.transform(X))
    assert clone(fitted).get_params() == params
    assert not hasattr(clone(fitted), "n_features_in_")


def test_set_params():
    stacker = WindowStacker(2).set_params(width=4, stride=2)
    assert stacker.get_params() == {"width": 4, "stride": 2}
    scaler = SequenceScaler().set_params(mode="channel", epsilon=0.5)
    assert scaler.get_params()["mode"] == "channel"
    # Changed after fit: the statistics are missing, and the error says so.
    fitted = SequenceScaler().fit(np.ones((2, 3))).set_params(mode="channel")
    with pytest.raises(NotFittedError, match="fitted with other parameters"):
        fitted.transform(np.ones((2, 3)))


def test_tags_and_fitting():
    X = np.random.default_rng(4).standard_normal((3, 6, 2))
    for t in TRANSFORMERS:
        tags = t.__sklearn_tags__()
        assert tags.input_tags.three_d_array and not tags.input_tags.allow_nan
        assert tags.transformer_tags.preserves_dtype == ["float64", "float32"]
        assert tags.requires_fit == (getattr(t, "mode", None) == "channel")
        if not tags.requires_fit:  # stateless: transform works without fit
            assert_array_equal(clone(t).transform(X), clone(t).fit_transform(X))
    with pytest.raises(NotFittedError):
        SequenceScaler("channel").transform(X)


def test_set_output():
    assert SequenceScaler().set_output(transform="default").get_params()["mode"] == "sequence"
    with pytest.raises(ValueError, match="only returns NumPy arrays"):
        WindowStacker(2).set_output(transform="pandas")


# -- errors ------------------------------------------------------------------------


@pytest.mark.parametrize("transformer", TRANSFORMERS, ids=IDS)
def test_input_errors(transformer):
    t = clone(transformer)
    X = np.ones((3, 6, 2))
    nan = X.copy()
    nan[1, 4, 0] = np.nan
    with pytest.raises(ValueError, match="contains NaN at sample 1, timestep 4, feature 0"):
        t.fit(nan)
    with pytest.raises(ValueError, match=r"X\[1\] \(sequence 1\) contains infinity"):
        t.fit([np.ones((3, 2)), np.array([[1.0, np.inf]])])
    with pytest.raises(ValueError, match="Sequence 1 has length 0"):
        t.fit([np.ones((3, 2)), np.ones((0, 2))])
    with pytest.raises(ValueError, match="X has 0 timesteps"):
        t.fit(np.ones((3, 0, 2)))
    with pytest.raises(ValueError, match="X has 0 features per timestep"):
        t.fit(np.ones((3, 4, 0)))
    with pytest.raises(ValueError, match="X is empty"):
        t.fit([])
    with pytest.raises(ValueError, match="Sequence 1 has 3 features per step but sequence 0"):
        t.fit([np.ones((3, 2)), np.ones((4, 3))])
    with pytest.raises(ValueError, match="X has 4 dimension"):
        t.fit(np.ones((2, 3, 4, 5)))
    with pytest.raises(TypeError, match="strings"):
        t.fit(np.array([["a", "b"]]))

    t.fit(X)
    with pytest.raises(ValueError, match="X has 3 features per timestep, but .* expecting 2"):
        t.transform(np.ones((2, 6, 3)))
    with pytest.raises(ValueError, match="X has 3 features per timestep, but .* expecting 2"):
        t.transform([np.ones((4, 3)), np.ones((5, 3))])
    with pytest.raises(ValueError, match="2-D X is read as univariate"):
        t.transform(np.ones((2, 6)))
    # Fitted on 2-D (n, T): the number of columns is fixed, as in scikit-learn.
    t.fit(np.ones((3, 6)))
    with pytest.raises(ValueError, match="X has 5 features, but .* is expecting 6"):
        t.transform(np.ones((3, 5)))
    t.transform(np.ones((3, 9, 1)))  # one feature per step, any length


@pytest.mark.parametrize(
    "transformer, message",
    [
        (SequenceScaler(mode="global"), "'mode' parameter of SequenceScaler must be"),
        (SequenceScaler(epsilon=-1.0), "'epsilon' parameter"),
        (SequenceScaler(with_mean="yes"), "'with_mean' parameter"),
        (WindowStacker(0), "'width' parameter of WindowStacker must be an int in the range"),
        (WindowStacker(2.5), "'width' parameter"),
        (WindowStacker(2, stride=0), "'stride' parameter"),
        (SequenceResampler(), "exactly one of n_steps .* neither was given"),
        (SequenceResampler(n_steps=3, factor=2), "exactly one of n_steps .* both were given"),
        (SequenceResampler(factor=0), "'factor' parameter"),
        (SequenceResampler(n_steps=0), "'n_steps' parameter"),
        (SequenceResampler(factor=2, method="linear"), "method='linear' needs n_steps"),
        (SequenceResampler(n_steps=2, method="subsample"), "method='subsample' needs factor"),
        (SequenceResampler(factor=2, method="median"), "'method' parameter"),
    ],
)
def test_parameter_errors(transformer, message):
    X = np.ones((2, 5, 1))
    with pytest.raises(ValueError, match=message):
        clone(transformer).fit(X)
    if not transformer.__sklearn_tags__().requires_fit:
        with pytest.raises(ValueError, match=message):  # also without fit
            clone(transformer).transform(X)


# -- scikit-learn ------------------------------------------------------------------


@parametrize_with_checks(
    [SequenceScaler(), SequenceScaler("channel"), WindowStacker(3, stride=2)]
    + [SequenceResampler(factor=2), SequenceResampler(n_steps=3)]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _labels(n):
    return np.arange(n) % 2


@pytest.fixture
def no_convergence_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _pipeline():
    return Pipeline(
        [
            ("sequencescaler", SequenceScaler()),
            ("windowstacker", WindowStacker(4)),
            ("gru", ConstrainedGRUClassifier(units=4, max_iter=2, random_state=0)),
        ]
    )


@pytest.mark.usefixtures("no_convergence_warnings")
def test_pipeline_on_ragged_and_3d():
    rng = np.random.default_rng(5)
    ragged = [rng.standard_normal((int(L), 2)) for L in rng.integers(3, 15, size=10)]
    dense = rng.standard_normal((10, 12, 2))
    y = _labels(10)
    for X in (ragged, dense):
        model = _pipeline().fit(X, y)
        assert model.named_steps["gru"].n_features_in_ == 8  # 4 steps x 2 features
        pred = model.predict(X)
        assert pred.shape == (10,) and set(pred) <= {0, 1}
    # One sequence alone is predicted as in the batch (each is scaled on its own).
    assert model.predict(dense[:1])[0] == pred[0]


@pytest.mark.usefixtures("no_convergence_warnings")
def test_grid_search_over_width():
    X = np.random.default_rng(6).standard_normal((8, 8, 1))
    y = _labels(8)
    search = GridSearchCV(_pipeline(), {"windowstacker__width": [1, 2, 4]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["windowstacker__width"] in (1, 2, 4)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.predict(X).shape == (8,)


@pytest.mark.parametrize(
    "module",
    [skgru.preprocessing._scaling, skgru.preprocessing._windows, skgru.preprocessing._resampling],
)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
