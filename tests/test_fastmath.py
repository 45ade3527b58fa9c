"""Error bounds of the CPU kernels' vectorizable float32 tanh / logistic.

The float32 gate math uses a rational tanh (see ``skgru/_kernels/_cpu.py``);
float64 must keep the exact libm functions so the float64 kernels still agree
with the NumPy oracle to rounding.
"""

import numba
import numpy as np
import pytest
from _blas import BLAS_REASON, BLAS_ROWS_BITWISE
from scipy.special import expit

from skgru.kernels.cpu import _gru as _cpu


@numba.njit(error_model="numpy")
def _apply_tanh(x, out):
    for i in range(x.shape[0]):
        out[i] = _cpu._tanh_any(x[i])


@numba.njit(error_model="numpy")
def _apply_sigmoid(x, one, out):
    for i in range(x.shape[0]):
        out[i] = _cpu._sigmoid_any(x[i], one)


def _inputs(dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            np.linspace(-30, 30, 200_001),
            rng.standard_normal(50_000) * 4,
            np.logspace(-12, 1.5, 2_000),
            -np.logspace(-12, 1.5, 2_000),
            [0.0, -0.0, 1e-30, 88.0, -88.0, 1e4, -1e4],
        ]
    )
    return x.astype(dtype)


def test_tanh_float32_error_bound():
    x = _inputs(np.float32)
    out = np.empty_like(x)
    _apply_tanh(x, out)
    ref = np.tanh(x.astype(np.float64))
    err = np.abs(out.astype(np.float64) - ref)
    # A few float32 ulps: measured max 3.6e-7 absolute and relative.
    assert err.max() < 5e-7
    assert (err / np.maximum(np.abs(ref), 1e-30)).max() < 5e-7
    assert np.all(np.abs(out) <= 1)
    # Odd exactly; monotone up to its rounding error (the switch to ``x`` near 0
    # and the polynomial's last ulps can step back by a few ulps).
    neg = np.empty_like(x)
    _apply_tanh(-x, neg)
    np.testing.assert_array_equal(neg, -out)
    xs = np.sort(x)
    ys = np.empty_like(xs)
    _apply_tanh(xs, ys)
    assert np.diff(ys.astype(np.float64)).min() > -5e-7


def test_sigmoid_float32_error_bound():
    x = _inputs(np.float32)
    out = np.empty_like(x)
    _apply_sigmoid(x, np.float32(1), out)
    ref = expit(x.astype(np.float64))
    assert np.abs(out.astype(np.float64) - ref).max() < 3e-7
    assert np.all((out >= 0) & (out <= 1))


@pytest.mark.parametrize("which", ["tanh", "sigmoid"])
def test_float64_is_exact(which):
    x = _inputs(np.float64)
    out = np.empty_like(x)
    if which == "tanh":
        _apply_tanh(x, out)
        ref = np.tanh(x)
    else:
        _apply_sigmoid(x, 1.0, out)
        ref = expit(x)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "K,N",
    [(1, 3), (3, 12), (16, 96), (32, 384), (64, 768), (128, 500), (256, 768), (300, 900)],
)
def test_matmul_rowwise_rows_independent_of_batch(dtype, K, N):
    """Bitwise: a row's product does not depend on its neighbours or position.

    Rows of full blocks go to BLAS in place, rows of the last block through a
    padded copy: both must give the same bits.
    """
    matmul = _cpu.matmul_rowwise
    rng = np.random.default_rng(K * 1000 + N)
    M = 150  # several blocks of 4, 8, 16 and 48 rows, and a partial one
    A = rng.standard_normal((M, K)).astype(dtype)
    Bm = rng.standard_normal((K, N)).astype(dtype)
    full = np.empty((M, N), dtype=dtype)
    matmul(A, Bm, full)
    np.testing.assert_allclose(full, A @ Bm, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-4)
    if dtype == np.float32 and not BLAS_ROWS_BITWISE:
        pytest.xfail(BLAS_REASON)
    perm = rng.permutation(M)
    shuffled = np.empty((M, N), dtype=dtype)
    matmul(np.ascontiguousarray(A[perm]), Bm, shuffled)
    np.testing.assert_array_equal(shuffled, full[perm])
    for i in (0, 5, 15, 16, 63, 64, 149):
        row = np.empty((1, N), dtype=dtype)
        matmul(np.ascontiguousarray(A[i : i + 1]), Bm, row)
        np.testing.assert_array_equal(row[0], full[i])
    for m in (2, 17, 20, 65, 129):
        part = np.empty((m, N), dtype=dtype)
        matmul(np.ascontiguousarray(A[-m:]), Bm, part)
        np.testing.assert_array_equal(part, full[-m:])


@pytest.mark.parametrize(
    "K,N,itemsize,rows,rows_without_small_kernels",
    [
        (32, 96, 4, 16, 16),
        # 16 * 128 * 488 = 999,424: the last size in the small-matrix path
        (128, 488, 4, 16, 16),
        (128, 489, 4, 8, 48),
        (256, 768, 4, 4, 48),  # W3's recurrent product
        (256, 977, 4, 48, 48),  # not even 4 rows fit: the packed path
        (128, 488, 8, 16, 16),
        (128, 489, 8, 48, 48),  # float64 does not go below 16 rows
        (256, 768, 8, 48, 48),
    ],
)
def test_block_rows_keeps_calls_in_the_small_matrix_path(
    K, N, itemsize, rows, rows_without_small_kernels
):
    small = _cpu._SMALLEST_F32_ROWS == 4  # AVX-512 host: OpenBLAS's small kernels
    expected = rows if small else rows_without_small_kernels
    assert _cpu._block_rows(K, N, itemsize) == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_aligned_copy_is_an_aligned_equal_copy(dtype):
    base = np.arange(7 * 13, dtype=dtype).reshape(7, 13)
    for M in (base, base.T, base[:, 3:9], base[::2], base[:0], base[1:2, 5:6]):
        c = _cpu.aligned_copy(M)
        assert c.ctypes.data % 64 == 0
        assert c.flags.c_contiguous and c.dtype == M.dtype and c.shape == M.shape
        np.testing.assert_array_equal(c, M)
        assert not np.shares_memory(c, M)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("K,N", [(3, 12), (128, 384), (256, 768)])
@pytest.mark.parametrize("M", [0, 1, 16, 37, 64, 150])
def test_matmul_blocks_is_the_product(dtype, K, N, M):
    """Training's blocked product (16- or 64-row blocks, short last block) is ``A @ B``."""
    rng = np.random.default_rng(K + N + M)
    A = rng.standard_normal((M, K)).astype(dtype)
    Bm = rng.standard_normal((K, N)).astype(dtype)
    out = np.full((M, N), np.nan, dtype=dtype)
    _cpu.matmul_blocks(A, Bm, out)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, A.astype(np.float64) @ Bm, rtol=tol, atol=tol * np.sqrt(K))
