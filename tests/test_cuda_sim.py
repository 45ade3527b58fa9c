"""CUDA kernels and the CUDA backend, run in Numba's CUDA simulator.

Run as its own step: ``NUMBA_ENABLE_CUDASIM=1 python -m pytest -q
tests/test_cuda_sim.py`` (the variable must be set before Python starts).
Without it the whole module is skipped. Shapes are tiny and the launch
configuration is shrunk (:data:`skgru._kernels._cuda.LAUNCH`) so that tiny
inputs still span several blocks, tiles and chunks. Every kernel is compared
with the CPU kernels (:mod:`skgru._kernels._cpu`), the host formulas
(optimizers, clipping, constraints, head) or the NumPy oracle
(``tests/reference.py``); device outputs are poisoned with NaN first.
"""

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    pytest.skip(
        "CUDA simulator tests need NUMBA_ENABLE_CUDASIM=1 set before Python starts",
        allow_module_level=True,
    )

from _cudasim import small_launch  # noqa: E402
from numba import cuda  # noqa: E402
from reference import gru_forward as ref_forward  # noqa: E402

from skgru import ConstrainedGRUClassifier  # noqa: E402
from skgru.constraints import MaxNorm, MinMaxNorm, NonNeg, UnitNorm  # noqa: E402
from skgru.data._sequences import Sequences  # noqa: E402
from skgru.engine._config import TrainConfig  # noqa: E402
from skgru.engine._devices import make_trainer, predict_logits  # noqa: E402
from skgru.kernels.cpu import CPUKernelSet  # noqa: E402
from skgru.kernels.cpu import _gru as _cpu
from skgru.kernels.cuda import CUDAKernelSet  # noqa: E402
from skgru.kernels.cuda import _kernels as _cuda  # noqa: E402
from skgru.model._network import head_loss_grad, init_params  # noqa: E402
from skgru.training._clipping import clip_gradients  # noqa: E402
from skgru.training._optimizers import RMSpropOptimizer, make_optimizer  # noqa: E402

pytestmark = pytest.mark.cudasim

# float64 agrees with the CPU to rounding (different summation orders).
TOL = {np.float64: 1e-12, np.float32: 2e-5}


@pytest.fixture(autouse=True)
def shrunken_launch():
    with small_launch():
        yield


def _poisoned(shape, dtype):
    return cuda.to_device(np.full(shape, np.nan, dtype=dtype))


def _close(a, b, dtype):
    tol = TOL[dtype]
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_gemm_matches_numpy(dtype, ta, tb):
    rng = np.random.default_rng(0)
    M, K, N = 11, 9, 10  # 2 x 2 blocks of 8 x 8, three k-chunks
    A = rng.normal(size=(K, M) if ta else (M, K)).astype(dtype)
    B = rng.normal(size=(N, K) if tb else (K, N)).astype(dtype)
    ks = _cuda.kernels(dtype)
    C = _poisoned((M, N), dtype)
    ks.gemm(cuda.to_device(A), cuda.to_device(B), C, ta, tb)
    expected = (A.T if ta else A) @ (B.T if tb else B)
    first = C.copy_to_host()
    _close(first, expected, dtype)
    ks.gemm(cuda.to_device(A), cuda.to_device(B), C, ta, tb)
    np.testing.assert_array_equal(C.copy_to_host(), first)  # bitwise repeatable


def test_gemm_strided_views():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(5, 8))
    B = rng.normal(size=(5, 9))
    ks = _cuda.kernels(np.float64)
    dC = _poisoned((4, 9), np.float64)
    ks.gemm(cuda.to_device(A)[:, 4:], cuda.to_device(B), dC, ta=True)
    _close(dC.copy_to_host(), A[:, 4:].T @ B, np.float64)


def _batch(rng, T, B, F, U, dtype, reset_after):
    X = rng.normal(size=(T, B, F)).astype(dtype)
    mask = np.ones((T, B), np.uint8)
    mask[T - 2 :, 1] = 0  # right padding
    mask[1, 2] = 0  # a hole
    mask[:, 3] = 0  # an empty sequence
    W = (0.5 * rng.normal(size=(F, 3 * U))).astype(dtype)
    R = (0.5 * rng.normal(size=(U, 3 * U))).astype(dtype)
    bias = (0.2 * rng.normal(size=(2, 3 * U))).astype(dtype)
    if not reset_after:
        bias[1] = 0
    return X, mask, W, R, bias


