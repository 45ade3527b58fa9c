"""CPU kernels (``@njit``) for the GRU forward pass and back-propagation through time.

Layout: time-major. ``X`` is ``(T, B, F)``, states ``H`` are ``(T + 1, B, U)``
with ``H[0]`` the initial state and ``H[t + 1]`` the state after step ``t``.
``mask`` is ``(T, B)`` uint8, 1 for a valid step; on a masked step the state is
carried unchanged (Keras semantics), so padding never changes a result.
Weights are Keras-ordered: ``W (F, 3U)``, ``R (U, 3U)`` with column blocks
``[z | r | n]``; ``bias`` is always ``(2, 3U)`` here (row 0 input bias, row 1
recurrent bias; row 1 is ignored when ``reset_after=False``).

Structure (``docs/gru_equations.rst``, "Back-propagation through time"): one
GEMM for the input projection of all timesteps, one GEMM per step for the
recurrent product over the batch, one fused loop for the gate nonlinearities,
and the weight gradients as GEMMs over all stored rows.

Gate values are saved in ``S (T, B, 4U)`` as ``[z | r | n | s]`` where ``s`` is
``m_n`` (the recurrent n-projection with its bias) for ``reset_after=True`` and
``r * h_prev`` for ``reset_after=False``; the backward pass needs them.

Optional inputs are passed as zero-length arrays instead of ``None`` (one
compiled signature, no typing branches): ``rmask`` of shape ``(0, U)`` means no
recurrent dropout, ``S`` of shape ``(0, ...)`` means inference (nothing stored),
``dH_seq`` of shape ``(0, ...)`` means no gradient on intermediate states and
``dX`` of shape ``(0, ...)`` means the input gradient is not wanted.
"""

import math

import numpy as np
from numba import types
from numba.extending import overload

from .. import _math
from .._intrinsics import borrowed, noalias_arrays, wide_vectors
from .._numba import GATE_FASTMATH, njit, scalar

# --------------------------------------------------------------------------- #
# float32 transcendentals that LLVM can vectorize.
#
# libm's tanhf/expf are scalar calls (about 16 ns per tanh, measured on the
# 2-core x86 machine) and the llvmlite wheels have no SVML, so the gate
# loop of the forward pass was bound by them. For float32 we use the rational
# tanh of Eigen / XLA (``generic_fast_tanh_float``: odd degree-13 numerator,
# even degree-6 denominator, input clamped to +-7.905 where it rounds to +-1):
# plain multiply/add/divide/select, vectorized with AVX2/AVX-512 under
# ``error_model="numpy"`` (about 18x faster than libm tanh in a loop, measured
# in benchmarks/NOTES.md, "Vectorizable float32 tanh / sigmoid"). Its error is a
# few float32 ulps (max abs and rel error 3.6e-7 on [-20, 20];
# tests/test_fastmath.py bounds it). The logistic is
# ``0.5 * tanh(0.5 x) + 0.5`` (absolute error < 3e-7). float64 keeps the exact
# libm functions, so the float64 path still matches the oracle to rounding.
# --------------------------------------------------------------------------- #

_TANH_CLAMP = np.float32(7.90531110763549805)
_TANH_TINY = np.float32(0.0004)
_TA13 = np.float32(-2.76076847742355e-16)
_TA11 = np.float32(2.00018790482477e-13)
_TA9 = np.float32(-8.60467152213735e-11)
_TA7 = np.float32(5.12229709037114e-08)
_TA5 = np.float32(1.48572235717979e-05)
_TA3 = np.float32(6.37261928875436e-04)
_TA1 = np.float32(4.89352455891786e-03)
_TB6 = np.float32(1.19825839466702e-06)
_TB4 = np.float32(1.18534705686654e-04)
_TB2 = np.float32(2.26843463243900e-03)
_TB0 = np.float32(4.89352518554385e-03)
_HALF32 = np.float32(0.5)


def _odd_rational(num, den, clamp):
    """A compiled ``x P(x^2) / Q(x^2)`` for ``x`` clamped to ``[-clamp, clamp]``.

    ``num`` holds P's 7 coefficients and ``den`` Q's 4, lowest power first;
    both polynomials are evaluated by Horner's rule in ``x^2``.
    """
    a1, a3, a5, a7, a9, a11, a13 = num
    b0, b2, b4, b6 = den

    @njit(fastmath=GATE_FASTMATH)
    def rational(x):
        xc = min(max(x, -clamp), clamp)
        x2 = xc * xc
        p = a13 * x2 + a11
        p = p * x2 + a9
        p = p * x2 + a7
        p = p * x2 + a5
        p = p * x2 + a3
        p = p * x2 + a1
        q = b6 * x2 + b4
        q = q * x2 + b2
        q = q * x2 + b0
        return (p * xc) / q

    return rational


_TANH_NUM = (_TA1, _TA3, _TA5, _TA7, _TA9, _TA11, _TA13)
_TANH_DEN = (_TB0, _TB2, _TB4, _TB6)
_tanh_rational = _odd_rational(_TANH_NUM, _TANH_DEN, _TANH_CLAMP)

