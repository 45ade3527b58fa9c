"""Optimizers and gradient clipping: hand-worked steps and invariants."""

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skgru.kernels.cpu import _gru as _cpu
from skgru.kernels.cpu import _updates
from skgru.training._clipping import clip_gradients
from skgru.training._optimizers import (
    AdamOptimizer,
    BaseOptimizer,
    RMSpropOptimizer,
    SGDOptimizer,
    make_optimizer,
)


def _with_momentum(solver, params, rmsprop_momentum, **kw):
    """``make_optimizer``'s optimizer, RMSprop with momentum (which the estimators never set)."""
    if solver == "rmsprop":
        return RMSpropOptimizer(params, kw["learning_rate_init"], momentum=rmsprop_momentum)
    return make_optimizer(solver, params, **kw)


def _scalar(x):
    return [np.array([x], dtype=np.float64)]


# -- hand-worked single steps ---------------------------------------------------


def test_adam_two_steps_by_hand():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    params = _scalar(1.0)
    opt = AdamOptimizer(params, learning_rate_init=lr, beta_1=b1, beta_2=b2, epsilon=eps)

    # Step 1, g = 0.5: m = 0.05, v = 0.00025, lr_t = 0.01 * sqrt(0.001) / 0.1.
    opt.update_params(params, [np.array([0.5])])
    m1, v1 = 0.1 * 0.5, 0.001 * 0.25
    lr1 = lr * math.sqrt(1 - 0.999) / (1 - 0.9)
    w1 = 1.0 - lr1 * m1 / (math.sqrt(v1) + eps)
    assert opt.t == 1
    assert opt.ms[0][0] == pytest.approx(0.05, rel=1e-15)
    assert opt.vs[0][0] == pytest.approx(0.00025, rel=1e-12)
    assert params[0][0] == pytest.approx(w1, rel=1e-15)
    # The first Adam step moves by almost exactly lr, whatever the gradient's size.
    assert params[0][0] == pytest.approx(0.99, abs=1e-8)

    # Step 2, g = -0.2.
    opt.update_params(params, [np.array([-0.2])])
    m2 = 0.9 * m1 + 0.1 * -0.2  # = 0.025
    v2 = 0.999 * v1 + 0.001 * 0.04  # = 0.00028975
    lr2 = lr * math.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    w2 = w1 - lr2 * m2 / (math.sqrt(v2) + eps)
    assert m2 == pytest.approx(0.025) and v2 == pytest.approx(0.00028975)
    assert opt.learning_rate == pytest.approx(lr2, rel=1e-15)
    assert params[0][0] == pytest.approx(w2, rel=1e-14)


def test_sgd_plain_momentum_by_hand():
    params = _scalar(1.0)
    opt = SGDOptimizer(params, learning_rate_init=0.1, momentum=0.9, nesterov=False)
    opt.update_params(params, [np.array([1.0])])  # v = -0.1
    assert params[0][0] == pytest.approx(0.9)
    opt.update_params(params, [np.array([1.0])])  # v = 0.9 * -0.1 - 0.1 = -0.19
    assert params[0][0] == pytest.approx(0.71)
    assert opt.velocities[0][0] == pytest.approx(-0.19)


def test_sgd_nesterov_by_hand():
    params = _scalar(1.0)
    opt = SGDOptimizer(params, learning_rate_init=0.1, momentum=0.9, nesterov=True)
    # v = -0.1; update = 0.9 * -0.1 - 0.1 = -0.19
    opt.update_params(params, [np.array([1.0])])
    assert params[0][0] == pytest.approx(0.81)
    # v = -0.19; update = 0.9 * -0.19 - 0.1 = -0.271
    opt.update_params(params, [np.array([1.0])])
    assert params[0][0] == pytest.approx(0.539)


def test_sgd_without_momentum_is_plain_gradient_descent():
    params = _scalar(2.0)
    opt = SGDOptimizer(params, learning_rate_init=0.5, momentum=0.0, nesterov=True)
    opt.update_params(params, [np.array([1.0])])
    assert params[0][0] == pytest.approx(1.5)


