"""The CPU ``@njit`` GRU kernels against the float64 NumPy oracle.

``skgru._kernels._cpu.gru_forward`` / ``gru_backward`` are time-major (``X (T,
B, F)``, ``H (T + 1, B, U)``, ``mask (T, B)`` uint8) and take optional arrays
as zero-length arrays; the oracle in ``reference.py`` is batch-major. The
recurrent-dropout mask ``rmask (B, U)`` multiplies ``h_prev`` before the
recurrent products only; the oracle expresses it exactly by running each
sequence ``b`` with the recurrent kernel ``diag(rmask[b]) @ R`` (then
``dR = sum_b diag(rmask[b]) @ dR_b``). It is also checked against central
finite differences of the kernel itself.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import gru_backward as ref_backward
from reference import gru_forward as ref_forward
from reference import numerical_gradient

from skgru.kernels.cpu import _gru as _cpu

SETTINGS = settings(max_examples=30, deadline=None, derandomize=True)
DTYPES = (np.float32, np.float64)


# -- helpers -------------------------------------------------------------------


def _tol(dtype):
    # (rtol, atol relative to the largest reference magnitude)
    return (1e-10, 1e-12) if dtype == np.float64 else (1e-5, 4e-6)


def _close(actual, ref, dtype, name):
    rtol, atol = _tol(dtype)
    ref = np.asarray(ref, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64), ref, rtol=rtol, atol=atol * scale, err_msg=name
    )


def _problem(seed, B, T, F, U, dtype, mask=None, with_rmask=False, scale=0.6):
    """Random batch-major problem, values exactly representable in ``dtype``."""
    rng = np.random.default_rng(seed)

    def draw(*shape, s=scale):
        return rng.normal(scale=s, size=shape).astype(dtype)

    p = {
        "x": draw(B, T, F, s=1.0),
        "W": draw(F, 3 * U),
        "R": draw(U, 3 * U),
        "b2": draw(2, 3 * U, s=0.5),
        "h0": draw(B, U, s=0.5),
        "dh_seq": draw(B, T, U, s=1.0),
        "dh_last": draw(B, U, s=1.0),
        "mask": (np.ones((B, T), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)),
    }
    if with_rmask:
        keep = 0.6
        p["rmask"] = ((rng.random((B, U)) < keep) / keep).astype(dtype)
    else:
        p["rmask"] = None
    return p


def _kernel_forward(p, reset_after, dtype, store=True):
    """Run the kernel forward; returns time-major ``H, S`` and inputs."""
    x = np.ascontiguousarray(p["x"].transpose(1, 0, 2), dtype=dtype)
    T, B, F = x.shape
    U = p["R"].shape[0]
    mask = np.ascontiguousarray(p["mask"].T.astype(np.uint8))
    rmask = p["rmask"] if p["rmask"] is not None else np.zeros((0, U), dtype=dtype)
    H = np.full((T + 1, B, U), np.nan, dtype=dtype)
    S = np.full((T, B, 4 * U) if store else (0, B, 4 * U), np.nan, dtype=dtype)
    _cpu.gru_forward(
        x,
        mask,
        np.ascontiguousarray(p["W"], dtype=dtype),
        np.ascontiguousarray(p["R"], dtype=dtype),
        np.ascontiguousarray(p["b2"], dtype=dtype),
        np.ascontiguousarray(p["h0"], dtype=dtype),
        np.ascontiguousarray(rmask, dtype=dtype),
        bool(reset_after),
        H,
        S,
    )
    return H, S, x, mask, rmask


def _kernel_backward(p, reset_after, dtype, with_seq=True, with_dx=True):
    H, S, x, mask, rmask = _kernel_forward(p, reset_after, dtype)
    T, B, F = x.shape
    U = p["R"].shape[0]
    dH_seq = (
        np.ascontiguousarray(p["dh_seq"].transpose(1, 0, 2), dtype=dtype)
        if with_seq
        else np.zeros((0, B, U), dtype=dtype)
    )
    dW = np.full((F, 3 * U), np.nan, dtype=dtype)
    dR = np.full((U, 3 * U), np.nan, dtype=dtype)
    dbias = np.full((2, 3 * U), np.nan, dtype=dtype)
    dX = np.full((T, B, F) if with_dx else (0, B, F), np.nan, dtype=dtype)
    dh0 = np.full((B, U), np.nan, dtype=dtype)
    dA = np.empty((T, B, 3 * U), dtype=dtype)
    dM = np.empty((T, B, 3 * U), dtype=dtype)
    _cpu.gru_backward(
        x,
        mask,
        np.ascontiguousarray(p["W"], dtype=dtype),
        np.ascontiguousarray(p["R"], dtype=dtype),
        rmask,
        bool(reset_after),
        H,
        S,
        dH_seq,
        np.ascontiguousarray(p["dh_last"], dtype=dtype),
        dW,
        dR,
        dbias,
        dX,
        dh0,
        dA,
        dM,
    )
    return {
        "H": H,
        "dW": dW,
        "dR": dR,
        "dbias": dbias,
        "dX": dX.transpose(1, 0, 2) if with_dx else dX,
        "dh0": dh0,
    }


def _oracle_bias(p, reset_after):
    b2 = p["b2"].astype(np.float64)
    return b2 if reset_after else b2[0]


def _oracle(p, reset_after, with_seq=True):
    """Oracle forward and backward (float64), rmask emulated per sequence."""
    x = p["x"].astype(np.float64)
    W = p["W"].astype(np.float64)
    R = p["R"].astype(np.float64)
    b = _oracle_bias(p, reset_after)
    h0 = p["h0"].astype(np.float64)
    dh_seq = p["dh_seq"].astype(np.float64) if with_seq else None
    dh_last = p["dh_last"].astype(np.float64)
    mask = p["mask"]
    if p["rmask"] is None:
        h_seq, cache = ref_forward(x, W, R, b, mask=mask, h0=h0, reset_after=reset_after)
        g = ref_backward(cache, dh_seq=dh_seq, dh_last=dh_last)
        return h_seq, g
    rmask = p["rmask"].astype(np.float64)
    B = x.shape[0]
    h_seqs, dx, dh0 = [], [], []
    dW = np.zeros_like(W)
    dR = np.zeros_like(R)
    db = np.zeros_like(b)
    for i in range(B):
        sl = slice(i, i + 1)
        R_i = rmask[i][:, None] * R  # (h * rmask) @ R == h @ (diag(rmask) R)
        h_seq, cache = ref_forward(
            x[sl], W, R_i, b, mask=mask[sl], h0=h0[sl], reset_after=reset_after
        )
        g = ref_backward(cache, dh_seq=None if dh_seq is None else dh_seq[sl], dh_last=dh_last[sl])
        h_seqs.append(h_seq)
        dx.append(g["dx"])
        dh0.append(g["dh0"])
        dW += g["dW"]
        dR += rmask[i][:, None] * g["dR"]
        db += g["db"]
    g = {
        "dW": dW,
        "dR": dR,
        "db": db,
        "dx": np.concatenate(dx),
        "dh0": np.concatenate(dh0),
    }
    return np.concatenate(h_seqs), g


def _compare(p, reset_after, dtype, with_seq=True):
    k = _kernel_backward(p, reset_after, dtype, with_seq=with_seq)
    h_seq, g = _oracle(p, reset_after, with_seq=with_seq)
    H = k["H"]
    assert H.dtype == dtype
    np.testing.assert_array_equal(H[0], p["h0"])
    _close(H[1:].transpose(1, 0, 2), h_seq, dtype, "H")
    _close(k["dW"], g["dW"], dtype, "dW")
    _close(k["dR"], g["dR"], dtype, "dR")
    if reset_after:
        _close(k["dbias"], g["db"], dtype, "dbias")
    else:
        _close(k["dbias"][0], g["db"], dtype, "dbias[0]")
        np.testing.assert_array_equal(k["dbias"][1], 0)
    _close(k["dX"], g["dx"], dtype, "dX")
    _close(k["dh0"], g["dh0"], dtype, "dh0")
    for name in ("dW", "dR", "dbias", "dX", "dh0"):
        assert k[name].dtype == dtype, name
    return k


# A fixed mask covering every pattern at once (rows x steps, T = 7):
# all valid, all masked, length 1, left padding, inner holes, right padding,
# one valid step in the middle, and step 3 masked for every row (the
# kernels' "no row valid at this step" shortcut).
FIXED_MASK = np.array(
    [
        [1, 1, 1, 0, 1, 1, 1],  # all valid except the all-masked column
        [0, 0, 0, 0, 0, 0, 0],  # all masked: state stays h0, zero weight gradient
        [1, 0, 0, 0, 0, 0, 0],  # length 1
        [0, 0, 1, 0, 1, 1, 1],  # leading masked steps (left padding)
        [1, 0, 1, 0, 0, 1, 1],  # inner holes
        [1, 1, 1, 0, 1, 0, 0],  # trailing masked steps (right padding)
        [0, 0, 0, 0, 1, 0, 0],  # one valid step in the middle
    ],
    dtype=bool,
)


@st.composite
def shapes_and_masks(draw):
    B = draw(st.integers(1, 5))
    T = draw(st.integers(1, 6))
    F = draw(st.integers(1, 4))
    U = draw(st.integers(1, 5))
    row = st.one_of(
        st.lists(st.booleans(), min_size=T, max_size=T),
        st.just([False] * T),  # all masked
        st.just([True] * T),
        # contiguous run [lo, hi): leading / trailing padding, length-1 sequences
        st.tuples(st.integers(0, T - 1), st.integers(1, T)).map(
            lambda lh: [lh[0] <= t < max(lh[0] + 1, lh[1]) for t in range(T)]
        ),
    )
    mask = np.array(draw(st.lists(row, min_size=B, max_size=B)), dtype=bool).reshape(B, T)
    seed = draw(st.integers(0, 2**31 - 1))
    return B, T, F, U, mask, seed


@pytest.fixture(scope="module", autouse=True)
def _warm_up():
    """Compile (or load from cache) every signature once, outside hypothesis."""
    for dtype in DTYPES:
        for rm in (False, True):
            p = _problem(0, 2, 2, 2, 2, dtype, with_rmask=rm)
            _kernel_backward(p, True, dtype)
            _kernel_forward(p, True, dtype, store=False)


# -- forward and backward against the oracle -----------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("with_rmask", [False, True], ids=["no_rmask", "rmask"])
@SETTINGS
@given(case=shapes_and_masks())
def test_forward_backward_match_oracle(case, with_rmask, reset_after, dtype):
    B, T, F, U, mask, seed = case
    p = _problem(seed, B, T, F, U, dtype, mask=mask, with_rmask=with_rmask)
    _compare(p, reset_after, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("with_rmask", [False, True], ids=["no_rmask", "rmask"])
def test_fixed_mask_patterns(with_rmask, reset_after, dtype):
    B, T = FIXED_MASK.shape
    p = _problem(11, B, T, 3, 4, dtype, mask=FIXED_MASK, with_rmask=with_rmask)
    k = _compare(p, reset_after, dtype)
    # The all-masked row never moves from h0 and receives exactly its gradient sum.
    H = k["H"]
    for t in range(T + 1):
        np.testing.assert_array_equal(H[t, 1], p["h0"][1])
    expected_dh0 = p["dh_seq"][1].astype(dtype).sum(axis=0, dtype=np.float64) + p["dh_last"][1]
    _close(k["dh0"][1], expected_dh0, dtype, "dh0 of the all-masked row")
    np.testing.assert_array_equal(k["dX"][1], 0)
    # Input gradients are exactly zero on masked steps.
    np.testing.assert_array_equal(k["dX"][~FIXED_MASK], 0)


@pytest.mark.parametrize("reset_after", [True, False])
def test_without_dh_seq(reset_after):
    """``dH_seq`` empty means only the final state carries a gradient."""
    dtype = np.float64
    p = _problem(5, 4, 5, 3, 3, dtype, mask=FIXED_MASK[:4, :5])
    _compare(p, reset_after, dtype, with_seq=False)


@pytest.mark.parametrize("reset_after", [True, False])
def test_dx_empty_gives_same_weight_gradients(reset_after):
    dtype = np.float64
    p = _problem(6, 7, 7, 2, 3, dtype, mask=FIXED_MASK)
    full = _kernel_backward(p, reset_after, dtype, with_dx=True)
    lean = _kernel_backward(p, reset_after, dtype, with_dx=False)
    for name in ("H", "dW", "dR", "dbias", "dh0"):
        np.testing.assert_array_equal(full[name], lean[name], err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_reset_before_ignores_recurrent_bias_row(dtype):
    p = _problem(8, 3, 4, 2, 3, dtype)
    H1 = _kernel_forward(p, False, dtype)[0]
    p2 = dict(p)
    p2["b2"] = p["b2"].copy()
    p2["b2"][1] = 123.0
    H2 = _kernel_forward(p2, False, dtype)[0]
    np.testing.assert_array_equal(H1, H2)


# -- recurrent dropout mask by finite differences on the kernel -----------------


@pytest.mark.parametrize("reset_after", [True, False])
def test_rmask_gradients_finite_differences(reset_after):
    """Kernel backward with ``rmask`` equals central differences of the kernel forward."""
    dtype = np.float64
    mask = np.array([[1, 1, 0, 1], [0, 1, 1, 0], [1, 0, 0, 0]], dtype=bool)
    p = _problem(21, 3, 4, 2, 3, dtype, mask=mask, with_rmask=True)
    p["rmask"][0, 1] = 0.0  # a dropped unit
    k = _kernel_backward(p, reset_after, dtype)

    def loss():
        H = _kernel_forward(p, reset_after, dtype)[0]
        return float(np.sum(H[1:].transpose(1, 0, 2) * p["dh_seq"]) + np.sum(H[-1] * p["dh_last"]))

    rows = slice(None) if reset_after else slice(0, 1)
    num = {
        "dW": numerical_gradient(loss, p["W"]),
        "dR": numerical_gradient(loss, p["R"]),
        "dX": numerical_gradient(loss, p["x"]),
        "dh0": numerical_gradient(loss, p["h0"]),
    }
    b_num = numerical_gradient(loss, p["b2"])
    for name, g in num.items():
        np.testing.assert_allclose(k[name], g, rtol=1e-6, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(k["dbias"][rows], b_num[rows], rtol=1e-6, atol=1e-8)
    if not reset_after:
        np.testing.assert_array_equal(b_num[1], 0)  # row 1 unused: truly no effect


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_rmask_of_ones_equals_no_rmask(dtype):
    p = _problem(3, 7, 7, 2, 3, dtype, mask=FIXED_MASK)
    with_ones = dict(p, rmask=np.ones((7, 3), dtype=dtype))
    for reset_after in (True, False):
        a = _kernel_backward(p, reset_after, dtype)
        b = _kernel_backward(with_ones, reset_after, dtype)
        for name in ("H", "dW", "dR", "dbias", "dX", "dh0"):
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# -- masking, inference mode, batch-size invariance -----------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("store", [True, False], ids=["training", "inference"])
@settings(max_examples=20, deadline=None, derandomize=True)
@given(case=shapes_and_masks(), with_rmask=st.booleans())
def test_masked_steps_leave_state_bitwise_unchanged(case, with_rmask, store, reset_after, dtype):
    B, T, F, U, mask, seed = case
    p = _problem(seed, B, T, F, U, dtype, mask=mask, with_rmask=with_rmask)
    H = _kernel_forward(p, reset_after, dtype, store=store)[0]
    for t in range(T):
        for b in range(B):
            if not mask[b, t]:
                assert np.array_equal(H[t + 1, b], H[t, b]), (t, b)


def _batch_mask(rng, B, T):
    kinds = rng.integers(0, 5, size=B)
    mask = np.ones((B, T), dtype=bool)
    for i, kind in enumerate(kinds):
        if kind == 1:  # right padding
            mask[i, rng.integers(1, T + 1) :] = False
        elif kind == 2:  # left padding
            mask[i, : rng.integers(0, T)] = False
        elif kind == 3:  # random holes
            mask[i] = rng.random(T) < 0.6
        elif kind == 4 and i % 7 == 0:  # a few fully masked rows
            mask[i] = False
    return mask


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_inference_batch_size_invariance(reset_after, dtype):
    """Inference states are bitwise independent of batch size and composition."""
    rng = np.random.default_rng(17)
    B, T, F, U = 40, 9, 5, 6
    mask = _batch_mask(rng, B, T)
    p = _problem(17, B, T, F, U, dtype, mask=mask)
    p["h0"][:] = 0
    H_all = _kernel_forward(p, reset_after, dtype, store=False)[0]
    for chunk in (1, 3, 7):
        parts = []
        for s in range(0, B, chunk):
            sl = slice(s, s + chunk)
            q = dict(p, x=p["x"][sl], mask=p["mask"][sl], h0=p["h0"][sl])
            parts.append(_kernel_forward(q, reset_after, dtype, store=False)[0])
        H_chunks = np.concatenate(parts, axis=1)
        np.testing.assert_array_equal(H_chunks, H_all, err_msg=f"chunk={chunk}")
    # A permuted batch gives the permuted states, bitwise.
    perm = rng.permutation(B)
    q = dict(p, x=p["x"][perm], mask=p["mask"][perm], h0=p["h0"][perm])
    H_perm = _kernel_forward(q, reset_after, dtype, store=False)[0]
    np.testing.assert_array_equal(H_perm, H_all[:, perm])

    # Inference equals training mode up to float rounding.
    H_train = _kernel_forward(p, reset_after, dtype, store=True)[0]
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(H_all, H_train, rtol=rtol, atol=rtol)
    # ... and the oracle.
    h_seq, _ = _oracle(p, reset_after)
    _close(H_all[1:].transpose(1, 0, 2), h_seq, dtype, "inference H")


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_inference_leaves_S_untouched_and_fills_H(dtype):
    p = _problem(2, 3, 4, 2, 2, dtype)
    H, S, _, _, _ = _kernel_forward(p, True, dtype, store=False)
    assert S.shape[0] == 0
    assert np.isfinite(H).all()


def test_matmul_rowwise_matches_numpy_and_is_row_independent():
    rng = np.random.default_rng(0)
    for dtype in DTYPES:
        A = rng.normal(size=(13, 7)).astype(dtype)
        Bm = rng.normal(size=(7, 5)).astype(dtype)
        out = np.empty((13, 5), dtype=dtype)
        _cpu.matmul_rowwise(A, Bm, out)
        rtol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(out, A.astype(np.float64) @ Bm, rtol=rtol, atol=rtol)
        for i in range(13):
            row = np.empty((1, 5), dtype=dtype)
            _cpu.matmul_rowwise(np.ascontiguousarray(A[i : i + 1]), Bm, row)
            np.testing.assert_array_equal(row[0], out[i])


def _compile_with_wide_vectors():
    """A fresh (uncached) ``@njit`` function that calls ``wide_vectors()``; its LLVM IR."""
    import numba

    from skgru.kernels._intrinsics import wide_vectors

    @numba.njit(cache=False)
    def scale(x):
        wide_vectors()
        for i in range(x.shape[0]):
            x[i] *= 2.0

    x = np.ones(37, dtype=np.float32)
    scale(x)
    np.testing.assert_array_equal(x, 2.0)
    return "\n".join(scale.inspect_llvm().values())


def test_wide_vectors_marks_the_function_when_llvm_takes_the_attribute(monkeypatch):
    from skgru.kernels import _intrinsics as _config

    if not _config._string_attributes_work():
        pytest.skip("this llvmlite / LLVM does not take the string attributes")
    assert '"prefer-vector-width"="512"' in _compile_with_wide_vectors()
    # Where the probe fails, nothing is added and the function still compiles.
    monkeypatch.setattr(_config, "_string_attributes_work", lambda: False)
    assert "prefer-vector-width" not in _compile_with_wide_vectors()


def _define_line(dispatcher, name):
    """The LLVM ``define`` line of the compiled function itself (not its wrappers)."""
    ir_text = "\n".join(dispatcher.inspect_llvm().values())
    return next(
        line
        for line in ir_text.splitlines()
        if line.startswith("define") and name in line and "cpython" not in line
    )


def test_noalias_arrays_marks_the_data_pointers_of_array_arguments():
    """The gate loops' functions tell LLVM their arrays do not overlap.

    Without it LLVM checks every pair of row pointers at run time before each
    row's vector loop (benchmarks/NOTES.md, "Gate loops in functions of
    their own, with non-overlapping arrays").
    """
    import re

    import numba

    from skgru.kernels._intrinsics import noalias_arrays

    @numba.njit(cache=False)
    def marked(a, b, n):
        noalias_arrays()
        for i in range(n):
            b[i] = a[i] + 1.0

    @numba.njit(cache=False)
    def plain(a, b, n):
        for i in range(n):
            b[i] = a[i] + 1.0

    a = np.arange(5.0)
    for f in (marked, plain):
        b = np.zeros(5)
        f(a, b, 5)
        np.testing.assert_array_equal(b, a + 1.0)

    def noalias_args(f, name):
        line = _define_line(f, name)
        params = re.findall(r"(ptr|\w+\*)([^,%]*)%\"?(arg\.[\w.]+)", line)
        return {arg for _, attrs, arg in params if "noalias" in attrs}

    # numba passes an array as its fields; the data pointer is field 4.
    assert noalias_args(marked, "marked") == {"arg.a.4", "arg.b.4"}
    assert not noalias_args(plain, "plain") & {"arg.a.4", "arg.b.4"}


def test_borrowed_arrays_and_their_views_carry_no_reference_count():
    """``borrowed(a)`` drops the memory-info pointer, and views of it inherit that.

    A null pointer is what makes numba skip the atomic reference counting of
    every view the kernels make (benchmarks/NOTES.md, "Kernel views without reference counts").
    """
    import numba
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    from skgru.kernels._intrinsics import borrowed

    @intrinsic
    def counted(typingctx, arr):
        def codegen(context, builder, signature, args):
            meminfo = context.make_array(arr)(context, builder, value=args[0]).meminfo
            return builder.not_(cgutils.is_null(builder, meminfo))

        return types.boolean(arr), codegen

    @numba.njit(cache=False)
    def probe(a):
        b = borrowed(a)
        view = b[1:3]
        return counted(a), counted(b), counted(view), view.sum(), b[4]

    a = np.arange(6.0)
    assert probe(a) == (True, False, False, 3.0, 4.0)


_PURE_PYTHON_FIT = """
import json, warnings
import numpy as np
from skgru import ConstrainedGRUClassifier
rng = np.random.default_rng(0)
X = rng.standard_normal((12, 5, 3)); y = np.arange(12) % 3
clf = ConstrainedGRUClassifier(units=4, dtype="float64", max_iter=3, batch_size=6,
                               random_state=0, device="cpu", n_jobs=2)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    clf.fit(X, y)
