"""``DilatedConvolutions`` against a plain per-sequence loop over explicit kernels."""

import itertools
import pickle

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skgru.preprocessing import DilatedConvolutions


def kernel_weights(index):
    """Weights of MiniRocket kernel ``index``: 2 at its three chosen taps, -1 elsewhere."""
    w = -np.ones(9)
    w[list(list(itertools.combinations(range(9), 3))[index])] = 2.0
    return w


def oracle(conv, x, tie=0.0):
    """One sequence ``x (T, F)`` through the fitted transformer's state, with loops.

    ``tie`` widens the comparison with the bias for ``pooling="ppv"``: a
    response within ``tie`` of its bias counts as above it (pass ``-tie`` for
    below), so that a caller can bound the result where the loop's sum and
    the transformer's round a response that equals its bias differently.
    """
    T = len(x)
    columns = []
    for i, d in enumerate(conv.dilations_):
        for j, k in enumerate(conv.kernels_[i]):
            w = kernel_weights(k)
            s = x.astype(np.float64) @ conv.channel_masks_[i, j]
            padded = np.concatenate([np.zeros(4 * d), s, np.zeros(4 * d)])
            z = np.array([sum(w[m] * padded[t + m * d] for m in range(9)) for t in range(T)])
            p = conv.pool_size_
            if conv.pooling == "ppv":
                above = z > conv.biases_[i, j] - tie
                columns.append([above[a : a + p].mean() for a in range(0, T, p)])
            else:
                h = np.maximum(z - conv.biases_[i, j], 0.0)
                columns.append([h[a : a + p].max() for a in range(0, T, p)])
    out = np.array(columns).T
    return (out - conv.mean_) / conv.scale_


def assert_matches_oracle(conv, x, out):
    """``out`` equals the loop's result; for "ppv", up to responses that tie with their bias.

    A bias is a quantile of training responses, so it can equal a response
    exactly; whether such a response counts as above it then depends on the
    order of the nine additions, which the loop and the transformer do not
    share. Blocks without such a tie must match exactly.
    """
    lo, hi = oracle(conv, x, tie=-1e-9), oracle(conv, x, tie=1e-9)
    assert np.all(out >= lo - 1e-10) and np.all(out <= hi + 1e-10)
    sure = lo == hi
    assert_allclose(out[sure], lo[sure], rtol=1e-10, atol=1e-10)


@example(n=4, T=12, F=1, pool=1, pooling="ppv", seed=3)  # a response equals its bias
@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 4),
    T=st.integers(1, 40),
    F=st.integers(1, 3),
    pool=st.integers(1, 5),
    pooling=st.sampled_from(["ppv", "max"]),
    seed=st.integers(0, 10),
)
def test_equal_length_matches_the_loop(n, T, F, pool, pooling, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F))
    conv = DilatedConvolutions(
        dilations=(1, 3), n_kernels=5, pool_size=pool, pooling=pooling, random_state=seed
    )
    out = conv.fit(X).transform(X)
    assert out.shape == (n, -(-T // pool), 10)
    for i in range(n):
        assert_matches_oracle(conv, X[i], out[i])


@settings(max_examples=10, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 30), min_size=2, max_size=5),
    pooling=st.sampled_from(["ppv", "max"]),
    seed=st.integers(0, 10),
)
def test_ragged_sequences_are_convolved_on_their_own_steps(lengths, pooling, seed):
    rng = np.random.default_rng(seed)
    X = [rng.normal(size=(L, 2)) for L in lengths]
    conv = DilatedConvolutions(
        dilations=(1, 2), n_kernels=4, pool_size=3, pooling=pooling, random_state=seed
    )
    out = conv.fit(X).transform(X)
    assert isinstance(out, list)
    for x, o in zip(X, out):
        assert_matches_oracle(conv, x, o)
        # The same sequence alone, as a 3-D array, gives the same rows.
        assert_allclose(conv.transform(x[None])[0], o, rtol=1e-12, atol=1e-12)