# The logistic as ``0.5 + 0.5 tanh(x / 2)`` with the two scalings folded into
# the rational's coefficients (numerator ``0.25 a_k / 4^k``, denominator
# ``b_k / 4^k``, clamp doubled) and without tanh's switch to ``x`` near 0,
# which only serves tanh's relative error: 16 % cheaper than scaling around
# ``_tanh_f32`` (benchmarks/NOTES.md, "The float32 logistic with its scalings
# folded in"), the same maximum error.
_sigmoid_rational = _odd_rational(
    [np.float32(0.25 * float(a) / 4.0**k) for k, a in enumerate(_TANH_NUM)],
    [np.float32(float(b) / 4.0**k) for k, b in enumerate(_TANH_DEN)],
    np.float32(2.0 * float(_TANH_CLAMP)),
)


@njit(fastmath=GATE_FASTMATH)
def _tanh_f32(x):
    r = _tanh_rational(x)
    # Near 0 the rational's relative error grows; tanh(x) rounds to x there.
    return x if abs(x) < _TANH_TINY else r


@njit(fastmath=GATE_FASTMATH)
def _sigmoid_f32(x):
    return _HALF32 + _sigmoid_rational(x)


_exact = _math.build(scalar)
_exact_sigmoid = _exact.sigmoid


def _tanh(x):
    """tanh: the vectorizable rational for float32, libm otherwise."""
    return math.tanh(x)


def _sigmoid(x, one):
    """Logistic: the tanh-based form for float32, the exact two-branch one otherwise."""
    return _exact_sigmoid(x, one)


@overload(_tanh)
def _tanh_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: _tanh_f32(x)
    return lambda x: math.tanh(x)


@overload(_sigmoid)
def _sigmoid_impl(x, one):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x, one: _sigmoid_f32(x)
    return lambda x, one: _exact_sigmoid(x, one)


@scalar
def _tanh_any(x):
    return _tanh(x)


@scalar
def _sigmoid_any(x, one):
    return _sigmoid(x, one)


_m = _math.build(scalar, tanh=_tanh_any, sigmoid=_sigmoid_any)


def _flush_tiny(x):
    """``x``, or zero where ``|x|`` is so small that products of it go subnormal."""
    return x


@overload(_flush_tiny)
def _flush_tiny_impl(x):
    # BPTT multiplies the state gradient by z < 1 at every step, so over long sequences it decays
    # into subnormal numbers, which x86 handles in microcode at ~100x the cost (no FTZ/DAZ in numba
    # or OpenBLAS): W4 (B64 T200 H64) spent 1.8-3.4 s in one backward pass before this flush
    # (benchmarks/NOTES.md, "Flush tiny state gradients in BPTT"). Flushing |g| below 1e-30
    # (float32; 1e-300 for float64, far below anything the float64 oracle tests resolve) keeps every
    # downstream product normal and changes results by < 1e-30 absolute.
    tiny = np.float32(1e-30) if isinstance(x, types.Float) and x.bitwidth == 32 else 1e-300

    def impl(x):
        return x if abs(x) >= tiny else x * 0

    return impl


@scalar
def _flush(x):
    return _flush_tiny(x)


_gates_reset_after = _m.gates_reset_after
_update_gates = _m.update_gates
_candidate_reset_before = _m.candidate_reset_before
_grad_zn = _m.grad_zn
_grad_r = _m.grad_r


@njit
def _any_valid(mask_t):
    for b in range(mask_t.shape[0]):
        if mask_t[b]:
            return True
    return False


@njit(inline="always")
def _hold_row(h_prev, h_new, s_rows, b, s, store):
    """A masked row of a forward step: the state carries over, the stored gates are zeros."""
    for j in range(h_prev.shape[1]):
        h_new[b, j] = h_prev[b, j]
    if store:
        for j in range(s_rows.shape[1]):
            s_rows[s, j] = 0


@njit(fastmath=GATE_FASTMATH)
def _gate_rows_reset_after(a_src, a_ids, M, b_i, b_h, h_prev, h_new, s_rows, store, m_t, one):
    """The gate loop of one step for ``reset_after=True``: fills ``h_new`` and the gates.

    Row ``b`` reads its input projection from ``a_src[a_ids[b]]`` (a
    projected-embedding table) or ``a_src[b]`` when ``a_ids`` is empty, and
    writes ``[z | r | n | m_n]`` to ``s_rows[b]`` (training, ``store``) or
    to the scratch row ``s_rows[0]``. A masked row keeps its state (and
    stores zeros).

    A function of its own, called once per step, whose arrays are declared not
    to overlap (:func:`~._config.noalias_arrays`): inlined into the time loop,
    LLVM checked every pair of row pointers at run time before each row's
    vector loop, several hundred instructions per row (about half of W1's
    forward kernel; benchmarks/NOTES.md, "Gate loops in functions of their own,
    with non-overlapping arrays"). It indexes the 2-D arrays rather than making
    row views (each view of an argument costs an atomic reference count,
    NOTES.md, "Kernel views without reference counts"), and the unit loop has
    no branch and no conditional store (with those LLVM gave up vectorizing it,
    NOTES.md, "Forward gate loop over 1-D row views, no conditional store").
    """
    noalias_arrays()
    wide_vectors()
    U = h_prev.shape[1]
    use_ids = a_ids.shape[0] > 0
    for b in range(h_prev.shape[0]):
        s = b if store else 0
        if m_t[b]:
            a = a_ids[b] if use_ids else b
            for j in range(U):
                m_n = M[b, 2 * U + j] + b_h[2 * U + j]
                z, r, n, h = _gates_reset_after(
                    a_src[a, j] + b_i[j],
                    a_src[a, U + j] + b_i[U + j],
                    a_src[a, 2 * U + j] + b_i[2 * U + j],
                    M[b, j] + b_h[j],
                    M[b, U + j] + b_h[U + j],
                    m_n,
                    h_prev[b, j],
                    one,
                )
                h_new[b, j] = h
                s_rows[s, j] = z
                s_rows[s, U + j] = r
                s_rows[s, 2 * U + j] = n
                s_rows[s, 3 * U + j] = m_n
        else:
            _hold_row(h_prev, h_new, s_rows, b, s, store)