# Recurrent kernel variants: the default (rows per block) and split-k with
# slices that do and do not divide U = 6 (5: the last slices are empty), one,
# two or four sequences per block (B = 5: the last block is partly empty).
VARIANTS = {
    "rows": {"recurrent_variant": "rows"},
    "split1": {"recurrent_variant": "split", "k_split": 1, "split_rows": 1},
    "split4": {"recurrent_variant": "split", "k_split": 4, "split_rows": 1},
    "split5": {"recurrent_variant": "split", "k_split": 5, "split_rows": 1},
    "split4r2": {"recurrent_variant": "split", "k_split": 4, "split_rows": 2},
    "split2r4": {"recurrent_variant": "split", "k_split": 2, "split_rows": 4},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_rmask", [False, True])
def test_forward_backward_match_cpu(dtype, reset_after, use_rmask, variant):
    _cuda.LAUNCH.update(VARIANTS[variant])
    rng = np.random.default_rng(2)
    T, B, F, U = 4, 5, 3, 6  # U > unit_threads, B > rows_per_block
    X, mask, W, R, bias = _batch(rng, T, B, F, U, dtype, reset_after)
    rmask = (
        ((rng.random((B, U)) < 0.7) / 0.7).astype(dtype) if use_rmask else np.zeros((0, U), dtype)
    )
    H = np.empty((T + 1, B, U), dtype)
    S = np.empty((T, B, 4 * U), dtype)
    A = np.empty((T, B, 3 * U), dtype)
    h0 = np.zeros((B, U), dtype)
    _cpu.gru_forward(X, mask, W, R, bias, h0, rmask, reset_after, H, S)

    ks = _cuda.kernels(dtype)
    d = {k: cuda.to_device(v) for k, v in dict(X=X, mask=mask, W=W, R=R, bias=bias).items()}
    dH = _poisoned(H.shape, dtype)
    dS = _poisoned(S.shape, dtype)
    dA = _poisoned(A.shape, dtype)
    d_rmask = cuda.to_device(rmask) if use_rmask else None
    ks.gru_forward(
        d["X"], d["mask"], d["W"], d["R"], d["bias"], cuda.to_device(h0), d_rmask,
        reset_after, dH, dS, dA,
    )  # fmt: skip
    _close(dH.copy_to_host(), H, dtype)
    _close(dS.copy_to_host(), S, dtype)

    # Backward, with a gradient on every state as pooling produces.
    dH_seq = rng.normal(size=(T, B, U)).astype(dtype)
    dh_last = rng.normal(size=(B, U)).astype(dtype)
    dW, dR, db2 = np.empty_like(W), np.empty_like(R), np.empty((2, 3 * U), dtype)
    dM = np.empty_like(A)
    dh0 = np.empty((B, U), dtype)
    _cpu.gru_backward(
        X, mask, W, R, rmask, reset_after, H, S, dH_seq, dh_last.copy(), dW, dR, db2,
        np.zeros((0, B, F), dtype), dh0, A.copy(), dM,
    )  # fmt: skip
    RT = _poisoned((3 * U, U), dtype)
    ks.transpose(d["R"], RT)
    G = cuda.to_device(dh_last.copy())
    ddA = _poisoned(A.shape, dtype)
    ddM = _poisoned(A.shape, dtype)
    dbp = _poisoned((B, 6 * U), dtype)
    ks.gru_backward_steps(
        d["mask"], RT, d_rmask, reset_after, dH, dS, cuda.to_device(dH_seq), G, ddA, ddM, dbp
    )
    _close(G.copy_to_host(), dh0, dtype)
    _close(ddM.copy_to_host(), dM, dtype)
    N = T * B
    gW = _poisoned(W.shape, dtype)
    ks.gemm(d["X"].reshape(N, F), ddA.reshape(N, 3 * U), gW, ta=True)
    _close(gW.copy_to_host(), dW, dtype)
    gb = _poisoned((6 * U,), dtype)
    ks.sum_rows(dbp, gb)
    _close(gb.copy_to_host().reshape(2, 3 * U), db2, dtype)


@pytest.mark.parametrize("reset_after", [True, False])
def test_split_variant_bitwise(reset_after):
    """Split-k with one slice sums in the order of the default kernels (equal
    bits, forward with ``h0=None`` and without the gate store, backward with
    recurrent dropout); more slices repeat bitwise run to run."""
    rng = np.random.default_rng(4)
    T, B, F, U = 4, 5, 3, 6
    dtype = np.float64
    X, mask, W, R, bias = _batch(rng, T, B, F, U, dtype, reset_after)
    rmask = ((rng.random((B, U)) < 0.7) / 0.7).astype(dtype)
    dH_seq = rng.normal(size=(T, B, U)).astype(dtype)
    dh_last = rng.normal(size=(B, U)).astype(dtype)
    d = {k: cuda.to_device(v) for k, v in dict(X=X, mask=mask, W=W, R=R, bias=bias).items()}

    def run(variant, k_split, split_rows=1):
        _cuda.LAUNCH.update(recurrent_variant=variant, k_split=k_split, split_rows=split_rows)
        ks = _cuda.kernels(dtype)
        outs = []
        dH = _poisoned((T + 1, B, U), dtype)
        ks.gru_forward(
            d["X"], d["mask"], d["W"], d["R"], d["bias"], None, None, reset_after, dH, None,
            _poisoned((T, B, 3 * U), dtype),
        )  # fmt: skip
        outs.append(dH.copy_to_host())
        dS = _poisoned((T, B, 4 * U), dtype)
        d_rmask = cuda.to_device(rmask)
        dA = _poisoned((T, B, 3 * U), dtype)
        ks.gru_forward(
            d["X"], d["mask"], d["W"], d["R"], d["bias"], None, d_rmask, reset_after, dH, dS, dA,
        )  # fmt: skip
        RT = _poisoned((3 * U, U), dtype)
        ks.transpose(d["R"], RT)
        G = cuda.to_device(dh_last.copy())
        ddA, ddM = _poisoned(dA.shape, dtype), _poisoned(dA.shape, dtype)
        dbp = _poisoned((B, 6 * U), dtype)
        ks.gru_backward_steps(
            d["mask"], RT, d_rmask, reset_after, dH, dS, cuda.to_device(dH_seq), G, ddA, ddM, dbp
        )
        outs += [a.copy_to_host() for a in (dH, dS, G, ddA, ddM, dbp)]
        return outs

    base = run("rows", 4)
    for rows in (1, 2, 4):
        for a, b in zip(base, run("split", 1, rows)):
            np.testing.assert_array_equal(b, a)
    for a, b in zip(run("split", 3, 2), run("split", 3, 2)):
        np.testing.assert_array_equal(b, a)


def test_forward_matches_reference_oracle():
    rng = np.random.default_rng(3)
    T, B, F, U = 5, 3, 2, 5
    X, mask, W, R, bias = _batch(rng, T, B + 1, F, U, np.float64, True)
    X, mask = X[:, :B], np.ascontiguousarray(mask[:, :B])
    h_seq, _ = ref_forward(X.transpose(1, 0, 2), W, R, bias, mask=mask.T.astype(bool))
    ks = _cuda.kernels(np.float64)
    dH = _poisoned((T + 1, B, U), np.float64)
    ks.gru_forward(
        cuda.to_device(np.ascontiguousarray(X)), cuda.to_device(mask), cuda.to_device(W),
        cuda.to_device(R), cuda.to_device(bias), cuda.to_device(np.zeros((B, U))), None, True,
        dH, None, cuda.device_array((T, B, 3 * U)),
    )  # fmt: skip
    np.testing.assert_allclose(dH.copy_to_host()[1:].transpose(1, 0, 2), h_seq, atol=1e-12)


@pytest.mark.parametrize(
    "mode, out_activation, K",
    [(0, "softmax", 4), (1, "logistic", 1), (1, "logistic", 3), (2, "identity", 2)],
)
def test_head_step_matches_host(mode, out_activation, K):
    rng = np.random.default_rng(4)
    B, U, N, alpha = 5, 3, 8, 0.1
    pooled = rng.normal(size=(B, U))
    Wd = rng.normal(size=(U, K))
    bd = rng.normal(size=K)
    if out_activation == "softmax":
        Y = np.eye(K)[rng.integers(0, K, N)]
    elif out_activation == "logistic":
        Y = (rng.random((N, K)) < 0.5).astype(float)
    else:
        Y = rng.normal(size=(N, K))
    w = rng.uniform(0.5, 2.0, N)
    idx = np.array([6, 0, 3, 3, 1])
    pnorms = np.array([0.5, 1.5, 2.0])
    loss, dlog, w_sum = head_loss_grad(pooled @ Wd + bd, Y[idx], w[idx], out_activation)
    loss += 0.5 * alpha * pnorms.sum() / w_sum
    ks = _cuda.kernels(np.float64)
    out = {
        name: _poisoned(shape, np.float64)
        for name, shape in [("logits", (B, K)), ("dlogits", (B, K)), ("row_loss", (B,)),
                            ("gWd", (U, K)), ("gbd", (K,)), ("dpooled", (B, U))]
    }  # fmt: skip
    acc = cuda.to_device(np.array([1.0]))
    ks.head_step(
        *[cuda.to_device(a) for a in (pooled, Wd, bd, Y, w, idx)], w_sum, mode, alpha,
        cuda.to_device(pnorms), *out.values(), acc,
    )  # fmt: skip
    got = {k: v.copy_to_host() for k, v in out.items()}
    np.testing.assert_allclose(got["dlogits"], dlog, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got["gWd"], pooled.T @ dlog, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got["gbd"], dlog.sum(axis=0), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got["dpooled"], dlog @ Wd.T, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(acc.copy_to_host()[0], 1.0 + loss * w_sum, rtol=1e-13)


def _segments(arrays):
    starts, lengths, o = [], [], 0
    for a in arrays:
        starts.append(o)
        lengths.append(a.size)
        o += a.size
    flat = np.concatenate([a.ravel() for a in arrays])
    return flat, np.array(starts), np.array(lengths)


@pytest.mark.parametrize("mode", ["clipnorm", "clipvalue", "global_clipnorm"])
def test_clipping_matches_host(mode):
    rng = np.random.default_rng(5)
    grads = [rng.normal(size=s) for s in [(3, 4), (7,), (2, 2)]]
    grads[1] *= 10
    flat, starts, lengths = _segments(grads)
    c = 1.5
    expected = [g.copy() for g in grads]
    clip_gradients(expected, **{mode: c})
    ks = _cuda.kernels(np.float64)
    d = cuda.to_device(flat)
    ds, dl = cuda.to_device(starts), cuda.to_device(lengths)
    norms = _poisoned((3,), np.float64)
    if mode == "clipvalue":
        ks.clip_value(d, c)
    else:
        ks.sumsq_segments(d, ds, dl, norms)
        np.testing.assert_allclose(norms.copy_to_host(), [np.sum(g**2) for g in grads], rtol=1e-13)
        if mode == "clipnorm":
            ks.clip_by_norm(d, ds, dl, norms, c)
        else:
            ks.clip_global(d, ds, dl, norms, c)
    np.testing.assert_allclose(d.copy_to_host(), _segments(expected)[0], rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "solver, extra",
    [
        ("adam", {}),
        ("sgd", {"nesterovs_momentum": True}),
        ("sgd", {"nesterovs_momentum": False}),
        ("rmsprop", {}),
        ("rmsprop", {"rmsprop_momentum": 0.5}),
    ],
)
def test_optimizer_steps_match_host(dtype, solver, extra):
    rng = np.random.default_rng(6)
    shape = (37,)
    p = rng.normal(size=shape).astype(dtype)
    kwargs = {"learning_rate_init": 0.05, "momentum": 0.9, "nesterovs_momentum": True, **extra}
    kwargs.pop("rmsprop_momentum", None)

    def build(params):
        if solver == "rmsprop":
            return RMSpropOptimizer(params, 0.05, momentum=extra.get("rmsprop_momentum", 0.0))
        return make_optimizer(solver, params, **kwargs)

    host = build([p.copy()])
    ref_p = p.copy()
    ks = _cuda.kernels(dtype)
    d_p = cuda.to_device(p)
    slots = {name: cuda.to_device(np.zeros(shape, dtype)) for name in ("a", "b")}
    dev = build([p.copy()])
    for _ in range(3):
        g = rng.normal(size=shape).astype(dtype)
        host.update_params([ref_p], [g])
        dev.t += 1
        dev._begin_step()
        d_g = cuda.to_device(g)
        if solver == "adam":
            ks.adam(d_p, d_g, slots["a"], slots["b"], 0.9, 0.999, dev.learning_rate, 1e-8)
        elif solver == "sgd":
            ks.sgd(d_p, d_g, slots["a"], dev.momentum, dev.learning_rate, dev.nesterov)
        else:
            ks.rmsprop(
                d_p, d_g, slots["a"], slots["b"], dev.rho, dev.learning_rate, dev.epsilon,
                dev.momentum,
            )  # fmt: skip
    tol = 1e-14 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(d_p.copy_to_host(), ref_p, rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "constraint, code, args",
    [
        (MaxNorm(0.7), 0, (0.0, 0.7, 1.0)),
        (UnitNorm(), 1, (0.0, 0.0, 1.0)),
        (MinMaxNorm(0.5, 0.9, rate=0.6), 2, (0.5, 0.9, 0.6)),
    ],
)
@pytest.mark.parametrize("by_row", [False, True])
def test_norm_constraints_match_host(constraint, code, args, by_row):
    rng = np.random.default_rng(7)
    w = rng.normal(size=(4, 9))
    expected = type(constraint)(**{**constraint.get_params(), "axis": 1 if by_row else 0})(w)
    ks = _cuda.kernels(np.float64)
    d = cuda.to_device(w)
    ks.constrain_norm(d, by_row, code, *args, 1e-7)
    np.testing.assert_allclose(d.copy_to_host(), expected, rtol=1e-13, atol=1e-15)


def test_nonneg_matches_host():
    w = np.random.default_rng(8).normal(size=21)
    d = cuda.to_device(w)
    _cuda.kernels(np.float64).nonneg(d)
    np.testing.assert_array_equal(d.copy_to_host(), NonNeg()(w))


def _tiny_data(seed=0, N=7, T=4, F=2, n_classes=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, T, F))
    y = np.arange(N) % n_classes
    X[:, :, 0] += y[:, None]
    return X, y


@pytest.mark.parametrize("variant", ["rows", "split4", "split2r4"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_trainer_matches_cpu_with_regularisers(reset_after, variant):
    """Dropout, recurrent dropout, noise, L2, clipping, constraints, masks, SGD."""
    _cuda.LAUNCH.update(VARIANTS[variant])
    rng = np.random.default_rng(9)
    N, T, F, U, K = 6, 4, 3, 5, 3
    values = rng.normal(size=(N, T, F))
    mask = np.ones((N, T), np.uint8)
    mask[2, 2:] = 0
    values[mask == 0] = 0
    seqs = Sequences(values, mask)
    Y = np.eye(K)[rng.integers(0, K, N)]
    w = rng.uniform(0.5, 1.5, N)
    params = init_params(np.random.default_rng(1), F, U, K, reset_after, np.float64)
    cfg = TrainConfig(
        reset_after=reset_after, alpha=0.01, recurrent_dropout=0.3, dropout=0.2,
        input_noise=0.1, global_clipnorm=0.3,
        constraints=[NonNeg(), UnitNorm(axis=1), MaxNorm(0.5), None, lambda v: 0.9 * v],
    )  # fmt: skip
    batches = [np.array([0, 3, 5]), np.array([1, 2, 4])]
    out = {}
    for device in ("cpu", "cuda"):
        opt = make_optimizer(
            "sgd", params, learning_rate_init=0.05, momentum=0.9, nesterovs_momentum=True
        )
        trainer = make_trainer(device, params, opt, cfg, seqs, Y, w)
        loss = trainer.run_epoch(batches, np.random.default_rng(5))
        out[device] = loss, trainer.get_params(), trainer.get_optimizer_state()
    assert out["cuda"][0] == pytest.approx(out["cpu"][0], rel=1e-12)
    for a, b in zip(out["cpu"][1], out["cuda"][1]):
        np.testing.assert_allclose(b, a, atol=1e-12)
    for a, b in zip(out["cpu"][2]["velocities"], out["cuda"][2]["velocities"]):
        np.testing.assert_allclose(b, a, atol=1e-12)


@pytest.mark.parametrize(
    "pooling, solver, out_activation, clip",
    [("mean", "adam", "logistic", "clipnorm"), ("max", "rmsprop", "softmax", "global_clipnorm")],
)
def test_trainer_embedding_pooling_match_cpu(pooling, solver, out_activation, clip):
    """Token ids through an embedding (lazy Adam rows / dense steps), pooling, heads."""
    rng = np.random.default_rng(10)
    N, T, D, U, V = 6, 5, 3, 4, 9
    mask = np.ones((N, T), np.uint8)
    mask[2, 3:] = 0
    mask[4, :2] = 0  # left padding: the batch starts later
    mask[5, 1] = 0  # a hole
    ids = rng.integers(1, V, size=(N, T))
    ids[mask == 0] = 0
    seqs = Sequences(ids, mask)
    K = 2 if out_activation == "logistic" else 3
    Y = (rng.random((N, K)) < 0.5).astype(float) if K == 2 else np.eye(K)[ids[:, 0] % K]
    params = init_params(np.random.default_rng(1), D, U, K, True, np.float64)
    params.insert(0, 0.5 * np.random.default_rng(3).normal(size=(V, D)))
    cfg = TrainConfig(
        out_activation=out_activation, dropout=0.2, alpha=0.01, embedding=True, pooling=pooling,
        constraints=[MaxNorm(0.6, axis=1), None, None, None, None, None], **{clip: 0.1},
    )  # fmt: skip
    out = {}
    for device in ("cpu", "cuda"):
        opt = make_optimizer(
            solver, params, learning_rate_init=0.05, momentum=0.9, nesterovs_momentum=True
        )
        trainer = make_trainer(device, params, opt, cfg, seqs, Y, np.ones(N))
        loss = trainer.run_epoch(
            [np.array([4, 0, 5]), np.array([1, 2, 3])], rng=np.random.default_rng(5)
        )
        out[device] = loss, trainer.get_params()
    assert out["cuda"][0] == pytest.approx(out["cpu"][0], rel=1e-12)
    for a, b in zip(out["cpu"][1], out["cuda"][1]):
        np.testing.assert_allclose(b, a, atol=1e-12)


def test_classifier_cuda_matches_cpu_and_repeats():
    """Done-when: 2 epochs, MaxNorm kernel constraint, clipnorm, float64."""
    X, y = _tiny_data()
    kw = dict(
        units=5, max_iter=2, batch_size=4, kernel_constraint=MaxNorm(0.5), clipnorm=0.1,
        dtype="float64", random_state=0, learning_rate_init=0.05,
    )  # fmt: skip
    with pytest.warns(Warning):
        cpu = ConstrainedGRUClassifier(device="cpu", **kw).fit(X, y)
    with pytest.warns(Warning):
        gpu = ConstrainedGRUClassifier(device="cuda", **kw).fit(X, y)
    for a, b in zip(cpu.get_weights(), gpu.get_weights()):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-8)
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), rtol=0, atol=1e-8)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-10)
    # Fitted state is host NumPy only.
    assert all(type(p) is np.ndarray for p in gpu.get_weights())
    with pytest.warns(Warning):
        again = ConstrainedGRUClassifier(device="cuda", **kw).fit(X, y)
    for a, b in zip(gpu.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)  # bitwise run to run


