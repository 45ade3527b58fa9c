"""Tests that the NumPy oracle in ``reference.py`` is itself right.

The oracle is checked against central finite differences, against scalar
hand computations, against the PyTorch form of the GRU equations
(SPEC 2.1 / 2.3), and for exact state freezing on masked steps.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import (
    gru_backward,
    gru_forward,
    gru_loss_and_grads,
    numerical_gradient,
    predict_proba_reference,
    sigmoid,
)

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
RTOL = 1e-6
ATOL = 1e-8


def _params(rng, F, U, reset_after, scale=0.6):
    W = rng.normal(scale=scale, size=(F, 3 * U))
    R = rng.normal(scale=scale, size=(U, 3 * U))
    b_shape = (2, 3 * U) if reset_after else (3 * U,)
    b = rng.normal(scale=0.5, size=b_shape)  # nonzero biases
    return W, R, b


def _assert_grad_close(num, ana, name):
    num = np.asarray(num)
    ana = np.asarray(ana)
    assert num.shape == ana.shape, name
    np.testing.assert_allclose(ana, num, rtol=RTOL, atol=ATOL, err_msg=name)
    denom = max(np.linalg.norm(num) + np.linalg.norm(ana), 1e-12)
    assert np.linalg.norm(num - ana) / denom < 1e-6 or np.linalg.norm(num - ana) < ATOL, name


@st.composite
def gru_cases(draw, max_b=3, max_t=5, max_f=3, max_u=3):
    B = draw(st.integers(1, max_b))
    T = draw(st.integers(1, max_t))
    F = draw(st.integers(1, max_f))
    U = draw(st.integers(1, max_u))
    reset_after = draw(st.booleans())
    bits = draw(st.lists(st.booleans(), min_size=B * T, max_size=B * T))
    mask = np.array(bits, dtype=bool).reshape(B, T)
    seed = draw(st.integers(0, 2**32 - 1))
    return B, T, F, U, reset_after, mask, seed


# --------------------------------------------------------------------------------------
# sigmoid
# --------------------------------------------------------------------------------------


def test_sigmoid_stable_and_correct():
    x = np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise"):
        s = sigmoid(x)
    expected = [1.0 / (1.0 + math.exp(-v)) if v > -700 else 0.0 for v in x]
    np.testing.assert_allclose(s, expected, rtol=1e-15, atol=1e-300)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(sigmoid(x) + sigmoid(-x), 1.0, rtol=1e-15)


# --------------------------------------------------------------------------------------
# (a) gradients vs. finite differences
# --------------------------------------------------------------------------------------


def _check_gru_level(B, T, F, U, reset_after, mask, seed):
    """gru_backward vs finite differences of L = <dh_seq, h_seq> + <dh_last, h_T>."""
    rng = np.random.default_rng(seed)
    W, R, b = _params(rng, F, U, reset_after)
    x = rng.normal(size=(B, T, F))
    h0 = rng.normal(scale=0.7, size=(B, U))  # nonzero initial state
    dh_seq = rng.normal(size=(B, T, U))
    dh_last = rng.normal(size=(B, U))

    def loss():
        h_seq, _ = gru_forward(x, W, R, b, mask=mask, h0=h0, reset_after=reset_after)
        return np.sum(dh_seq * h_seq) + np.sum(dh_last * h_seq[:, -1])

    _, cache = gru_forward(x, W, R, b, mask=mask, h0=h0, reset_after=reset_after)
    g = gru_backward(cache, dh_seq=dh_seq, dh_last=dh_last)
    assert g["db"].shape == b.shape
    for name, arr in (("dW", W), ("dR", R), ("db", b), ("dx", x), ("dh0", h0)):
        _assert_grad_close(numerical_gradient(loss, arr), g[name], name)


@SETTINGS
@given(gru_cases())
def test_gru_backward_matches_finite_differences(case):
    _check_gru_level(*case)


def _check_model_level(B, T, F, U, K, reset_after, mask, seed, weighted, alpha):
    rng = np.random.default_rng(seed)
    W, R, b = _params(rng, F, U, reset_after)
    x = rng.normal(size=(B, T, F))
    Wd = rng.normal(scale=0.8, size=(U, K))
    bd = rng.normal(scale=0.3, size=(K,))
    if K == 1:
        y = rng.integers(0, 2, size=B).astype(np.float64)
    else:
        y = np.eye(K)[rng.integers(0, K, size=B)]
    sw = rng.uniform(0.2, 2.0, size=B) if weighted else None

    def loss():
        return gru_loss_and_grads(
            x, mask, W, R, b, Wd, bd, y, sample_weight=sw, reset_after=reset_after, alpha=alpha
        )[0]

    _, grads = gru_loss_and_grads(
        x, mask, W, R, b, Wd, bd, y, sample_weight=sw, reset_after=reset_after, alpha=alpha
    )
    for name, arr in (("dW", W), ("dR", R), ("db", b), ("dWd", Wd), ("dbd", bd), ("dx", x)):
        _assert_grad_close(numerical_gradient(loss, arr), grads[name], name)


@SETTINGS
@given(
    gru_cases(),
    st.sampled_from([1, 2, 3]),
    st.booleans(),
    st.sampled_from([0.0, 0.3]),
)
def test_loss_grads_match_finite_differences(case, K, weighted, alpha):
    B, T, F, U, reset_after, mask, seed = case
    _check_model_level(B, T, F, U, K, reset_after, mask, seed, weighted, alpha)


# Explicit mask patterns so that leading, inner and trailing padding, fully masked
# rows and length-1 sequences are always covered, whatever hypothesis draws.
_MASKS = {
    "leading": [[0, 0, 1, 1, 1], [0, 1, 1, 1, 1]],
    "inner": [[1, 0, 1, 0, 1], [1, 1, 0, 0, 1]],
    "trailing": [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]],
    "mixed": [[0, 1, 0, 1, 0], [0, 0, 0, 0, 0]],
    "all_valid": [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1]],
}


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("pattern", sorted(_MASKS))
def test_grads_with_explicit_masks(reset_after, pattern):
    mask = np.array(_MASKS[pattern], dtype=bool)
    _check_gru_level(2, 5, 2, 3, reset_after, mask, seed=7)
    _check_model_level(2, 5, 2, 3, 3, reset_after, mask, 11, weighted=True, alpha=0.2)
    _check_model_level(2, 5, 2, 3, 1, reset_after, mask, 13, weighted=False, alpha=0.0)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("K", [1, 4])
def test_grads_minimal_sizes(reset_after, K):
    one = np.ones((1, 1), dtype=bool)
    _check_gru_level(1, 1, 1, 1, reset_after, one, seed=3)
    _check_model_level(1, 1, 1, 1, K, reset_after, one, 5, weighted=True, alpha=0.1)


def test_numerical_gradient_restores_array():
    arr = np.array([[0.1, -0.2], [0.3, 0.7]])
    before = arr.copy()
    g = numerical_gradient(lambda: np.sum(arr**3), arr)
    assert np.array_equal(arr, before)
    np.testing.assert_allclose(g, 3 * before**2, rtol=1e-8)


# --------------------------------------------------------------------------------------
# loss definition
# --------------------------------------------------------------------------------------


def test_loss_value_matches_definition():
    rng = np.random.default_rng(0)
    B, T, F, U, K = 4, 3, 2, 3, 3
    W, R, b = _params(rng, F, U, True)
    x = rng.normal(size=(B, T, F))
    mask = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)
    Wd = rng.normal(size=(U, K))
    bd = rng.normal(size=K)
    labels = np.array([0, 2, 1, 2])
    y = np.eye(K)[labels]
    sw = np.array([1.0, 2.0, 0.5, 3.0])
    alpha = 0.4
    proba = predict_proba_reference(x, mask, W, R, b, Wd, bd)
    ce = -np.log(proba[np.arange(B), labels])
    expected = (
        np.sum(sw * ce) / sw.sum()
        + 0.5 * alpha * (np.sum(W**2) + np.sum(R**2) + np.sum(Wd**2)) / sw.sum()
    )
    loss, _ = gru_loss_and_grads(x, mask, W, R, b, Wd, bd, y, sample_weight=sw, alpha=alpha)
    assert loss == pytest.approx(expected, rel=1e-12)

    # binary head: predict_proba is [1 - p, p], loss is weighted log-loss
    Wd1, bd1 = Wd[:, :1], bd[:1]
    yb = np.array([0.0, 1.0, 1.0, 0.0])
    p2 = predict_proba_reference(x, mask, W, R, b, Wd1, bd1)
    assert p2.shape == (B, 2)
    np.testing.assert_allclose(p2.sum(axis=1), 1.0)
    ce_b = -np.log(p2[np.arange(B), yb.astype(int)])
    loss_b, _ = gru_loss_and_grads(x, mask, W, R, b, Wd1, bd1, yb, sample_weight=sw)
    assert loss_b == pytest.approx(np.sum(sw * ce_b) / sw.sum(), rel=1e-12)

    # unit weights == no weights
    l1, g1 = gru_loss_and_grads(x, mask, W, R, b, Wd, bd, y, alpha=alpha)
    l2, g2 = gru_loss_and_grads(x, mask, W, R, b, Wd, bd, y, sample_weight=np.ones(B), alpha=alpha)
    assert l1 == pytest.approx(l2, rel=1e-14)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-14)


# --------------------------------------------------------------------------------------
# (b) masked steps leave the state unchanged exactly
# --------------------------------------------------------------------------------------


@SETTINGS
@given(gru_cases(max_t=6))
def test_masked_steps_carry_state_exactly(case):
    B, T, F, U, reset_after, mask, seed = case
    rng = np.random.default_rng(seed)
    W, R, b = _params(rng, F, U, reset_after)
    x = rng.normal(size=(B, T, F))
    h0 = rng.normal(size=(B, U))
    h_seq, _ = gru_forward(x, W, R, b, mask=mask, h0=h0, reset_after=reset_after)
    prev = h0
    for t in range(T):
        for i in range(B):
            if not mask[i, t]:
                assert np.array_equal(h_seq[i, t], prev[i])
        prev = h_seq[:, t]

    # Masked inputs do not matter at all: scramble them.
    x2 = x.copy()
    x2[~mask] = rng.normal(size=(int((~mask).sum()), F)) * 100.0
    h_seq2, _ = gru_forward(x2, W, R, b, mask=mask, h0=h0, reset_after=reset_after)
    assert np.array_equal(h_seq, h_seq2)

    # Dropping the masked steps of a row gives the same final state.
    for i in range(B):
        keep = mask[i]
        if keep.any():
            hs, _ = gru_forward(
                x[i : i + 1, keep], W, R, b, h0=h0[i : i + 1], reset_after=reset_after
            )
            np.testing.assert_allclose(h_seq[i, -1], hs[0, -1], rtol=0, atol=1e-15)
        else:
            assert np.array_equal(h_seq[i, -1], h0[i])


def test_default_mask_and_h0():
    rng = np.random.default_rng(1)
    W, R, b = _params(rng, 2, 3, True)
    x = rng.normal(size=(2, 4, 2))
    h_a, _ = gru_forward(x, W, R, b)
    h_b, _ = gru_forward(x, W, R, b, mask=np.ones((2, 4), bool), h0=np.zeros((2, 3)))
    assert np.array_equal(h_a, h_b)


# --------------------------------------------------------------------------------------
# (c) scalar hand computation, 1 step, 1 unit
# --------------------------------------------------------------------------------------


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


@pytest.mark.parametrize("reset_after", [True, False])
def test_one_step_one_unit_by_hand(reset_after):
    # two input features, one unit; columns of W/R are [z | r | h]
    x1, x2 = 0.7, -1.3
    h_prev = 0.4
    wz1, wr1, wh1 = 0.5, -0.8, 1.1
    wz2, wr2, wh2 = -0.3, 0.6, 0.9
    uz, ur, uh = 0.25, -0.45, 0.75
    biz, bir, bih = 0.1, -0.2, 0.3
    bhz, bhr, bhh = -0.15, 0.05, 0.4

    z_pre = x1 * wz1 + x2 * wz2 + biz + h_prev * uz
    r_pre = x1 * wr1 + x2 * wr2 + bir + h_prev * ur
    if reset_after:
        z_pre += bhz
        r_pre += bhr
    z = _sig(z_pre)
    r = _sig(r_pre)
    if reset_after:
        n = math.tanh(x1 * wh1 + x2 * wh2 + bih + r * (h_prev * uh + bhh))
    else:
        n = math.tanh(x1 * wh1 + x2 * wh2 + bih + (r * h_prev) * uh)
    h_new = z * h_prev + (1.0 - z) * n

    x = np.array([[[x1, x2]]])
    W = np.array([[wz1, wr1, wh1], [wz2, wr2, wh2]])
    R = np.array([[uz, ur, uh]])
    if reset_after:
        b = np.array([[biz, bir, bih], [bhz, bhr, bhh]])
    else:
        b = np.array([biz, bir, bih])
    h_seq, cache = gru_forward(x, W, R, b, h0=np.array([[h_prev]]), reset_after=reset_after)
    assert h_seq.shape == (1, 1, 1)
    assert h_seq[0, 0, 0] == pytest.approx(h_new, rel=1e-14, abs=1e-15)
    assert cache["z"][0, 0, 0] == pytest.approx(z, rel=1e-14)
    assert cache["r"][0, 0, 0] == pytest.approx(r, rel=1e-14)
    assert cache["n"][0, 0, 0] == pytest.approx(n, rel=1e-14)

    # masked single step: state unchanged
    h_m, _ = gru_forward(
        x, W, R, b, mask=np.array([[False]]), h0=np.array([[h_prev]]), reset_after=reset_after
    )
    assert h_m[0, 0, 0] == h_prev


# --------------------------------------------------------------------------------------
# (d) reset_after=True agrees with the PyTorch equations (SPEC 2.1 / 2.3)
# --------------------------------------------------------------------------------------


def _torch_gru_numpy(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
    """PyTorch nn.GRU equations (gate rows r, z, n), written out with NumPy."""
    H = weight_hh.shape[1]
    W_ir, W_iz, W_in = weight_ih[:H], weight_ih[H : 2 * H], weight_ih[2 * H :]
    W_hr, W_hz, W_hn = weight_hh[:H], weight_hh[H : 2 * H], weight_hh[2 * H :]
    b_ir, b_iz, b_in = bias_ih[:H], bias_ih[H : 2 * H], bias_ih[2 * H :]
    b_hr, b_hz, b_hn = bias_hh[:H], bias_hh[H : 2 * H], bias_hh[2 * H :]

    def sig(v):
        return 1.0 / (1.0 + np.exp(-v))

    h = h0
    out = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        r_t = sig(xt @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
        z_t = sig(xt @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
        n_t = np.tanh(xt @ W_in.T + b_in + r_t * (h @ W_hn.T + b_hn))
        h = (1.0 - z_t) * n_t + z_t * h
        out.append(h)
    return np.stack(out, axis=1)


def _keras_to_torch(K, R, b):
    """Keras [z|r|h] -> PyTorch (r, z, n) mapping of SPEC 2.3 (prepare_gru_params)."""
    U = R.shape[0]
    z_k, r_k, h_k = K[:, :U], K[:, U : 2 * U], K[:, 2 * U :]
    z_r, r_r, h_r = R[:, :U], R[:, U : 2 * U], R[:, 2 * U :]
    weight_ih = np.concatenate([r_k, z_k, h_k], axis=1).T
    weight_hh = np.concatenate([r_r, z_r, h_r], axis=1).T
    bias_ih = np.concatenate([b[0, U : 2 * U], b[0, :U], b[0, 2 * U :]])
    bias_hh = np.concatenate([b[1, U : 2 * U], b[1, :U], b[1, 2 * U :]])
    return weight_ih, weight_hh, bias_ih, bias_hh


@SETTINGS
@given(
    st.integers(1, 3),
    st.integers(1, 5),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(0, 2**32 - 1),
)
def test_reset_after_matches_pytorch_form(B, T, F, U, seed):
    rng = np.random.default_rng(seed)
    W, R, b = _params(rng, F, U, True, scale=0.8)
    x = rng.normal(size=(B, T, F))
    h0 = rng.normal(scale=0.5, size=(B, U))
    w_ih, w_hh, b_ih, b_hh = _keras_to_torch(W, R, b)
    assert w_ih.shape == (3 * U, F) and w_hh.shape == (3 * U, U)
    expected = _torch_gru_numpy(x, h0, w_ih, w_hh, b_ih, b_hh)
    got, _ = gru_forward(x, W, R, b, h0=h0, reset_after=True)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_bad_bias_shape_raises():
    rng = np.random.default_rng(2)
    W, R, b = _params(rng, 2, 3, True)
    x = rng.normal(size=(1, 2, 2))
    with pytest.raises(ValueError):
        gru_forward(x, W, R, b, reset_after=False)
    with pytest.raises(ValueError):
        gru_forward(x, W, R, b[0], reset_after=True)