@njit(fastmath=GATE_FASTMATH)
def _update_rows(a_src, a_ids, M, b_i, HM, m_t, Zt, RH, s_rows, store, one):
    """First gate loop of a step for ``reset_after=False``: ``Zt``, ``RH = r * HM`` and z, r.

    ``M`` holds the recurrent z and r projections; rows and stores as in
    :func:`_gate_rows_reset_after` (a masked row gets ``RH = 0``).
    """
    noalias_arrays()
    wide_vectors()
    U = HM.shape[1]
    use_ids = a_ids.shape[0] > 0
    for b in range(HM.shape[0]):
        s = b if store else 0
        if m_t[b]:
            a = a_ids[b] if use_ids else b
            for j in range(U):
                z, r = _update_gates(
                    a_src[a, j] + b_i[j],
                    a_src[a, U + j] + b_i[U + j],
                    M[b, j],
                    M[b, U + j],
                    one,
                )
                Zt[b, j] = z
                RH[b, j] = r * HM[b, j]
                s_rows[s, j] = z
                s_rows[s, U + j] = r
        else:
            for j in range(U):
                RH[b, j] = 0


@njit(fastmath=GATE_FASTMATH)
def _candidate_rows(a_src, a_ids, b_i, Q, Zt, RH, h_prev, h_new, s_rows, store, m_t, one):
    """Second gate loop for ``reset_after=False``: ``Q = RH @ R_n`` is formed; fills ``h_new``.

    Stores n and ``r * h_prev`` in ``s_rows``; a masked row keeps its state
    (and stores zeros).
    """
    noalias_arrays()
    wide_vectors()
    U = h_prev.shape[1]
    use_ids = a_ids.shape[0] > 0
    for b in range(h_prev.shape[0]):
        s = b if store else 0
        if m_t[b]:
            a = a_ids[b] if use_ids else b
            for j in range(U):
                n, h = _candidate_reset_before(
                    a_src[a, 2 * U + j] + b_i[2 * U + j],
                    Q[b, j],
                    Zt[b, j],
                    h_prev[b, j],
                    one,
                )
                h_new[b, j] = h
                s_rows[s, 2 * U + j] = n
                s_rows[s, 3 * U + j] = RH[b, j]
        else:
            _hold_row(h_prev, h_new, s_rows, b, s, store)


@njit
def _product(A, Bm, out, training):
    """``out = A @ Bm``: :func:`matmul_blocks` while training, :func:`matmul_rowwise` for inference.

    Inference needs each row's result to be independent of the batch (see
    :func:`matmul_rowwise`); training does not, and its last partial block is
    not padded.
    """
    if training:
        matmul_blocks(A, Bm, out)
    else:
        matmul_rowwise(A, Bm, out)