def test_cuda_predict_logits_match_cpu(monkeypatch):
    monkeypatch.setattr(CUDAKernelSet, "inference_batch_size", 3)  # two batches
    X, _ = _tiny_data(seed=1, N=5)
    mask = np.ones(X.shape[:2], np.uint8)
    mask[1, 2:] = 0
    X[mask == 0] = 0
    seqs = Sequences(X, mask)
    params = init_params(np.random.default_rng(2), 2, 5, 3, True, np.float64)
    for pooling in ("last", "max"):
        cfg = TrainConfig(pooling=pooling)
        cpu = predict_logits("cpu", params, seqs, cfg)
        gpu = predict_logits("cuda", params, seqs, cfg)
        np.testing.assert_allclose(gpu, cpu, atol=1e-12)


def test_pickled_cuda_model_predicts_without_cuda(tmp_path):
    X, y = _tiny_data(seed=2, N=6, n_classes=2)
    clf = ConstrainedGRUClassifier(
        units=4, max_iter=1, batch_size=3, dtype="float64", device="cuda", random_state=1
    )
    with pytest.warns(Warning):
        clf.fit(X, y)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(clf))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "expected.npy", clf.predict_proba(X))
    code = textwrap.dedent(
        f"""
        import pickle, numpy as np
        from skgru.engine._devices import cuda_available
        assert not cuda_available()
        clf = pickle.loads(open({str(path)!r}, "rb").read())
        proba = clf.predict_proba(np.load({str(tmp_path / "X.npy")!r}))
        np.testing.assert_allclose(proba, np.load({str(tmp_path / "expected.npy")!r}), atol=1e-12)
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ok" in res.stdout


def test_device_cuda_never_runs_on_the_cpu(monkeypatch):
    """Every layer, fit and predict, runs on the CUDA kernel set with device='cuda'."""

    def no_cpu(*args, **kwargs):
        raise AssertionError("a CPU kernel ran with device='cuda'")

    for name in ("layer_forward", "layer_backward", "head_step", "logits"):
        monkeypatch.setattr(CPUKernelSet, name, no_cpu)
    X, y = _tiny_data(N=4)
    kw = dict(units=3, max_iter=1, num_layers=2, bidirectional=True, pooling="max")
    with pytest.warns(Warning):
        clf = ConstrainedGRUClassifier(device="cuda", dtype="float64", **kw).fit(X, y)
    assert clf.predict_proba(X).shape == (4, 3)


def _not_elementwise(w):
    return w / np.linalg.norm(w)


def test_non_elementwise_callable_raises_with_cuda_and_warns_with_auto():
    """The one choice of kernel set: a missing primitive is an error or a stated fallback."""
    X, y = _tiny_data(N=4)
    kw = dict(units=3, max_iter=1, kernel_constraint=_not_elementwise, random_state=0)
    with pytest.raises(ValueError, match="elementwise"):
        ConstrainedGRUClassifier(device="cuda", **kw).fit(X, y)
    kw["dtype"] = "float64"
    with pytest.warns(UserWarning, match="running on the CPU"):
        auto = ConstrainedGRUClassifier(device="auto", **kw).fit(X, y)
    with pytest.warns(Warning):
        cpu = ConstrainedGRUClassifier(device="cpu", **kw).fit(X, y)
    for a, b in zip(cpu.get_weights(), auto.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_warm_start_and_partial_fit_match_cpu():
    """Optimizer state goes to the device and back between calls."""
    X, y = _tiny_data(seed=3, N=6)
    out = {}
    for device in ("cpu", "cuda"):
        clf = ConstrainedGRUClassifier(
            units=3, batch_size=3, dtype="float64", random_state=0, device=device,
            solver="sgd", learning_rate_init=0.05,
        )  # fmt: skip
        clf.partial_fit(X, y, classes=np.unique(y))
        clf.partial_fit(X, y)
        out[device] = clf
    for a, b in zip(out["cpu"].get_weights(), out["cuda"].get_weights()):
        np.testing.assert_allclose(b, a, atol=1e-12)
    for a, b in zip(
        out["cpu"]._optimizer_state["velocities"], out["cuda"]._optimizer_state["velocities"]
    ):
        np.testing.assert_allclose(b, a, atol=1e-12)


def test_units_too_large_raise_clear_error():
    ks = _cuda.kernels(np.float64)
    with pytest.raises(ValueError, match="too large"):
        ks._recurrent_launch(4, 10**6, 5)


def test_split_launch_fits_limits():
    _cuda.LAUNCH.update(unit_threads=256, k_split=8, split_rows=4)
    ks = _cuda.kernels(np.float32)
    # U = 256: at most 1024 / 256 = 4 slices; 4 rows x (4 + 3 * 4) x 256 x 4 B
    # is over 48 KiB, so the forward drops to 2 slices.
    name, grid, block, shared = ks._split_launch("gru_forward_split", 128, 256, 4, 3)
    assert (name, grid, block) == ("gru_forward_split_small_r4", 32, (256, 2))
    assert shared <= 48 * 1024
    name, grid, block, _ = ks._split_launch("gru_backward_split", 128, 256, 5, 1)
    assert (name, grid, block) == ("gru_backward_split_r4", 32, (256, 4))
    # fewer sequences than split_rows: rows per block follow the batch
    name, grid, block, _ = ks._split_launch("gru_forward_split", 3, 32, 4, 3)
    assert (name, grid, block) == ("gru_forward_split_small_r2", 2, (32, 8))
    with pytest.raises(ValueError, match="too large"):
        ks._split_launch("gru_forward_split", 4, 10**6, 4, 3)