def test_rmsprop_by_hand():
    lr, rho, eps = 0.01, 0.9, 1e-7
    params = _scalar(1.0)
    opt = RMSpropOptimizer(params, learning_rate_init=lr, rho=rho, epsilon=eps)
    assert opt.momentums == []
    opt.update_params(params, [np.array([2.0])])
    v1 = 0.1 * 4.0  # = 0.4
    w1 = 1.0 - lr * 2.0 / math.sqrt(v1 + eps)  # eps is under the square root
    assert opt.velocities[0][0] == pytest.approx(0.4)
    assert params[0][0] == pytest.approx(w1, rel=1e-15)
    opt.update_params(params, [np.array([-1.0])])
    v2 = 0.9 * v1 + 0.1 * 1.0  # = 0.46
    w2 = w1 + lr * 1.0 / math.sqrt(v2 + eps)
    assert params[0][0] == pytest.approx(w2, rel=1e-15)


def test_rmsprop_momentum_by_hand():
    lr, rho, mu, eps = 0.01, 0.9, 0.5, 1e-7
    params = _scalar(1.0)
    opt = RMSpropOptimizer(params, learning_rate_init=lr, rho=rho, momentum=mu, epsilon=eps)
    opt.update_params(params, [np.array([2.0])])
    inc1 = lr * 2.0 / math.sqrt(0.4 + eps)
    w1 = 1.0 - inc1  # mom = 0.5 * 0 + inc1
    assert params[0][0] == pytest.approx(w1, rel=1e-15)
    opt.update_params(params, [np.array([-1.0])])
    inc2 = lr * -1.0 / math.sqrt(0.46 + eps)
    mom2 = mu * inc1 + inc2
    assert opt.momentums[0][0] == pytest.approx(mom2, rel=1e-14)
    assert params[0][0] == pytest.approx(w1 - mom2, rel=1e-15)


def test_update_params_elementwise_on_arrays():
    # The scalar formulas apply elementwise to every parameter in the list.
    rng = np.random.default_rng(0)
    params = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    grads = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    before = [p.copy() for p in params]
    SGDOptimizer(params, 0.1, 0.9, False).update_params(params, grads)
    for p, p0, g in zip(params, before, grads):
        np.testing.assert_allclose(p, p0 - 0.1 * g, rtol=1e-15)


# -- skipping, lazy rows ------------------------------------------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_none_grad_skips_param_and_state(solver):
    params = [np.ones(3), np.ones(2)]
    opt = make_optimizer(
        solver, params, learning_rate_init=0.1, momentum=0.9, nesterovs_momentum=True
    )
    opt.update_params(params, [np.full(3, 0.5), np.full(2, 0.5)])
    state = opt.get_state()
    p1 = params[1].copy()
    opt.update_params(params, [np.full(3, 0.5), None])
    np.testing.assert_array_equal(params[1], p1)
    after = opt.get_state()
    assert after["t"] == state["t"] + 1
    for slot in set(state) - {"t", "learning_rate"}:
        for j, (a, b) in enumerate(zip(state[slot], after[slot])):
            if j == 1:
                np.testing.assert_array_equal(a, b)


def _adam_pair(seed=0, lr=0.05):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(6, 3))
    dense = rng.normal(size=(2, 2))
    params = [emb, dense]
    return rng, params, AdamOptimizer(params, learning_rate_init=lr)


def test_lazy_adam_rows():
    rng, params, opt = _adam_pair()
    emb = params[0]
    # A warm-up dense step so that every row has non-zero moments.
    opt.update_params(params, [rng.normal(size=(6, 3)), rng.normal(size=(2, 2))])
    emb0, m0, v0 = emb.copy(), opt.ms[0].copy(), opt.vs[0].copy()

    rows = np.array([4, 1])
    g_rows = rng.normal(size=(2, 3))
    opt.update_params(params, [None, rng.normal(size=(2, 2))])
    assert opt.t == 2
    opt.update_rows(0, rows, g_rows)

    untouched = [0, 2, 3, 5]
    np.testing.assert_array_equal(emb[untouched], emb0[untouched])
    np.testing.assert_array_equal(opt.ms[0][untouched], m0[untouched])
    np.testing.assert_array_equal(opt.vs[0][untouched], v0[untouched])

    # Touched rows get exactly a dense Adam step at t = 2 from the same moments.
    sub = [emb0[rows].copy()]
    ref = AdamOptimizer(sub, learning_rate_init=0.05)
    ref.set_state({"t": 1, "learning_rate": 0.0, "ms": [m0[rows]], "vs": [v0[rows]]})
    ref.update_params(sub, [g_rows])
    np.testing.assert_array_equal(emb[rows], sub[0])
    np.testing.assert_array_equal(opt.ms[0][rows], ref.ms[0])
    np.testing.assert_array_equal(opt.vs[0][rows], ref.vs[0])