@njit(fastmath=GATE_FASTMATH)
def gru_recurrence(X, W, mask, R, bias, h0, rmask, reset_after, H, S, table, ids, b0, b1):
    """The time loop of the forward pass for the batch rows ``b0:b1``.

    Fills ``H[:, b0:b1]`` and, when training (``S`` not empty), the gates
    ``S[:, b0:b1]``. Each step's input projection is made here, just before
    its gate loop reads it, into a scratch block that stays in cache: a
    separate pass over all steps first wrote a ``(T, B, 3U)`` array that the
    gate loops then read back from memory (9.8 MB on W2, 79 MB on W3), and
    the forward ran 1.1-1.15x faster without it (benchmarks/NOTES.md, "The
    input projection inside the recurrence"). Training's products go in the
    row blocks of :func:`matmul_blocks`; inference's use
    :func:`matmul_rowwise`, so each sequence's result is independent of the
    batch and of the row range it is computed in. Rows never interact, so
    disjoint row ranges can run on separate threads.

    Token input at inference may pass ``table (V, 3U)``, the input
    projections of the whole vocabulary (``E @ W`` row by row, see
    :func:`skgru.kernels.cpu._kernel_set.projected_embedding`), and the time-major token
    ids ``(T, B)``: each step then reads its rows' projections from the
    table instead of multiplying (``X`` is not read; the rows are read in
    place: a copy of them per step cost more than the product it replaced,
    benchmarks/NOTES.md, "Projected-embedding tables for token inference"). Since
    :func:`matmul_rowwise` gives each row the same bits wherever it sits,
    the table's rows are the products this function would make, bitwise.
    Otherwise both are empty.
    """
    wide_vectors()
    # Views of the arguments without reference counts (see borrowed).
    X, mask, H, S = borrowed(X), borrowed(mask), borrowed(H), borrowed(S)
    table, ids, bias, rmask = borrowed(table), borrowed(ids), borrowed(bias), borrowed(rmask)
    T = mask.shape[0]
    U = R.shape[0]
    G = 3 * U
    Bc = b1 - b0
    one = np.ones(1, dtype=H.dtype)[0]
    store = S.shape[0] > 0
    use_rmask = rmask.shape[0] > 0
    use_table = table.shape[0] > 0 and not store
    project_here = not use_table and X.shape[2] > 0
    # Each step's input projections (none when reading a table).
    a_step = np.zeros((0 if use_table else Bc, G), dtype=H.dtype)
    b_i = bias[0]
    b_h = bias[1]
    # The weights on a 64-byte boundary (see aligned_copy).
    Wa = aligned_copy(W[: W.shape[0] if project_here else 0])
    H[0, b0:b1] = h0[b0:b1]
    HM = np.empty((Bc, U), dtype=H.dtype)
    gate_rows = np.empty((1, 4 * U), dtype=H.dtype)
    no_ids = np.zeros(0, dtype=ids.dtype)
    if reset_after:
        Ra = aligned_copy(R)
        M = np.empty((Bc, G), dtype=H.dtype)
    else:
        R_zr = aligned_copy(R[:, : 2 * U])
        R_n = aligned_copy(R[:, 2 * U :])
        M = np.empty((Bc, 2 * U), dtype=H.dtype)
        RH = np.empty((Bc, U), dtype=H.dtype)
        Q = np.empty((Bc, U), dtype=H.dtype)
        Zt = np.empty((Bc, U), dtype=H.dtype)
    for t in range(T):
        h_prev = H[t, b0:b1]
        h_new = H[t + 1, b0:b1]
        m_t = mask[t, b0:b1]
        if not _any_valid(m_t):
            h_new[:] = h_prev
            if store:
                S[t, b0:b1] = 0
            continue
        if project_here:
            _product(X[t, b0:b1], Wa, a_step, store)
        if use_rmask:
            for b in range(Bc):
                for j in range(U):
                    HM[b, j] = h_prev[b, j] * rmask[b0 + b, j]
        else:
            HM[:] = h_prev
        # Each row's input projection: a table row (token ids) or its own.
        a_src = table if use_table else a_step
        a_ids = ids[t, b0:b1] if use_table else no_ids
        # The gates go to S when training, else to a scratch row.
        s_rows = S[t, b0:b1] if store else gate_rows
        if reset_after:
            _product(HM, Ra, M, store)
            _gate_rows_reset_after(
                a_src, a_ids, M, b_i, b_h, h_prev, h_new, s_rows, store, m_t, one
            )
        else:
            _product(HM, R_zr, M, store)
            _update_rows(a_src, a_ids, M, b_i, HM, m_t, Zt, RH, s_rows, store, one)
            _product(RH, R_n, Q, store)
            _candidate_rows(a_src, a_ids, b_i, Q, Zt, RH, h_prev, h_new, s_rows, store, m_t, one)


BPTT = 0  # phase of gru_backward_part: the time loop of the batch rows lo:hi
WEIGHTS = 1  # phase of gru_backward_part: weight gradients from the steps lo:hi


@njit
def gru_forward_part(X, mask, W, R, bias, h0, rmask, reset_after, H, S, table, ids, lo, hi):
    """The forward pass of the batch rows ``lo:hi`` (:func:`gru_recurrence`).

    The host runs disjoint row ranges on several threads if it likes. The
    one compiled entry point of the CPU kernel set's forward: each entry
    point costs a fresh process some 20 ms to load from numba's cache.
    """
    gru_recurrence(X, W, mask, R, bias, h0, rmask, reset_after, H, S, table, ids, lo, hi)


@njit
def gru_forward(X, mask, W, R, bias, h0, rmask, reset_after, H, S):
    """Forward pass over a batch on one thread; fills ``H`` (and ``S`` when it is not empty).

    The CUDA kernel set's ``gru_forward`` takes one argument more, ``A``,
    where it stores the input projections; this one projects each step's
    input inside the recurrence and stores none.
    """
    B = X.shape[1]
    table = np.empty((0, R.shape[1]), dtype=H.dtype)
    ids = np.zeros((0, 0), dtype=np.int32)
    gru_forward_part(X, mask, W, R, bias, h0, rmask, reset_after, H, S, table, ids, 0, B)


@njit
def column_sums(A2, out):
    """``out = A2.sum(axis=0)``, rows added in order (2-3x faster than NumPy's here)."""
    out[:] = 0
    for i in range(A2.shape[0]):
        for j in range(A2.shape[1]):
            out[j] += A2[i, j]


