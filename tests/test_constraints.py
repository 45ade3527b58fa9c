"""Weight constraints: Keras formulas, axis semantics, sklearn protocol."""

import json
import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import BaseEstimator, clone

from skgru.constraints import Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm, get
from skgru.training._constraints import apply_constraint

EPS = 1e-7
F, U = 4, 3

# GRU tensor shapes (SPEC 3.1): kernel, recurrent kernel, reset_after bias, plain bias.
SHAPES = {"kernel": (F, 3 * U), "recurrent": (U, 3 * U), "bias2": (2, 3 * U), "bias1": (3 * U,)}


# -- independent oracle: explicit loops over the vectors a norm is taken over --


def _vectors(shape, axis):
    """Yield lists of index tuples, one list per norm along ``axis``."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(a % len(shape) for a in axes)
    kept = [d for d in range(len(shape)) if d not in axes]
    groups = {}
    for idx in np.ndindex(*shape):
        key = tuple(idx[d] for d in kept)
        groups.setdefault(key, []).append(idx)
    return list(groups.values())


def _oracle(w, axis, desired_of):
    """``w * desired(n) / (eps + n)`` per vector, with norms from math.sqrt."""
    out = np.empty_like(w, dtype=np.float64)
    for group in _vectors(w.shape, axis):
        n = math.sqrt(sum(float(w[i]) ** 2 for i in group))
        factor = desired_of(n) / (EPS + n)
        for i in group:
            out[i] = float(w[i]) * factor
    return out


def _norms(w, axis):
    return [math.sqrt(sum(float(w[i]) ** 2 for i in g)) for g in _vectors(w.shape, axis)]


def _clip(x, lo, hi):
    return min(max(x, lo), hi)


def _rand(shape, seed=0, scale=2.0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


# -- formulas --------------------------------------------------------------------


@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize("axis", [0, -1, (0,)])
def test_max_norm_formula(shape_name, axis):
    w = _rand(SHAPES[shape_name])
    got = MaxNorm(max_value=1.5, axis=axis)(w)
    want = _oracle(w, axis, lambda n: _clip(n, 0.0, 1.5))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_unit_norm_formula(shape_name):
    w = _rand(SHAPES[shape_name], seed=1)
    got = UnitNorm()(w)
    want = _oracle(w, 0, lambda n: 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize("rate", [1.0, 0.3, 0.0])
def test_min_max_norm_formula(shape_name, rate):
    w = _rand(SHAPES[shape_name], seed=2)
    got = MinMaxNorm(min_value=1.0, max_value=2.5, rate=rate)(w)
    want = _oracle(w, 0, lambda n: rate * _clip(n, 1.0, 2.5) + (1 - rate) * n)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_non_neg_formula():
    w = np.array([[-1.0, 0.0, 2.5], [3.0, -0.5, -0.0]])
    np.testing.assert_array_equal(NonNeg()(w), [[0.0, 0.0, 2.5], [3.0, 0.0, 0.0]])


def test_eps_always_in_denominator():
    # A column already inside the limit still shrinks by n / (n + eps).
    w = np.array([[0.3], [0.4]])
    out = MaxNorm(max_value=2.0)(w)
    np.testing.assert_array_equal(out, w * (0.5 / (EPS + 0.5)))
    assert not np.array_equal(out, w)


def test_zero_column_stays_zero():
    w = np.zeros((3, 2))
    for c in (MaxNorm(), UnitNorm(), MinMaxNorm(min_value=0.5)):
        np.testing.assert_array_equal(c(w), 0.0)


# -- axis semantics on the GRU tensors -------------------------------------------


def test_axis0_is_per_column_of_fused_kernel():
    w = _rand(SHAPES["kernel"], seed=3)
    out = UnitNorm(axis=0)(w)
    assert out.shape == w.shape
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), 1.0, rtol=1e-6)
    # Columns are independent: scaling one gate column leaves the others alone.
    w2 = w.copy()
    w2[:, 4] *= 10
    out2 = MaxNorm(max_value=1.0)(w2)
    np.testing.assert_array_equal(np.delete(out2, 4, axis=1), np.delete(MaxNorm(1.0)(w), 4, axis=1))


def test_axis1_is_per_input_feature():
    w = _rand(SHAPES["recurrent"], seed=4)
    out = UnitNorm(axis=1)(w)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out, _oracle(w, 1, lambda n: 1.0), rtol=1e-12)


def test_bias_reset_after_pairs_input_and_recurrent_bias():
    b = _rand(SHAPES["bias2"], seed=5)
    out = UnitNorm()(b)
    for j in range(3 * U):
        n = math.hypot(b[0, j], b[1, j])
        assert out[0, j] == pytest.approx(b[0, j] / (EPS + n), rel=1e-12)
        assert out[1, j] == pytest.approx(b[1, j] / (EPS + n), rel=1e-12)


def test_bias_1d_takes_whole_vector_norm():
    b = _rand(SHAPES["bias1"], seed=6)
    out = MaxNorm(max_value=1.0)(b)
    n = math.sqrt(sum(x * x for x in b))
    np.testing.assert_allclose(out, b * (1.0 / (EPS + n)), rtol=1e-12)
    assert np.linalg.norm(out) <= 1.0


@pytest.mark.parametrize("axis", [(0, 1), [0, 1], (-2, -1)])
def test_tuple_axis_whole_matrix(axis):
    w = _rand(SHAPES["kernel"], seed=7)
    out = MaxNorm(max_value=1.0, axis=axis)(w)
    n = math.sqrt(float(np.sum(w**2)))
    np.testing.assert_allclose(out, w * (1.0 / (EPS + n)), rtol=1e-12)


def test_bad_axis():
    with pytest.raises(ValueError, match="out of range"):
        MaxNorm(axis=1)(np.ones(3))
    with pytest.raises(ValueError, match="axis must be an int"):
        UnitNorm(axis="rows")(np.ones((2, 2)))


# -- dtype, shape, no mutation ----------------------------------------------------


@pytest.mark.parametrize("c", [MaxNorm(0.5), UnitNorm(), NonNeg(), MinMaxNorm(0.2, 0.7, 0.5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_new_array_same_dtype_no_mutation(c, dtype):
    w = _rand((F, 3 * U), seed=8).astype(dtype)
    before = w.copy()
    out = c(w)
    assert out.dtype == dtype and out.shape == w.shape
    assert not np.shares_memory(out, w)
    np.testing.assert_array_equal(w, before)
    ref = c(w.astype(np.float64))
    np.testing.assert_allclose(out, ref, rtol=2e-6, atol=1e-7)


def test_integer_input_computed_in_float64():
    out = NonNeg()(np.array([-1, 2]))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.0, 2.0])


# -- hypothesis invariants --------------------------------------------------------

# Magnitudes below 1e-100 are flushed to 0: their squares underflow, so a
# column of them has a computed norm of 0 while not being zero, which tests
# float64 arithmetic rather than the constraints.
_floats = st.floats(-1e3, 1e3, allow_nan=False, width=64).map(
    lambda x: 0.0 if abs(x) < 1e-100 else x
)
_mats = arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=_floats)


@settings(max_examples=40, deadline=None)
@given(w=_mats, max_value=st.floats(0.0, 10.0), axis=st.sampled_from([0, 1]))
def test_max_norm_bounds_norms(w, max_value, axis):
    out = MaxNorm(max_value=max_value, axis=axis)(w)
    for n in _norms(out, axis):
        assert n <= max_value * (1 + 1e-6) + 1e-12


@settings(max_examples=40, deadline=None)
@given(w=_mats, axis=st.sampled_from([0, 1]))
def test_unit_norm_gives_unit_norms(w, axis):
    out = UnitNorm(axis=axis)(w)
    for n_in, n_out in zip(_norms(w, axis), _norms(out, axis)):
        if n_in > 1e-3:
            assert n_out == pytest.approx(1.0, abs=1e-4)
        elif n_in == 0:
            assert n_out == 0


@settings(max_examples=40, deadline=None)
@given(w=_mats)
def test_non_neg_is_non_negative(w):
    out = NonNeg()(w)
    assert (out >= 0).all()
    np.testing.assert_array_equal(out[w > 0], w[w > 0])


@settings(max_examples=40, deadline=None)
@given(
    w=_mats,
    # Bounds below ~1e-150 make the squared entries of the output underflow, so
    # the test's own norm would read 0; they say nothing about the constraint.
    lo=st.one_of(st.just(0.0), st.floats(1e-6, 5.0)),
    width=st.floats(0.0, 5.0),
    axis=st.sampled_from([0, 1]),
)
def test_min_max_norm_rate1_within_bounds(w, lo, width, axis):
    hi = lo + width
    out = MinMaxNorm(min_value=lo, max_value=hi, rate=1.0, axis=axis)(w)
    for n_in, n_out in zip(_norms(w, axis), _norms(out, axis)):
        if n_in > 1e-3:  # a (near-)zero column cannot be scaled up to min_value
            assert lo * (1 - 1e-4) <= n_out <= hi * (1 + 1e-6) + 1e-12


# -- validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "c, match",
    [
        (MaxNorm(max_value=-1), "max_value must be"),
        (MaxNorm(max_value=float("nan")), "max_value must be"),
        (MaxNorm(max_value="2"), "max_value must be"),
        (MinMaxNorm(min_value=2.0, max_value=1.0), "min_value must be"),
        (MinMaxNorm(min_value=-0.1), "min_value must be"),
        (MinMaxNorm(max_value=-1.0, min_value=-2.0), "max_value must be"),
        (MinMaxNorm(rate=1.5), r"rate must be .* \[0, 1\]"),
        (MinMaxNorm(rate=-0.1), "rate must be"),
    ],
)
def test_invalid_params_raise_on_call(c, match):
    with pytest.raises(ValueError, match=match):
        c(np.ones((2, 2)))
    with pytest.raises(ValueError, match=match):
        c.get_config()


# -- protocol: repr, eq, hash, config, clone, params -------------------------------


def test_repr():
    assert repr(MaxNorm(max_value=2.0, axis=0)) == "MaxNorm(max_value=2.0, axis=0)"
    assert repr(UnitNorm(axis=(0, 1))) == "UnitNorm(axis=(0, 1))"
    assert repr(NonNeg()) == "NonNeg()"
    assert repr(MinMaxNorm()) == "MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0)"


def test_eq_and_hash():
    assert MaxNorm(2) == MaxNorm(2.0)
    assert hash(MaxNorm(2)) == hash(MaxNorm(2.0))
    assert MaxNorm(axis=(0, 1)) == MaxNorm(axis=[0, 1])
    assert hash(MaxNorm(axis=(0, 1))) == hash(MaxNorm(axis=[0, 1]))
    assert MaxNorm(2) != MaxNorm(3)
    assert MaxNorm(1.0) != MinMaxNorm(max_value=1.0)
    assert NonNeg() == NonNeg()
    assert UnitNorm() != "unit_norm"
    assert len({MaxNorm(), MaxNorm(2.0), UnitNorm(), UnitNorm(axis=0)}) == 2


@pytest.mark.parametrize(
    "c", [MaxNorm(1.5, axis=(0, 1)), UnitNorm(axis=1), NonNeg(), MinMaxNorm(0.5, 3.0, 0.25, 0)]
)
def test_config_round_trip(c):
    config = c.get_config()
    config2 = json.loads(json.dumps(config))
    assert config2 == config
    again = type(c).from_config(config2)
    assert again == c and again is not c
    assert get({"class_name": type(c).__name__, "config": config2}) == c
    assert pickle.loads(pickle.dumps(c)) == c


def test_get_config_values_are_plain_python():
    config = MaxNorm(np.float32(2.0), axis=(np.int64(0),)).get_config()
    assert config == {"max_value": 2.0, "axis": [0]}
    assert type(config["max_value"]) is float and type(config["axis"][0]) is int


@pytest.mark.parametrize(
    "c", [MaxNorm(1.5, axis=(0, 1)), UnitNorm(axis=1), NonNeg(), MinMaxNorm(0.5, 3.0, 0.25, 0)]
)
def test_sklearn_clone(c):
    c2 = clone(c)
    assert c2 == c and c2 is not c
    assert c2.get_params() == c.get_params()


def test_get_set_params():
    c = MinMaxNorm()
    assert c.get_params() == {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}
    assert c.set_params(max_value=4.0, rate=0.5) is c
    assert c == MinMaxNorm(max_value=4.0, rate=0.5)
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        c.set_params(bogus=1)
    assert NonNeg().get_params(deep=True) == {}


class _Holder(BaseEstimator):
    def __init__(self, kernel_constraint=None):
        self.kernel_constraint = kernel_constraint


def test_nested_params_in_an_estimator():
    est = _Holder(kernel_constraint=MaxNorm(2.0))
    params = est.get_params(deep=True)
    assert params["kernel_constraint__max_value"] == 2.0
    assert params["kernel_constraint__axis"] == 0
    est2 = clone(est)
    assert est2.kernel_constraint == est.kernel_constraint
    assert est2.kernel_constraint is not est.kernel_constraint
    est2.set_params(kernel_constraint__max_value=0.5)
    assert est2.kernel_constraint == MaxNorm(0.5)
    assert est.kernel_constraint == MaxNorm(2.0)  # the original is untouched


def test_custom_subclass():
    class Scale(Constraint):
        def __init__(self, factor=2.0):
            self.factor = factor

        def _project(self, w):
            return w * self.factor

    c = Scale(3.0)
    np.testing.assert_array_equal(c(np.array([1.0, 2.0])), [3.0, 6.0])
    assert repr(c) == "Scale(factor=3.0)"
    assert c.get_config() == {"factor": 3.0}
    assert clone(c) == c
    # The base projection is the identity, returned as a new array.
    w = np.ones(2)
    out = Constraint()(w)
    assert out is not w and np.array_equal(out, w)


# -- get ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, cls",
    [
        ("max_norm", MaxNorm),
        ("unit_norm", UnitNorm),
        ("non_neg", NonNeg),
        ("min_max_norm", MinMaxNorm),
        ("MaxNorm", MaxNorm),
        ("UnitNorm", UnitNorm),
        ("NonNeg", NonNeg),
        ("MinMaxNorm", MinMaxNorm),
    ],
)
def test_get_strings(name, cls):
    assert get(name) == cls()


def test_get_passthrough():
    assert get(None) is None
    c = MaxNorm(1.0)
    assert get(c) is c

    def fn(w):
        return w

    assert get(fn) is fn
    assert get({"class_name": "max_norm", "config": {"max_value": 3}}) == MaxNorm(3)
    assert get({"class_name": "NonNeg"}) == NonNeg()
    # Keras serialisations carry extra keys.
    keras_style = {"module": "keras.constraints", "class_name": "UnitNorm", "config": {"axis": 1}}
    assert get(keras_style) == UnitNorm(axis=1)


def test_get_errors():
    with pytest.raises(TypeError, match=r"kernel_constraint must be None, a string, a "):
        get(3.5, name="kernel_constraint")
    with pytest.raises(TypeError, match="callable w -> w, got"):
        get([1, 2])
    with pytest.raises(TypeError):
        get(MaxNorm)  # a class, not an instance
    with pytest.raises(ValueError, match="Unknown constraint 'l2'"):
        get("l2")
    with pytest.raises(ValueError, match="class_name"):
        get({"config": {}})
    with pytest.raises(ValueError, match="Unknown constraint"):
        get({"class_name": "Bogus", "config": {}})


# -- apply_constraint ------------------------------------------------------------


def test_apply_constraint_in_place():
    w = np.array([[3.0, 0.1], [4.0, 0.1]], dtype=np.float32)
    ref = MaxNorm(1.0)(w)
    out = apply_constraint(MaxNorm(1.0), w)
    assert out is w
    np.testing.assert_array_equal(w, ref)


def test_apply_constraint_casts_and_accepts_identifiers():
    w = np.array([-1.0, 2.0], dtype=np.float32)
    apply_constraint(lambda x: np.abs(x).astype(np.float64), w)
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w, [1.0, 2.0])
    w[0] = -3.0
    apply_constraint("non_neg", w)
    np.testing.assert_array_equal(w, [0.0, 2.0])
    before = w.copy()
    assert apply_constraint(None, w) is w
    np.testing.assert_array_equal(w, before)


def test_apply_constraint_shape_check():
    w = np.ones((2, 3))
    with pytest.raises(ValueError, match="must preserve the shape"):
        apply_constraint(lambda x: x.ravel(), w)
    np.testing.assert_array_equal(w, 1.0)