def test_training_output_is_standardised():
    X = np.random.default_rng(0).normal(size=(10, 50, 1))
    out = DilatedConvolutions(n_kernels=8, random_state=0).fit_transform(X)
    flat = out.reshape(-1, out.shape[2])
    assert_allclose(flat.mean(axis=0), 0.0, atol=1e-9)
    std = flat.std(axis=0)
    # A channel the ReLU never opens is constant: left at zero, not divided.
    assert np.all((np.abs(std - 1.0) < 1e-9) | (std < 1e-9))


def test_biases_lie_between_the_responses_deciles():
    X = np.random.default_rng(1).normal(size=(20, 60, 1))
    conv = DilatedConvolutions(dilations=(1,), n_kernels=84, pool_size=1, random_state=0).fit(X)
    resp = np.stack([oracle_raw(conv, x) for x in X])  # (n, T, 84)
    lo = np.quantile(resp.reshape(-1, 84), 0.1, axis=0)
    hi = np.quantile(resp.reshape(-1, 84), 0.9, axis=0)
    assert np.all(conv.biases_[0] >= lo - 1e-9) and np.all(conv.biases_[0] <= hi + 1e-9)


def oracle_raw(conv, x):
    d = conv.dilations_[0]
    s = x[:, 0]
    padded = np.concatenate([np.zeros(4 * d), s, np.zeros(4 * d)])
    cols = []
    for k in conv.kernels_[0]:
        w = kernel_weights(k)
        cols.append([sum(w[m] * padded[t + m * d] for m in range(9)) for t in range(len(s))])
    return np.array(cols).T


def test_kernels_sum_to_zero_so_a_level_shift_changes_nothing_inside():
    # Away from the padded ends a constant offset cancels in every kernel.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3, 40, 1))
    conv = DilatedConvolutions(dilations=(1,), n_kernels=84, pool_size=1, random_state=0).fit(X)
    a = conv.transform(X)[:, 4:-4]
    b = conv.transform(X + 5.0)[:, 4:-4]
    assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_auto_settings_follow_the_median_length():
    X = np.zeros((4, 300, 1)) + np.random.default_rng(0).normal(size=(4, 300, 1))
    conv = DilatedConvolutions(random_state=0).fit(X)
    assert conv.dilations_ == (1, 2, 4, 8, 16, 32)  # 64 > (300 - 1) / 8
    assert conv.pool_size_ == int(np.ceil(300 / 80))
    assert conv.n_output_features_ == 84 * len(conv.dilations_)


def test_auto_dilations_stop_at_max_dilations():
    X = np.random.default_rng(1).normal(size=(2, 1460, 1))
    assert DilatedConvolutions(n_kernels=2).fit(X).dilations_ == tuple(2**k for k in range(8))
    conv = DilatedConvolutions(n_kernels=2, max_dilations=3).fit(X)
    assert conv.dilations_ == (1, 2, 4)


def test_float32_preserved_and_2d_read_as_univariate():
    X = np.random.default_rng(0).normal(size=(5, 30)).astype(np.float32)
    conv = DilatedConvolutions(n_kernels=6, random_state=0).fit(X)
    out = conv.transform(X)
    assert out.dtype == np.float32 and out.ndim == 3
    assert_allclose(out, conv.transform(X[:, :, None]), rtol=1e-6)


def test_same_seed_same_output_and_clone_pickle():
    X = np.random.default_rng(3).normal(size=(6, 25, 2))
    a = DilatedConvolutions(n_kernels=7, random_state=4).fit(X)
    b = clone(a).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.transform(X), c.transform(X))


def test_errors():
    X = np.random.default_rng(0).normal(size=(3, 20, 2))
    with pytest.raises(NotFittedError):
        DilatedConvolutions().transform(X)
    with pytest.raises(ValueError, match="dilations"):
        DilatedConvolutions(dilations=(0, 2)).fit(X)
    with pytest.raises(ValueError, match="n_kernels"):
        DilatedConvolutions(n_kernels=85).fit(X)
    with pytest.raises(ValueError, match="pooling"):
        DilatedConvolutions(pooling="mean").fit(X)
    conv = DilatedConvolutions(n_kernels=3).fit(X)
    with pytest.raises(ValueError, match="features per timestep"):
        conv.transform(X[:, :, :1])
    with pytest.raises(ValueError, match="NaN|infinity"):
        conv.transform(np.full((1, 20, 2), np.nan))