@njit(fastmath=GATE_FASTMATH)
def gru_bptt(mask, R, rmask, reset_after, H, S, dH_seq, dh_last, dh0, dA, dM, b0, b1):
    """The time loop of back-propagation for the batch rows ``b0:b1``.

    Reads the forward's ``H`` and ``S``; ``dH_seq (T, B, U)`` (or empty) is
    the gradient on every state ``H[1:]`` and ``dh_last (B, U)`` the gradient
    on the final state. Writes the gate pre-activation gradients ``dA`` (input
    side) and ``dM`` (recurrent side), both ``(T, B, 3U)``, and ``dh0`` for
    these rows; :func:`gru_weight_grads` turns them into weight gradients.
    Rows never interact, so disjoint row ranges can run on separate threads.
    """
    # Views of the arguments without reference counts (see borrowed).
    mask, rmask, H, S = borrowed(mask), borrowed(rmask), borrowed(H), borrowed(S)
    dH_seq, dA, dM = borrowed(dH_seq), borrowed(dA), borrowed(dM)
    T = mask.shape[0]
    U = R.shape[0]
    Bc = b1 - b0
    one = np.ones(1, dtype=H.dtype)[0]
    use_rmask = rmask.shape[0] > 0
    rmask_rows = rmask[b0:b1] if use_rmask else rmask
    has_seq = dH_seq.shape[0] > 0
    g = dh_last[b0:b1].copy()
    g_next = np.empty((Bc, U), dtype=H.dtype)
    DH = np.empty((Bc, U), dtype=H.dtype)
    RT = aligned_copy(R.T)
    if not reset_after:
        R_zrT = aligned_copy(R[:, : 2 * U].T)
        R_nT = aligned_copy(R[:, 2 * U :].T)
        DN = np.empty((Bc, U), dtype=H.dtype)
        DRH = np.empty((Bc, U), dtype=H.dtype)
        DZR = np.empty((Bc, 2 * U), dtype=H.dtype)
    for t in range(T - 1, -1, -1):
        if has_seq:
            g += dH_seq[t, b0:b1]
        h_prev = H[t, b0:b1]
        m_t = mask[t, b0:b1]
        s_t = S[t, b0:b1]
        da_t = dA[t, b0:b1]
        dm_t = dM[t, b0:b1]
        if not _any_valid(m_t):
            da_t[:] = 0
            dm_t[:] = 0
            continue
        if reset_after:
            _grad_rows_reset_after(g, h_prev, s_t, m_t, da_t, dm_t, g_next, one)
            matmul_blocks(dm_t, RT, DH)
        else:
            _grad_rows_candidate(g, h_prev, s_t, m_t, da_t, DN, g_next, one)
            matmul_blocks(DN, R_nT, DRH)
            _grad_rows_update(h_prev, rmask_rows, s_t, m_t, DRH, da_t, dm_t, DZR, one)
            matmul_blocks(DZR, R_zrT, DH)
            DH += DRH
        if use_rmask:
            DH *= rmask_rows
        _carry_grad(g, g_next, DH)
    dh0[b0:b1] = g


@njit(fastmath=GATE_FASTMATH)
def _grad_rows_reset_after(g, h_prev, s_t, m_t, da_t, dm_t, g_next, one):
    """One step of the BPTT gate loop for ``reset_after=True``.

    From the gradient ``g`` on the new states and the stored gates ``s_t``
    writes the pre-activation gradients ``da_t`` (input side) and ``dm_t``
    (recurrent side) and ``g_next``, the part of the gradient on the
    previous state that bypasses the recurrent product. A masked row passes
    ``g`` through and has zero gradients. Its own function with arrays that
    do not overlap, as :func:`_gate_rows_reset_after`.
    """
    noalias_arrays()
    wide_vectors()
    U = g.shape[1]
    for b in range(g.shape[0]):
        if m_t[b]:
            for j in range(U):
                z = s_t[b, j]
                r = s_t[b, U + j]
                n = s_t[b, 2 * U + j]
                m_n = s_t[b, 3 * U + j]
                dz, dn = _grad_zn(g[b, j], h_prev[b, j], z, n, one)
                dr = _grad_r(dn, m_n, r, one)
                da_t[b, j] = dz
                da_t[b, U + j] = dr
                da_t[b, 2 * U + j] = dn
                dm_t[b, j] = dz
                dm_t[b, U + j] = dr
                dm_t[b, 2 * U + j] = dn * r
                g_next[b, j] = g[b, j] * z
        else:
            for j in range(3 * U):
                da_t[b, j] = 0
                dm_t[b, j] = 0
            for j in range(U):
                g_next[b, j] = g[b, j]


@njit(fastmath=GATE_FASTMATH)
def _grad_rows_candidate(g, h_prev, s_t, m_t, da_t, DN, g_next, one):
    """First BPTT gate loop for ``reset_after=False``: z and n gradients, ``DN`` and ``g_next``.

    A masked row gets ``DN = 0`` and passes ``g`` through (its ``da_t`` is
    zeroed by :func:`_grad_rows_update`).
    """
    noalias_arrays()
    wide_vectors()
    U = g.shape[1]
    for b in range(g.shape[0]):
        if m_t[b]:
            for j in range(U):
                z = s_t[b, j]
                n = s_t[b, 2 * U + j]
                dz, dn = _grad_zn(g[b, j], h_prev[b, j], z, n, one)
                da_t[b, j] = dz
                da_t[b, 2 * U + j] = dn
                DN[b, j] = dn
                g_next[b, j] = g[b, j] * z
        else:
            for j in range(U):
                DN[b, j] = 0
                g_next[b, j] = g[b, j]