def test_lazy_adam_all_rows_equals_dense_step():
    rng, params, opt = _adam_pair(seed=1)
    _, params2, opt2 = _adam_pair(seed=1)
    g_emb, g_dense = rng.normal(size=(6, 3)), rng.normal(size=(2, 2))
    opt.update_params(params, [g_emb, g_dense])
    opt2.update_params(params2, [None, g_dense])
    opt2.update_rows(0, np.arange(6)[::-1], g_emb[::-1])
    for a, b in zip(params, params2):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(opt.ms[0], opt2.ms[0])
    np.testing.assert_array_equal(opt.vs[0], opt2.vs[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lazy_adam_kernel_is_bitwise_the_numpy_step(dtype):
    """The compiled row update (2-D, contiguous) against the NumPy formula on copies."""
    rng = np.random.default_rng(5)
    emb = rng.normal(size=(50, 7)).astype(dtype)
    opt = AdamOptimizer([emb], learning_rate_init=0.03)
    for _ in range(3):  # a few steps so that the moments differ from zero
        rows = np.sort(rng.choice(50, size=20, replace=False))
        g = rng.normal(size=(20, 7)).astype(dtype)
        p_ref, m_ref, v_ref = emb.copy(), opt.ms[0].copy(), opt.vs[0].copy()
        opt.update_params([emb], [None])
        m, v = m_ref[rows], v_ref[rows]
        lr_t = opt.learning_rate
        p_ref[rows] += _updates._adam_moments(m, v, g, opt.beta_1, opt.beta_2, lr_t, opt.epsilon)
        m_ref[rows], v_ref[rows] = m, v
        opt.update_rows(0, rows, g)
        assert emb.dtype == dtype
        np.testing.assert_array_equal(emb, p_ref)
        np.testing.assert_array_equal(opt.ms[0], m_ref)
        np.testing.assert_array_equal(opt.vs[0], v_ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lazy_adam_flushes_the_subnormal_range(dtype):
    """Tiny gradients and decayed moments become zero; kernel and NumPy path agree bitwise.

    The compiled path (C-contiguous) and the NumPy path (Fortran-ordered
    copies of the same arrays) take the same steps on gradients that span the
    whole exponent range, subnormals included.
    """
    rng = np.random.default_rng(7)
    tiny = np.finfo(dtype).tiny
    emb = rng.normal(size=(40, 9)).astype(dtype)
    opts = []
    for layout in (np.ascontiguousarray, np.asfortranarray):
        params = [layout(emb.copy())]
        opts.append((params, AdamOptimizer(params, learning_rate_init=0.01)))
    exponents = np.arange(-3, np.log10(tiny) - 8, -4.0)
    for _ in range(6):
        rows = np.sort(rng.choice(40, size=25, replace=False))
        g = rng.normal(size=(25, 9)) * 10.0 ** rng.choice(exponents, size=(25, 9))
        g = g.astype(dtype)
        for params, opt in opts:
            opt.update_params(params, [None])
            opt.update_rows(0, rows, g)
    (p_c, opt_c), (p_f, opt_f) = opts
    assert p_c[0].flags.c_contiguous and p_f[0].flags.f_contiguous
    np.testing.assert_array_equal(p_c[0], p_f[0])
    np.testing.assert_array_equal(opt_c.ms[0], opt_f.ms[0])
    np.testing.assert_array_equal(opt_c.vs[0], opt_f.vs[0])
    g_min, s_min = opt_c._flush_limits(dtype)
    assert 0 < g_min < 1e-15 and 0 < s_min < 1e-30
    for state in (opt_c.ms[0], opt_c.vs[0]):
        nonzero = np.abs(state[state != 0])
        assert np.all(nonzero >= s_min)
    assert np.all(np.isfinite(p_c[0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lazy_adam_flush_against_the_formula(dtype):
    """Each row step is Adam with the flush written out here in float64.

    The limits are checked by what they are for: at ``g_min`` the terms
    ``(1 - beta_1) g`` and ``(1 - beta_2) g**2`` are still normal numbers, a
    stored moment ``>= s_min`` stays normal after its decay, and both limits
    are far below any gradient or moment that moves a weight.
    """
    info = np.finfo(dtype)
    tiny = float(info.tiny)
    rng = np.random.default_rng(11)
    emb = rng.normal(size=(30, 6)).astype(dtype)
    opt = AdamOptimizer([emb], learning_rate_init=0.02)
    b1, b2, eps = opt.beta_1, opt.beta_2, opt.epsilon
    g_min, s_min = opt._flush_limits(dtype)
    g = dtype(g_min)
    assert dtype((1 - b1) * g) >= tiny and dtype(dtype(g * g) * dtype(1 - b2)) >= tiny
    assert dtype(dtype(s_min) * dtype(min(b1, b2))) >= tiny
    assert g_min < (1e-15 if dtype == np.float32 else 1e-150)
    assert s_min < (1e-30 if dtype == np.float32 else 1e-290)
    exponents = np.arange(0, np.log10(tiny) - 8, -3.0)
    for _ in range(5):
        rows = np.sort(rng.choice(30, size=12, replace=False))
        g = (rng.normal(size=(12, 6)) * 10.0 ** rng.choice(exponents, size=(12, 6))).astype(dtype)
        p0, m0, v0 = (a[rows].astype(np.float64) for a in (emb, opt.ms[0], opt.vs[0]))
        opt.update_params([emb], [None])
        opt.update_rows(0, rows, g)
        gf = np.where(np.abs(g) >= g_min, g, 0).astype(np.float64)
        m = b1 * m0 + (1 - b1) * gf
        v = b2 * v0 + (1 - b2) * gf**2
        m[np.abs(m) < s_min] = 0
        v[v < s_min] = 0
        p = p0 - opt.learning_rate * m / (np.sqrt(v) + eps)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(opt.ms[0][rows], m, rtol=tol, atol=0)
        np.testing.assert_allclose(opt.vs[0][rows], v, rtol=tol, atol=0)
        np.testing.assert_allclose(emb[rows], p, rtol=tol, atol=tol * 1e-3)


def test_lazy_adam_errors():
    _, params, opt = _adam_pair()
    with pytest.raises(ValueError, match="call update_params"):
        opt.update_rows(0, [1], np.ones((1, 3)))
    opt.update_params(params, [None, np.ones((2, 2))])
    with pytest.raises(ValueError, match="unique"):
        opt.update_rows(0, [1, 1], np.ones((2, 3)))
    with pytest.raises(ValueError, match="grad_rows has shape"):
        opt.update_rows(0, [1], np.ones((1, 4)))
    with pytest.raises(ValueError, match="1-D array of ints"):
        opt.update_rows(0, [1.0], np.ones((1, 3)))


def test_update_params_checks_lengths_and_shapes():
    params = [np.ones(2)]
    opt = AdamOptimizer(params)
    with pytest.raises(ValueError, match="Expected 1 params"):
        opt.update_params(params, [np.ones(2), np.ones(2)])
    with pytest.raises(ValueError, match=r"grads\[0\] has shape"):
        opt.update_params(params, [np.ones(3)])


# -- dtype ------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_float32_preserved(solver):
    rng = np.random.default_rng(2)
    p64 = [rng.normal(size=(4, 3)), rng.normal(size=(3,))]
    p32 = [p.astype(np.float32) for p in p64]
    kw = dict(learning_rate_init=0.01, momentum=0.9, nesterovs_momentum=True)
    opt32 = _with_momentum(solver, p32, 0.5, **kw)
    opt64 = _with_momentum(solver, p64, 0.5, **kw)
    for _ in range(3):
        grads = [rng.normal(size=(4, 3)), rng.normal(size=(3,))]  # float64 grads
        opt32.update_params(p32, grads)
        opt64.update_params(p64, grads)
    for a, b in zip(p32, p64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for slot in set(opt32.get_state()) - {"t", "learning_rate"}:
        assert all(s.dtype == np.float32 for s in getattr(opt32, slot))


def test_float32_lazy_rows():
    emb = np.zeros((4, 2), dtype=np.float32)
    opt = AdamOptimizer([emb], learning_rate_init=0.1)
    opt.update_params([emb], [None])
    opt.update_rows(0, np.array([2]), np.array([[1.0, -1.0]]))
    assert emb.dtype == opt.ms[0].dtype == opt.vs[0].dtype == np.float32
    np.testing.assert_allclose(emb[2], [-0.1, 0.1], rtol=1e-5)


# -- checkpointing ------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd", "rmsprop"])
def test_get_set_state_resumes_identically(solver):
    rng = np.random.default_rng(3)
    grads = [[rng.normal(size=(3, 2)), rng.normal(size=(2,))] for _ in range(5)]
    kw = dict(learning_rate_init=0.05, momentum=0.9, nesterovs_momentum=True)
    params = [rng.normal(size=(3, 2)), rng.normal(size=(2,))]
    opt = _with_momentum(solver, params, 0.3, **kw)
    for g in grads[:3]:
        opt.update_params(params, [x.copy() for x in g])
    snapshot = [p.copy() for p in params]
    state = pickle.loads(pickle.dumps(opt.get_state()))
    for g in grads[3:]:
        opt.update_params(params, [x.copy() for x in g])

    resumed = [p.copy() for p in snapshot]
    opt2 = _with_momentum(solver, resumed, 0.3, **kw)
    opt2.set_state(state)
    assert opt2.t == 3
    for g in grads[3:]:
        opt2.update_params(resumed, [x.copy() for x in g])
    for a, b in zip(params, resumed):
        np.testing.assert_array_equal(a, b)


def test_state_is_a_copy_and_validated():
    params = [np.zeros(2)]
    opt = AdamOptimizer(params)
    opt.update_params(params, [np.ones(2)])
    state = opt.get_state()
    state["ms"][0][:] = 99.0
    assert not np.any(opt.ms[0] == 99.0)
    with pytest.raises(ValueError, match="missing keys"):
        opt.set_state({"t": 1})
    bad = opt.get_state()
    bad["vs"] = [np.zeros(3)]
    with pytest.raises(ValueError, match="shape"):
        opt.set_state(bad)
    assert opt.vs[0].shape == (2,)


# -- construction ---------------------------------------------------------------------


def test_make_optimizer():
    params = [np.zeros(2)]
    kw = dict(learning_rate_init=0.02, momentum=0.8, nesterovs_momentum=False)
    adam = make_optimizer("adam", params, **kw, beta_1=0.8, beta_2=0.99, epsilon=1e-7)
    assert isinstance(adam, AdamOptimizer) and isinstance(adam, BaseOptimizer)
    assert (adam.beta_1, adam.beta_2, adam.epsilon) == (0.8, 0.99, 1e-7)
    sgd = make_optimizer("sgd", params, **kw)
    assert isinstance(sgd, SGDOptimizer) and (sgd.momentum, sgd.nesterov) == (0.8, False)
    rms = make_optimizer("rmsprop", params, **kw, epsilon=1e-6)
    assert isinstance(rms, RMSpropOptimizer)
    assert (rms.rho, rms.momentum, rms.learning_rate_init, rms.epsilon) == (0.9, 0.0, 0.02, 1e-6)
    with pytest.raises(ValueError, match="solver must be"):
        make_optimizer("lbfgs", params, **kw)


def test_defaults():
    p = [np.zeros(1)]
    a = AdamOptimizer(p)
    assert (a.learning_rate_init, a.beta_1, a.beta_2, a.epsilon) == (0.001, 0.9, 0.999, 1e-8)
    s = SGDOptimizer(p)
    assert (s.learning_rate_init, s.momentum, s.nesterov) == (0.1, 0.9, True)
    r = RMSpropOptimizer(p)
    assert (r.learning_rate_init, r.rho, r.momentum, r.epsilon) == (0.001, 0.9, 0.0, 1e-7)


# -- clipping (Keras's semantics: grads with norms 5 and 12) ------------------------------------


def _grads_5_12():
    return [np.array([3.0, 4.0]), np.array([12.0])]


def test_clipnorm_per_tensor():
    g = _grads_5_12()
    out = clip_gradients(g, clipnorm=1.0)
    assert out is g
    np.testing.assert_allclose(g[0], [0.6, 0.8], rtol=1e-15)
    np.testing.assert_allclose(g[1], [1.0], rtol=1e-15)


def test_global_clipnorm():
    g = _grads_5_12()
    clip_gradients(g, global_clipnorm=1.0)  # G = sqrt(25 + 144) = 13
    np.testing.assert_allclose(g[0], [3 / 13, 4 / 13], rtol=1e-15)
    np.testing.assert_allclose(g[1], [12 / 13], rtol=1e-15)
    g = _grads_5_12()
    clip_gradients(g, global_clipnorm=20.0)  # already inside: unchanged
    np.testing.assert_array_equal(g[0], [3.0, 4.0])


def test_clipvalue():
    g = [np.array([3.0, -4.0, 0.5]), np.array([12.0])]
    clip_gradients(g, clipvalue=2.0)
    np.testing.assert_array_equal(g[0], [2.0, -2.0, 0.5])
    np.testing.assert_array_equal(g[1], [2.0])


def test_clipping_edge_cases():
    g = [np.zeros(3), None, np.array([0.5])]
    clip_gradients(g, clipnorm=1.0)
    np.testing.assert_array_equal(g[0], 0.0)
    assert g[1] is None and g[2][0] == 0.5
    clip_gradients(g, global_clipnorm=1.0)
    np.testing.assert_array_equal(g[2], [0.5])
    g = [np.zeros(2)]
    clip_gradients(g, global_clipnorm=1.0)  # G = 0: no division error, unchanged
    np.testing.assert_array_equal(g[0], 0.0)
    g = [np.array([np.inf, 1.0]), np.array([1.0])]
    clip_gradients(g, global_clipnorm=1.0)  # Keras: non-finite G gives a NaN scale
    assert np.isnan(g[1]).all()
    g32 = [np.array([3.0, 4.0], dtype=np.float32)]
    clip_gradients(g32, clipnorm=1.0)
    assert g32[0].dtype == np.float32
    np.testing.assert_allclose(g32[0], [0.6, 0.8], rtol=1e-6)
    assert clip_gradients(_grads_5_12())[1][0] == 12.0  # nothing set: no-op


def test_clipping_errors():
    with pytest.raises(ValueError, match="Only one of"):
        clip_gradients(_grads_5_12(), clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="Only one of"):
        clip_gradients(_grads_5_12(), clipnorm=1.0, global_clipnorm=1.0)
    for bad in (0.0, -1.0, "1", True):
        with pytest.raises(ValueError, match="must be a number > 0"):
            clip_gradients(_grads_5_12(), clipnorm=bad)


_vec = arrays(np.float64, st.integers(1, 6), elements=st.floats(-1e3, 1e3, allow_nan=False))


@settings(max_examples=40, deadline=None)
@given(g1=_vec, g2=_vec, c=st.floats(0.01, 100.0))
def test_clip_norm_properties(g1, g2, c):
    per = [g1.copy(), g2.copy()]
    clip_gradients(per, clipnorm=c)
    for before, after in zip((g1, g2), per):
        n = np.linalg.norm(before)
        assert np.linalg.norm(after) <= c * (1 + 1e-12)
        if n <= c:
            np.testing.assert_array_equal(after, before)
        else:  # the direction is kept
            np.testing.assert_allclose(after * n / c, before, rtol=1e-9, atol=1e-9)
    glob = [g1.copy(), g2.copy()]
    clip_gradients(glob, global_clipnorm=c)
    total = math.sqrt(sum(float(np.sum(g**2)) for g in glob))
    assert total <= c * (1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(g=_vec, lr=st.floats(1e-4, 0.1))
def test_adam_first_step_is_at_most_lr(g, lr):
    params = [np.zeros_like(g)]
    AdamOptimizer(params, learning_rate_init=lr).update_params(params, [g])
    assert np.all(np.abs(params[0]) <= lr * (1 + 1e-12))
    big = np.abs(g) > 1e-300  # subnormal gradients underflow to a zero moment
    np.testing.assert_array_equal(np.sign(params[0][big]), -np.sign(g[big]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(
    n=st.integers(0, 300),
    n_ids=st.integers(1, 40),
    D=st.integers(1, 70),
    seed=st.integers(0, 2**31 - 1),
)
@settings(max_examples=25, deadline=None)
def test_add_rows_is_np_add_at_bitwise(dtype, n, n_ids, D, seed):
    """The embedding-gradient scatter sums repeated ids in np.add.at's order."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n_ids, n)
    src = rng.standard_normal((n, D)).astype(dtype) * 10.0 ** rng.integers(-3, 4, (n, 1))
    expected = np.zeros((n_ids, D), dtype=dtype)
    np.add.at(expected, index, src)
    out = np.zeros((n_ids, D), dtype=dtype)
    _cpu.add_rows(out, index, src)
    np.testing.assert_array_equal(out, expected)