print(json.dumps(clf.predict_proba(X).tolist()))
"""


def test_kernels_also_run_as_python():
    """With NUMBA_DISABLE_JIT=1 (debuggers, coverage) the kernels run as Python.

    Every helper the kernels call must then work as plain Python (the
    compile-time ``wide_vectors()`` and ``noalias_arrays()`` are no-ops there,
    ``borrowed`` returns its argument); float64 keeps the same libm functions
    on both paths, so the results agree to rounding.
    """
    import json
    import os
    import subprocess
    import sys

    def run(disable_jit):
        env = {**os.environ, "NUMBA_DISABLE_JIT": "1" if disable_jit else "0"}
        proc = subprocess.run(
            [sys.executable, "-c", _PURE_PYTHON_FIT],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        return np.array(json.loads(proc.stdout.strip().splitlines()[-1]))

    np.testing.assert_allclose(run(True), run(False), rtol=1e-9, atol=1e-12)


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    T=st.integers(1, 6),
    B=st.integers(1, 5),
    F=st.integers(1, 4),
    U=st.integers(1, 5),
    cut=st.floats(0, 1),
    reset_after=st.booleans(),
    with_rmask=st.booleans(),
    want_dx=st.booleans(),
)
def test_weight_gradients_of_a_step_block_match_their_formulas(
    seed, T, B, F, U, cut, reset_after, with_rmask, want_dx
):
    # Both implementations of one block's weight gradients (the compiled one
    # of the one-thread backward pass, NumPy's of the CPU kernel set) against
    # the formulas written out here, float64, every gate form and option.
    from skgru.kernels.cpu._kernel_set import _weight_grads

    rng = np.random.default_rng(seed)
    X, H, S = (
        rng.normal(size=(T, B, F)),
        rng.normal(size=(T + 1, B, U)),
        rng.normal(size=(T, B, 4 * U)),
    )
    dA, dM = rng.normal(size=(T, B, 3 * U)), rng.normal(size=(T, B, 3 * U))
    W = rng.normal(size=(F, 3 * U))
    rmask = rng.uniform(0, 2, size=(B, U)) if with_rmask else np.zeros((0, U))
    t0 = int(cut * T)
    # The formulas: sums over the steps t0:T and the batch.
    Hm = H[t0:T] * rmask[None] if with_rmask else H[t0:T]
    want = {
        "dW": np.einsum("tbf,tbg->fg", X[t0:], dA[t0:]),
        "dbias": np.stack([dA[t0:].sum(axis=(0, 1)), dM[t0:].sum(axis=(0, 1))]),
        "dX": np.einsum("tbg,fg->tbf", dA[t0:], W) if want_dx else np.zeros((0, B, F)),
    }
    if reset_after:
        want["dR"] = np.einsum("tbu,tbg->ug", Hm, dM[t0:])
    else:
        # The n columns multiply r * h_prev (stored in S), not h_prev.
        want["dR"] = np.concatenate(
            [
                np.einsum("tbu,tbg->ug", Hm, dM[t0:, :, : 2 * U]),
                np.einsum("tbu,tbg->ug", S[t0:, :, 3 * U :], dM[t0:, :, 2 * U :]),
            ],
            axis=1,
        )
        want["dbias"][1] = 0
    for fn in (_cpu.gru_weight_grads, _weight_grads):
        dW, dR, db = (
            np.full((F, 3 * U), np.nan),
            np.full((U, 3 * U), np.nan),
            np.full((2, 3 * U), np.nan),
        )
        dX = np.full((T, B, F) if want_dx else (0, B, F), np.nan)
        if fn is _weight_grads:
            fn(X, H, S, rmask, reset_after, dA, dM, W, dW, dR, db, dX, t0, T)
        else:
            fn(X, W, H, S, rmask, reset_after, dA, dM, dW, dR, db, dX, t0, T)
        got = {"dW": dW, "dR": dR, "dbias": db, "dX": dX[t0:]}
        for name in want:
            np.testing.assert_allclose(
                got[name], want[name], rtol=1e-12, atol=1e-12, err_msg=f"{fn.__name__} {name}"
            )


@settings(max_examples=60, deadline=None)
@given(
    n_rows=st.integers(1, 300),
    n_ids=st.integers(1, 400),
    seed=st.integers(0, 2**16),
    id_dtype=st.sampled_from([np.int32, np.int64]),
)
def test_unique_rows_is_numpys_unique_with_inverse(n_rows, n_ids, seed, id_dtype):
    ids = np.random.default_rng(seed).integers(0, n_rows, size=n_ids).astype(id_dtype)
    rows = np.empty(min(n_ids, n_rows), dtype=np.int64)
    inverse = np.empty(n_ids, dtype=np.int64)
    k = _cpu.unique_rows(ids, n_rows, rows, inverse)
    want_rows, want_inverse = np.unique(ids, return_inverse=True)
    np.testing.assert_array_equal(rows[:k], want_rows)
    np.testing.assert_array_equal(inverse, want_inverse)


@pytest.mark.parametrize("n_rows", [5, 3000])
def test_lazy_adam_rows_split_over_threads_is_bitwise_one_threads(n_rows):
    from skgru.kernels.cpu._kernel_set import CPUKernelSet

    rng = np.random.default_rng(n_rows)
    tables = [rng.normal(size=(4000, 16)).astype(np.float32) for _ in range(3)]
    tables[2] = np.abs(tables[2])  # v >= 0
    rows = rng.permutation(4000)[:n_rows]
    grad_rows = rng.normal(size=(n_rows, 16)).astype(np.float32)
    out = []
    for n_threads in (1, 2):
        E, m, v = (t.copy() for t in tables)
        CPUKernelSet(np.float32, n_threads).adam_rows(
            E, rows, grad_rows, m, v, 0.9, 0.999, 1e-3, 1e-7, 1e-19, 2e-31
        )
        out.append((E, m, v))
    for a, b, before in zip(out[0], out[1], tables):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a[rows], before[rows])
        untouched = np.setdiff1d(np.arange(4000), rows)
        np.testing.assert_array_equal(a[untouched], before[untouched])


@pytest.mark.parametrize("vocab", [50, 10**6])  # marking, and np.unique's sort
def test_embedding_rows_are_the_distinct_valid_ids_and_their_summed_gradients(vocab):
    from skgru.kernels._interface import Batch
    from skgru.kernels.cpu._kernel_set import CPUKernelSet

    rng = np.random.default_rng(vocab)
    T, B, D = 7, 5, 3
    ids = rng.integers(1, vocab, size=(T, B)).astype(np.int32)
    ids[:, 0] = 4  # a repeated id
    mask = (rng.random((T, B)) < 0.8).astype(np.uint8)
    dX = rng.normal(size=(T, B, D)).astype(np.float32)
    batch = Batch(None, mask, T, B, ids=ids, ids_host=ids, mask_host=mask)
    rows, grad_rows = CPUKernelSet(np.float32).embedding_rows(dX, batch)
    valid = mask.astype(bool)
    want_rows = np.unique(ids[valid])
    np.testing.assert_array_equal(rows, want_rows)
    for r, g in zip(rows, grad_rows):
        np.testing.assert_allclose(g, dX[valid & (ids == r)].sum(axis=0), rtol=1e-6)