@njit(fastmath=GATE_FASTMATH)
def _grad_rows_update(h_prev, rmask_rows, s_t, m_t, DRH, da_t, dm_t, DZR, one):
    """Second BPTT gate loop for ``reset_after=False``; ``DRH = DN @ R_n.T`` is formed.

    Writes the r gradient, ``dm_t`` (the same as ``da_t`` here), ``DZR``
    (the z and r gradients, for the product with ``R_zr.T``) and scales
    ``DRH`` by r in place; ``rmask_rows`` (or empty) is the recurrent
    dropout mask of these rows. A masked row is all zeros.
    """
    noalias_arrays()
    wide_vectors()
    U = h_prev.shape[1]
    use_rmask = rmask_rows.shape[0] > 0
    for b in range(h_prev.shape[0]):
        if m_t[b]:
            for j in range(U):
                r = s_t[b, U + j]
                hm = h_prev[b, j]
                if use_rmask:
                    hm = hm * rmask_rows[b, j]
                dr = _grad_r(DRH[b, j], hm, r, one)
                da_t[b, U + j] = dr
                DZR[b, j] = da_t[b, j]
                DZR[b, U + j] = dr
                DRH[b, j] = DRH[b, j] * r
            for k in range(3 * U):
                dm_t[b, k] = da_t[b, k]
        else:
            for k in range(3 * U):
                da_t[b, k] = 0
                dm_t[b, k] = 0
            for j in range(2 * U):
                DZR[b, j] = 0
            for j in range(U):
                DRH[b, j] = 0


@njit(fastmath=GATE_FASTMATH)
def _carry_grad(g, g_next, DH):
    """``g = g_next + DH`` (tiny values flushed to zero): the gradient on the previous state."""
    noalias_arrays()
    wide_vectors()
    for b in range(g.shape[0]):
        for j in range(g.shape[1]):
            g[b, j] = _flush(g_next[b, j] + DH[b, j])


@njit
def _dot_tn(A2, D2, out):
    """``out = A2.T @ D2`` over the long common dimension (the weight gradients).

    Formed as ``(D2.T @ A2).T``: with the long dimension inner on both sides
    this ran 1.02-1.46x faster than ``A2.T @ D2`` on the W1-W4 shapes (one
    thread, alternating; benchmarks/NOTES.md,
    "Weight gradients as (D.T @ A).T"); ``out`` may be a strided view.
    """
    t = np.empty((D2.shape[1], A2.shape[1]), dtype=out.dtype)
    np.dot(D2.T, A2, t)
    out[:] = t.T


@njit
def gru_weight_grads(X, W, H, S, rmask, reset_after, dA, dM, dW, dR, dbias, dX, t0, t1):
    """Weight gradients from the steps ``t0:t1``: one product each over their rows.

    Writes ``dW, dR, dbias (2, 3U)`` (the contribution of these steps only;
    the host sums the blocks in a fixed order) and ``dX[t0:t1]`` when ``dX``
    is not empty. Steps are contiguous rows of the time-major arrays.
    """
    T, B, F = X.shape
    U = H.shape[2]
    G = 3 * U
    N = (t1 - t0) * B
    want_dx = dX.shape[0] > 0
    if N == 0:
        dW[:] = 0
        dR[:] = 0
        dbias[:] = 0
        return
    dA2 = dA[t0:t1].reshape(N, G)
    dM2 = dM[t0:t1].reshape(N, G)
    _dot_tn(X[t0:t1].reshape(N, F), dA2, dW)
    column_sums(dA2, dbias[0])
    Hp = H[t0:t1].reshape(N, U)
    if rmask.shape[0] > 0:
        Hm = np.empty((N, U), dtype=H.dtype)
        for t in range(t1 - t0):
            for b in range(B):
                for j in range(U):
                    Hm[t * B + b, j] = H[t0 + t, b, j] * rmask[b, j]
        Hp = Hm
    if reset_after:
        _dot_tn(Hp, dM2, dR)
        column_sums(dM2, dbias[1])
    else:
        dbias[1] = 0
        _dot_tn(Hp, np.ascontiguousarray(dM2[:, : 2 * U]), dR[:, : 2 * U])
        RH2 = np.ascontiguousarray(S[t0:t1].reshape(N, 4 * U)[:, 3 * U :])
        _dot_tn(RH2, np.ascontiguousarray(dM2[:, 2 * U :]), dR[:, 2 * U :])
    if want_dx:
        np.dot(dA2, np.ascontiguousarray(W.T), dX[t0:t1].reshape(N, F))


@njit
def gru_backward(
    X, mask, W, R, rmask, reset_after, H, S, dH_seq, dh_last, dW, dR, dbias, dX, dh0, dA, dM
):
    """Back-propagation through time for one batch on one thread.

    :func:`gru_bptt` over all rows, then :func:`gru_weight_grads` over all
    steps. Writes ``dW, dR, dbias (2, 3U), dX (or empty), dh0``. ``dA`` and
    ``dM`` are ``(T, B, 3U)`` workspaces.
    """
    T, B, F = X.shape
    args = (X, mask, W, R, rmask, reset_after, H, S, dH_seq, dh_last, dW, dR, dbias, dX, dh0, dA)
    gru_backward_part(*args, dM, BPTT, 0, B)
    gru_backward_part(*args, dM, WEIGHTS, 0, T)
    if T * B == 0 and dX.shape[0] > 0:
        dX[:] = 0


@njit
def gru_backward_part(
    X, mask, W, R, rmask, reset_after, H, S, dH_seq, dh_last, dW, dR, dbias, dX, dh0, dA, dM,
    phase, lo, hi,
):  # fmt: skip
    """One piece of the backward pass: ``phase`` BPTT (batch rows ``lo:hi``) or WEIGHTS (steps).

    WEIGHTS pieces write the contribution of their steps to ``dW, dR,
    dbias`` (the host sums the pieces in a fixed order) and ``dX[lo:hi]``.
    """
    if phase == BPTT:
        gru_bptt(mask, R, rmask, reset_after, H, S, dH_seq, dh_last, dh0, dA, dM, lo, hi)
    else:
        gru_weight_grads(X, W, H, S, rmask, reset_after, dA, dM, dW, dR, dbias, dX, lo, hi)


