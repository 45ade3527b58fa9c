"""The CPU kernels under numba's bounds checking, over hypothesis-drawn shapes.

An indexing bug in an ``@njit`` kernel reads or writes out of bounds silently;
with ``NUMBA_BOUNDSCHECK=1`` it raises IndexError instead. The flag is read
when numba compiles, so the kernels run in a fresh interpreter with it set and
with skgru's on-disk cache off (``SKGRU_NO_CACHE=1``), which would otherwise
hand back code compiled without checks. One subprocess for everything: its
cost is compiling the kernels (~20-40 s).
"""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import warnings

    import numba
    import numpy as np
    from hypothesis import given, settings, strategies as st

    assert numba.config.BOUNDSCHECK, "NUMBA_BOUNDSCHECK is not on"

    @numba.njit
    def _probe(a, i):
        return a[i]

    try:
        _probe(np.zeros(2), 5)
    except IndexError:
        pass
    else:
        raise AssertionError("bounds checking is not active")

    from skgru import ConstrainedGRUClassifier
    from skgru.kernels.cpu import _gru as _cpu

    @settings(max_examples=25, deadline=None, database=None, derandomize=True)
    @given(
        T=st.integers(0, 4),
        B=st.integers(1, 3),
        F=st.integers(1, 3),
        U=st.integers(1, 3),
        reset_after=st.booleans(),
        store=st.booleans(),
        use_rmask=st.booleans(),
        with_seq=st.booleans(),
        with_dx=st.booleans(),
        seed=st.integers(0, 2**16),
    )
    def check_kernels(T, B, F, U, reset_after, store, use_rmask, with_seq, with_dx, seed):
        # float32 only: the kernels are the same code for float64, and each
        # dtype is a separate compilation.
        dtype = np.float32
        rng = np.random.default_rng(seed)
        r = lambda *s: rng.normal(size=s).astype(dtype)
        X, W, R, b2, h0 = r(T, B, F), r(F, 3 * U), r(U, 3 * U), r(2, 3 * U), r(B, U)
        mask = (rng.random((T, B)) < 0.7).astype(np.uint8)
        rmask = r(B, U) if use_rmask else np.zeros((0, U), dtype)
        H = np.empty((T + 1, B, U), dtype)
        S = np.empty((T if store else 0, B, 4 * U), dtype)
        _cpu.gru_forward(X, mask, W, R, b2, h0, rmask, reset_after, H, S)
        assert np.isfinite(H).all()
        if S.shape[0] != T:
            return  # inference only: the backward pass needs the stored gates
        dW, dR, db = np.empty_like(W), np.empty_like(R), np.empty((2, 3 * U), dtype)
        dX = np.empty((T, B, F) if with_dx else (0, B, F), dtype)
        dH_seq = r(T, B, U) if with_seq else np.zeros((0, B, U), dtype)
        dh0 = np.empty((B, U), dtype)
        dA, dM = np.empty((T, B, 3 * U), dtype), np.empty((T, B, 3 * U), dtype)
        _cpu.gru_backward(
            X, mask, W, R, rmask, reset_after, H, S, dH_seq, r(B, U), dW, dR, db, dX, dh0, dA, dM
        )
        for g in (dW, dR, db, dX, dh0):
            assert np.isfinite(g).all()
        a, out = r(T * B + 1, F), np.empty((T * B + 1, 3 * U), dtype)
        _cpu.matmul_rowwise(a, W, out)
        np.testing.assert_allclose(out, a @ W, rtol=1e-4, atol=1e-5)

    check_kernels()

    # The estimator end to end: 3-D, ragged and token input, both gate forms,
    # recurrent dropout, pooling, predicting in several batches.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(9, 4, 2))
    y = np.arange(9) % 3
    ragged = [rng.normal(size=(1 + i % 4, 2)) for i in range(9)]
    ids = rng.integers(0, 6, size=(9, 5))
    ids[:, 0] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = dict(units=3, max_iter=2, random_state=0, device="cpu", batch_size=4)
        est = ConstrainedGRUClassifier(reset_after=False, recurrent_dropout=0.3, **kw)
        est.fit(X, y).predict(X)
        est = ConstrainedGRUClassifier(dropout=0.2, pooling="max", **kw).fit(ragged, y)
        est.predict(ragged)
        est = ConstrainedGRUClassifier(embedding_dim=2, pooling="mean", **kw).fit(ids, y)
        est.predict(ids)
        est.predict(np.repeat(ids, 40, axis=0))  # > 256 rows: several prediction batches
    print("BOUNDSCHECK OK")
    """
)


@pytest.mark.slow
def test_kernels_under_numba_boundscheck():
    pytest.importorskip("hypothesis")
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "SKGRU_NO_CACHE": "1"}
    env.pop("NUMBA_DISABLE_JIT", None)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    assert "BOUNDSCHECK OK" in proc.stdout