# Rows per BLAS call in :func:`matmul_rowwise`. Every call has the exact
# shape :func:`_block_rows` gives for the weight (a full block is passed to
# BLAS where it lies; the last, partial block is zero-padded in a scratch
# buffer), so every row goes through the same BLAS code whatever the batch;
# BLAS packs its operands into its own buffers, so where the rows lie in
# memory does not change the arithmetic (the tests check the bitwise
# invariance). Small products take 16 rows or fewer (the small-matrix kernel,
# below), large ones _ROW_BLOCK_LARGE.
_ROW_BLOCK = 16
# Rows per call of the packed path. Its micro-kernels take a block's rows in
# groups (apparently 6 or 12 at a time on this build: the rows that differed
# were the last 4 of each 64), and the last partial group, met together with a
# partial group of columns, gives other bits: with 64-row blocks a row's
# float64 product changed with its position when 3U was not a multiple of 16
# (e.g. (128, 500): rows 60-63 of each block; with 2 BLAS threads, rows split
# at the thread boundary). 48 is a multiple of 2, 3, 4, 6, 8, 12, 16 and 24,
# and kept the rows bitwise independent of their position in every shape tried,
# on 1-4 BLAS threads (tests/test_fastmath.py; benchmarks/NOTES.md, "Per-step
# products kept in OpenBLAS's small-matrix kernel; 48-row packed blocks").
_ROW_BLOCK_LARGE = 48
# OpenBLAS's small-matrix kernel (its SkylakeX kernels, on AVX-512 machines)
# takes a product only while rows * K * N <= 100**3; one row more and the
# call goes through the packed path, 2-7x slower at these sizes (measured:
# float32 (16, 128, 488) 119 GFLOP/s, (16, 128, 489) 53; (4, 256, 976) 109,
# (4, 256, 977) 16; float64 alike; benchmarks/NOTES.md, "Per-step products kept in OpenBLAS's
# small-matrix kernel; 48-row packed blocks").
_SMALL_MNK = 1_000_000


def _blas_has_small_kernels():
    # OpenBLAS has those small-matrix kernels in its AVX-512 (SkylakeX) code
    # only; elsewhere a call of a few rows goes through the packed path, where
    # 4-row calls would be 2-5x slower than 48-row ones (measured here on
    # shapes just past the cut-off). The host's AVX-512 stands in for that.
    import llvmlite.binding as ll

    return bool(ll.get_host_cpu_features().get("avx512f", False))


# The fewest rows per call for float32 (float64: always _ROW_BLOCK).
_SMALLEST_F32_ROWS = 4 if _blas_has_small_kernels() else _ROW_BLOCK


@njit
def _block_rows(K, N, itemsize):
    """Rows per BLAS call for a product with a ``(K, N)`` right operand.

    The most rows, 16 or fewer, for which each call stays in OpenBLAS's
    small-matrix kernel (which reads the weight unpacked): for the per-step
    shapes it ran 1.2-1.5x faster than the packed path (W2's (32, 128) x
    (128, 384): 90 vs 75 GFLOP/s, its backward product 110 vs 73;
    benchmarks/NOTES.md, "Weights on 64-byte boundaries; training's per-step
    products in 16-row blocks"). float32 goes down to 4 rows where the host
    has AVX-512 (``_SMALLEST_F32_ROWS``; W3's (64, 256) x (256, 768): 4-row
    calls 1.2-1.35x faster than one 64-row call, NOTES.md, "Per-step products
    kept in OpenBLAS's small-matrix kernel; 48-row packed blocks"); float64
    below 16 rows and larger float32 weights go to the packed path in
    ``_ROW_BLOCK_LARGE``-row blocks (float64 W3: 4-row calls 0.7x of 64-row
    ones).
    """
    kn = K * N
    smallest = _SMALLEST_F32_ROWS if itemsize == 4 else _ROW_BLOCK
    rows = _ROW_BLOCK
    while rows >= smallest:
        if rows * kn <= _SMALL_MNK:
            return rows
        rows //= 2
    return _ROW_BLOCK_LARGE


@njit
def aligned_copy(M):
    """A C-contiguous copy of the 2-D ``M`` whose data start on a 64-byte boundary.

    OpenBLAS's small-matrix kernel (the 16-row blocks) reads the right
    operand in place, and it runs 1.1-1.35x faster when that operand is
    64-byte aligned (a cache line, an AVX-512 register); NumPy aligns to 16
    bytes and numba to 32. The kernels copy their weights once per call.
    """
    K, N = M.shape
    n = K * N
    size = M.itemsize
    buf = np.empty(n + 64 // size, dtype=M.dtype)
    off = ((64 - buf.ctypes.data % 64) % 64) // size
    out = buf[off : off + n].reshape(K, N)
    out[:] = M
    return out


@njit
def matmul_blocks(A, Bm, out):
    """``out = A @ Bm`` for training: small weights in row blocks, large ones whole.

    A small right operand goes in the row blocks of :func:`_block_rows`
    (each passed to BLAS where it lies, the last one shorter: training needs
    no batch invariance, so nothing is padded); a large one in one call, as
    BLAS's packed path gains from more rows (W3's (128, 256) x (256, 768):
    129 GFLOP/s whole, 103 in 64-row blocks, measured on one thread). ``A``
    and ``out`` must be C-contiguous.
    """
    A, out = borrowed(A), borrowed(out)  # row blocks without reference counts
    M = A.shape[0]
    P = _block_rows(A.shape[1], Bm.shape[1], A.itemsize)
    if P == _ROW_BLOCK_LARGE:
        P = max(M, 1)
    for i0 in range(0, M, P):
        i1 = min(i0 + P, M)
        np.dot(A[i0:i1], Bm, out[i0:i1])


@njit
def matmul_rowwise(A, Bm, out):
    """``out = A @ Bm`` where each row's result is independent of the other rows.

    BLAS picks different code paths by matrix size (a single row goes through
    GEMV, a big product through packed blocks), so a row's result can change
    in the last bit with the batch it sits in. Inference uses this product so
    that a prediction never depends on batch size or order; training keeps
    plain BLAS. Rows go through BLAS in blocks of a fixed size (see
    :func:`_block_rows`), so each row sees the same call whatever its neighbours
    (tests/test_fastmath.py checks the bitwise invariance); this runs at BLAS
    speed instead of the 3-8x slower scalar loop it replaces. ``A`` and
    ``out`` must be C-contiguous.
    """
    A, out = borrowed(A), borrowed(out)  # row blocks without reference counts
    M, K = A.shape
    N = Bm.shape[1]
    P = _block_rows(K, N, A.itemsize)
    Bc = np.ascontiguousarray(Bm)
    n_full = (M // P) * P
    for i0 in range(0, n_full, P):
        # A full block: BLAS reads and writes it in place (no copies).
        np.dot(A[i0 : i0 + P], Bc, out[i0 : i0 + P])
    n = M - n_full
    if n > 0:
        a = np.zeros((P, K), dtype=A.dtype)
        o = np.empty((P, N), dtype=out.dtype)
        for r in range(n):
            for k in range(K):
                a[r, k] = A[n_full + r, k]
        np.dot(a, Bc, o)
        for r in range(n):
            for j in range(N):
                out[n_full + r, j] = o[r, j]


@njit
def add_rows(out, index, src):
    """``out[index[i]] += src[i]`` for every row ``i`` in order: ``np.add.at``'s sum, bitwise.

    The embedding gradient of a batch (the rows of its unique ids). NumPy's
    ``np.add.at`` took 22 ms for W4's 12,800 rows of 64 (39 % of a training
    step); this loop takes a fraction of a millisecond.
    """
    D = out.shape[1]
    for i in range(index.shape[0]):
        o = out[index[i]]
        s = src[i]
        for d in range(D):
            o[d] += s[d]


@njit
def unique_rows(ids, n_rows, rows, inverse):
    """``np.unique(ids, return_inverse=True)`` for ids in ``[0, n_rows)``, by marking.

    Writes the distinct ids in increasing order to ``rows[:k]`` and the
    position of each id among them to ``inverse``; returns ``k``. Three
    linear passes instead of a sort: W4's 12,800 ids of a 20,000-word
    vocabulary took 0.49 ms through ``np.unique``, 3 % of a training step.
    """
    pos = np.full(n_rows, -1, dtype=np.int64)
    for i in range(ids.shape[0]):
        pos[ids[i]] = 0
    k = 0
    for r in range(n_rows):
        if pos[r] == 0:
            pos[r] = k
            rows[k] = r
            k += 1
    for i in range(ids.shape[0]):
        inverse[i] = pos[ids[i]]
    return k


@njit
def adam_rows(param, m, v, rows, grad_rows, b1, c1, b2, c2, neg_lr, eps, g_min, s_min):
    """Lazy Adam on the rows ``rows`` of a 2-D ``param`` (an embedding), in place.

    The scalars come in the arrays' dtype (``c1 = 1 - beta_1``, ``c2 = 1 -
    beta_2``, ``neg_lr = -lr_t``), and every element takes the operations of
    :func:`skgru.kernels.cpu._updates.adam` in the same order, so the
    result is bitwise the NumPy one, without its gathered copies of the rows
    and temporaries (several arrays of the batch's embedding rows, which set
    the peak memory of a text fit).

    Gradient entries below ``g_min`` count as zero and moments below ``s_min``
    are stored as zero (see ``AdamOptimizer.update_rows``), so no subnormal
    number enters the arithmetic: the gradients of early tokens of long
    sequences decay towards zero, and on x86 every operation on a subnormal
    costs about 100x (W4: this update took 5.5 ms instead of 0.7).
    """
    zero = g_min - g_min
    for k in range(rows.shape[0]):
        r = rows[k]
        p_row = param[r]
        m_row = m[r]
        v_row = v[r]
        g_row = grad_rows[k]
        for j in range(p_row.shape[0]):
            g = g_row[j]
            g = g if abs(g) >= g_min else zero
            mj = m_row[j] * b1 + c1 * g
            vj = v_row[j] * b2 + (g * g) * c2
            mj = mj if abs(mj) >= s_min else zero
            vj = vj if vj >= s_min else zero
            m_row[j] = mj
            v_row[j] = vj
            p_row[j] += (neg_lr * mj) / (math.sqrt(vj) + eps)
