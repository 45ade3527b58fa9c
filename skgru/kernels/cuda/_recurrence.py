"""The recurrence: forward and back-propagation through time, one launch for all steps.

Compile-time constants (the dtype, tile sizes) go into the kernels as closure
variables of :func:`build`; :mod:`._kernels` builds each set once per dtype and
launch configuration and launches it.
"""

import inspect

import numpy as np
from numba import cuda

from .. import _math

__all__ = ["build"]


# Most threads per block of the split-k recurrent kernels. They are compiled
# twice, with launch bounds of 1024 threads (at most 64 registers a thread:
# ptxas spills a few hundred bytes) and of 512 (at most 128: no spills);
# launches of up to 512 threads use the second.
SPLIT_MAX_THREADS = 1024
SPLIT_SMALL_THREADS = 512


def build(dtype):
    """The kernels of this module compiled for ``dtype``, by name."""
    sdt = np.dtype(dtype)
    m = _math.build(cuda.jit(device=True))
    gates_reset_after = m.gates_reset_after
    update_gates = m.update_gates
    candidate_reset_before = m.candidate_reset_before
    grad_zn = m.grad_zn
    grad_r = m.grad_r

    def bounded(fn, threads):
        if "launch_bounds" in inspect.signature(cuda.jit).parameters:
            return cuda.jit(launch_bounds=threads)(fn)
        return cuda.jit(fn)  # the simulator's jit has no launch bounds

    @cuda.jit
    def gru_forward_steps(
        A, mask, R, b_i, b_h, rmask, use_rmask, reset_after, store, zero_h0, H, S, one
    ):
        """All timesteps for this block's rows; ``A`` holds ``X @ W`` (no bias).

        Shared memory (dynamic): ``h`` double buffer ``[2][rows][U]``, then
        ``z [rows][U]`` and ``r * h [rows][U]`` (reset_after=False).
        """
        sh = cuda.shared.array(0, sdt)
        T = A.shape[0]
        B = A.shape[1]
        U = R.shape[0]
        nrow = cuda.blockDim.y
        TX = cuda.blockDim.x
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        b = cuda.blockIdx.x * nrow + ty
        row_ok = b < B
        zero = one - one
        zoff = (2 * nrow + ty) * U
        rhoff = (3 * nrow + ty) * U
        for j in range(tx, U, TX):
            if row_ok:
                if zero_h0:
                    H[0, b, j] = zero
                sh[ty * U + j] = H[0, b, j]
        cuda.syncthreads()
        for t in range(T):
            p = t % 2
            hp = (p * nrow + ty) * U
            hn = ((1 - p) * nrow + ty) * U
            valid = False
            if row_ok:
                valid = mask[t, b] != 0
            if reset_after:
                for j in range(tx, U, TX):
                    if row_ok:
                        h_prev = sh[hp + j]
                        if valid:
                            mz = zero
                            mr = zero
                            mn = zero
                            for k in range(U):
                                hk = sh[hp + k]
                                if use_rmask:
                                    hk = hk * rmask[b, k]
                                mz += hk * R[k, j]
                                mr += hk * R[k, U + j]
                                mn += hk * R[k, 2 * U + j]
                            m_n = mn + b_h[2 * U + j]
                            z, r, n, h = gates_reset_after(
                                A[t, b, j] + b_i[j],
                                A[t, b, U + j] + b_i[U + j],
                                A[t, b, 2 * U + j] + b_i[2 * U + j],
                                mz + b_h[j],
                                mr + b_h[U + j],
                                m_n,
                                h_prev,
                                one,
                            )
                            if store:
                                S[t, b, j] = z
                                S[t, b, U + j] = r
                                S[t, b, 2 * U + j] = n
                                S[t, b, 3 * U + j] = m_n
                        else:
                            h = h_prev
                            if store:
                                S[t, b, j] = zero
                                S[t, b, U + j] = zero
                                S[t, b, 2 * U + j] = zero
                                S[t, b, 3 * U + j] = zero
                        sh[hn + j] = h
                        H[t + 1, b, j] = h
                cuda.syncthreads()
            else:
                for j in range(tx, U, TX):
                    if row_ok:
                        if valid:
                            mz = zero
                            mr = zero
                            for k in range(U):
                                hk = sh[hp + k]
                                if use_rmask:
                                    hk = hk * rmask[b, k]
                                mz += hk * R[k, j]
                                mr += hk * R[k, U + j]
                            z, r = update_gates(
                                A[t, b, j] + b_i[j], A[t, b, U + j] + b_i[U + j], mz, mr, one
                            )
                            hm = sh[hp + j]
                            if use_rmask:
                                hm = hm * rmask[b, j]
                            sh[zoff + j] = z
                            sh[rhoff + j] = r * hm
                            if store:
                                S[t, b, j] = z
                                S[t, b, U + j] = r
                        else:
                            sh[rhoff + j] = zero
                cuda.syncthreads()
                for j in range(tx, U, TX):
                    if row_ok:
                        h_prev = sh[hp + j]
                        if valid:
                            q = zero
                            for k in range(U):
                                q += sh[rhoff + k] * R[k, 2 * U + j]
                            n, h = candidate_reset_before(
                                A[t, b, 2 * U + j] + b_i[2 * U + j], q, sh[zoff + j], h_prev, one
                            )
                            if store:
                                S[t, b, 2 * U + j] = n
                                S[t, b, 3 * U + j] = sh[rhoff + j]
                        else:
                            h = h_prev
                            if store:
                                S[t, b, j] = zero
                                S[t, b, U + j] = zero
                                S[t, b, 2 * U + j] = zero
                                S[t, b, 3 * U + j] = zero
                        sh[hn + j] = h
                        H[t + 1, b, j] = h
                cuda.syncthreads()

    @cuda.jit
    def gru_backward_steps(
        mask, RT, rmask, use_rmask, reset_after, H, S, dH_seq, has_seq, G, dA, dM, dbp, one
    ):
        """Back-propagation through time for this block's rows.

        ``G (B, U)`` holds the gradient on the final state on entry and the
        gradient on ``H[0]`` on exit. ``RT`` is ``R.T`` (3U, U). ``dbp (B,
        6U)`` receives each sequence's sums over time of ``dA`` and ``dM``
        (the bias gradients, before the sum over the batch; zeros for ``dM``
        when reset_after=False). Shared memory:
        ``g [rows][U]`` then ``dM row [rows][3U]`` (reset_after) or ``dn
        [rows][U]``, ``[dz | dr] [rows][2U]``, ``dRH * r [rows][U]``.
        """
        sh = cuda.shared.array(0, sdt)
        T = dA.shape[0]
        B = dA.shape[1]
        U = G.shape[1]
        nrow = cuda.blockDim.y
        TX = cuda.blockDim.x
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        b = cuda.blockIdx.x * nrow + ty
        row_ok = b < B
        zero = one - one
        goff = ty * U
        w1 = nrow * U  # start of the second region
        dmoff = w1 + ty * 3 * U  # reset_after: dM row
        dnoff = w1 + ty * U  # reset_before: dn
        dzroff = 2 * w1 + ty * 2 * U  # reset_before: [dz | dr]
        drhoff = 4 * w1 + ty * U  # reset_before: dRH * r
        for j in range(tx, U, TX):
            if row_ok:
                sh[goff + j] = G[b, j]
                for c in range(6):
                    dbp[b, c * U + j] = zero
        cuda.syncthreads()
        for t in range(T - 1, -1, -1):
            valid = False
            if row_ok:
                valid = mask[t, b] != 0
            if reset_after:
                for j in range(tx, U, TX):
                    if row_ok:
                        gv = sh[goff + j]
                        if has_seq:
                            gv = gv + dH_seq[t, b, j]
                        if valid:
                            z = S[t, b, j]
                            r = S[t, b, U + j]
                            n = S[t, b, 2 * U + j]
                            m_n = S[t, b, 3 * U + j]
                            dz, dn = grad_zn(gv, H[t, b, j], z, n, one)
                            dr = grad_r(dn, m_n, r, one)
                            dnr = dn * r
                            dA[t, b, j] = dz
                            dA[t, b, U + j] = dr
                            dA[t, b, 2 * U + j] = dn
                            dM[t, b, j] = dz
                            dM[t, b, U + j] = dr
                            dM[t, b, 2 * U + j] = dnr
                            sh[dmoff + j] = dz
                            sh[dmoff + U + j] = dr
                            sh[dmoff + 2 * U + j] = dnr
                            sh[goff + j] = gv * z
                            dbp[b, j] += dz
                            dbp[b, U + j] += dr
                            dbp[b, 2 * U + j] += dn
                            dbp[b, 3 * U + j] += dz
                            dbp[b, 4 * U + j] += dr
                            dbp[b, 5 * U + j] += dnr
                        else:
                            for c in range(3):
                                dA[t, b, c * U + j] = zero
                                dM[t, b, c * U + j] = zero
                                sh[dmoff + c * U + j] = zero
                            sh[goff + j] = gv
                cuda.syncthreads()
                for j in range(tx, U, TX):
                    if row_ok:
                        dh = zero
                        for k in range(3 * U):
                            dh += sh[dmoff + k] * RT[k, j]
                        if use_rmask:
                            dh = dh * rmask[b, j]
                        sh[goff + j] = sh[goff + j] + dh
                cuda.syncthreads()
            else:
                for j in range(tx, U, TX):
                    if row_ok:
                        gv = sh[goff + j]
                        if has_seq:
                            gv = gv + dH_seq[t, b, j]
                        if valid:
                            z = S[t, b, j]
                            n = S[t, b, 2 * U + j]
                            dz, dn = grad_zn(gv, H[t, b, j], z, n, one)
                            dA[t, b, j] = dz
                            dA[t, b, 2 * U + j] = dn
                            dM[t, b, j] = dz
                            dM[t, b, 2 * U + j] = dn
                            sh[dnoff + j] = dn
                            sh[dzroff + j] = dz
                            sh[goff + j] = gv * z
                            dbp[b, j] += dz
                            dbp[b, 2 * U + j] += dn
                        else:
                            sh[dnoff + j] = zero
                            sh[goff + j] = gv
                cuda.syncthreads()
                for j in range(tx, U, TX):
                    if row_ok:
                        if valid:
                            drh = zero
                            for k in range(U):
                                drh += sh[dnoff + k] * RT[2 * U + k, j]
                            r = S[t, b, U + j]
                            hm = H[t, b, j]
                            if use_rmask:
                                hm = hm * rmask[b, j]
                            dr = grad_r(drh, hm, r, one)
                            dA[t, b, U + j] = dr
                            dM[t, b, U + j] = dr
                            sh[dzroff + U + j] = dr
                            dbp[b, U + j] += dr
                            sh[drhoff + j] = drh * r
                        else:
                            for c in range(3):
                                dA[t, b, c * U + j] = zero
                                dM[t, b, c * U + j] = zero
                            sh[dzroff + j] = zero
                            sh[dzroff + U + j] = zero
                            sh[drhoff + j] = zero
                cuda.syncthreads()
                for j in range(tx, U, TX):
                    if row_ok:
                        dh = zero
                        for k in range(2 * U):
                            dh += sh[dzroff + k] * RT[k, j]
                        dh = dh + sh[drhoff + j]
                        if use_rmask:
                            dh = dh * rmask[b, j]
                        sh[goff + j] = sh[goff + j] + dh
                cuda.syncthreads()
        for j in range(tx, U, TX):
            if row_ok:
                G[b, j] = sh[goff + j]

    # -- the recurrence, split-k variant -----------------------------------------
    #
    # ``RB`` sequences per block (a compile-time constant), ``blockDim = (TX,
    # KS)``: thread ``(tx, ks)`` sums slice ``ks`` of the reduction axis
    # (``k`` in ``[ks * KC, (ks + 1) * KC)``, ascending) for the columns ``j =
    # tx, tx + TX, ...`` of all ``RB`` rows (each ``R`` element loaded once
    # serves ``RB`` rows, accumulators in registers), and writes its partial
    # sums to shared memory; after a barrier the per-unit work (combining the
    # partials in slice order 0, 1, ..., KS - 1, the gate math, the stores) is
    # spread over all ``TX * KS`` threads. Each thread's serial chain of
    # dependent loads and FMAs is ``KS`` times shorter than in ``gru_*_steps``
    # and the SM has ``KS`` times more warps to hide the latency of reading
    # ``R`` from L2. The summation order per output is fixed (bitwise
    # reproducible run to run); with ``KS = 1`` it is the order of
    # ``gru_*_steps``. Steps where no row of the block is valid skip the
    # products and their barriers.

    def split_kernels(RB):
        RB3 = 3 * RB

        def _gru_forward_split(
            A, mask, R, b_i, b_h, rmask, use_rmask, reset_after, store, zero_h0, H, S, one
        ):
            """As :func:`gru_forward_steps`, ``RB`` sequences per block, split-k.

            Shared memory (dynamic), each ``[RB][U]`` per name: ``h``, ``h *
            rmask``, partial sums ``[KS][3]``, then ``z`` and ``r * h *
            rmask`` (reset_after=False).
            """
            sh = cuda.shared.array(0, sdt)
            acc = cuda.local.array(RB3, sdt)
            T = A.shape[0]
            B = A.shape[1]
            U = R.shape[0]
            TX = cuda.blockDim.x
            KS = cuda.blockDim.y
            tx = cuda.threadIdx.x
            ks = cuda.threadIdx.y
            tid = ks * TX + tx
            NT = TX * KS
            b0 = cuda.blockIdx.x * RB
            zero = one - one
            KC = (U + KS - 1) // KS
            k0 = ks * KC
            k1 = min(U, k0 + KC)
            RU = RB * U
            hoff = 0
            hmoff = RU
            poff = 2 * RU  # partial (s, r, gate g) at poff + ((s * RB + r) * 3 + g) * U
            zoff = (2 + 3 * KS) * RU
            rhoff = zoff + RU
            for i in range(tid, RU, NT):
                r = i // U
                j = i - r * U
                b = b0 + r
                h = zero
                if b < B:
                    if zero_h0:
                        H[0, b, j] = zero
                    h = H[0, b, j]
                sh[hoff + i] = h
                if use_rmask and b < B:
                    h = h * rmask[b, j]
                sh[hmoff + i] = h
                sh[rhoff + i] = zero
            cuda.syncthreads()
            for t in range(T):
                any_valid = False
                for r in range(RB):
                    if b0 + r < B:
                        if mask[t, b0 + r] != 0:
                            any_valid = True
                if any_valid:  # uniform across the block
                    for j in range(tx, U, TX):
                        for i in range(RB3):
                            acc[i] = zero
                        if reset_after:
                            for k in range(k0, k1):
                                w0 = R[k, j]
                                w1 = R[k, U + j]
                                w2 = R[k, 2 * U + j]
                                for r in range(RB):
                                    hk = sh[hmoff + r * U + k]
                                    acc[3 * r] += hk * w0
                                    acc[3 * r + 1] += hk * w1
                                    acc[3 * r + 2] += hk * w2
                        else:
                            for k in range(k0, k1):
                                w0 = R[k, j]
                                w1 = R[k, U + j]
                                for r in range(RB):
                                    hk = sh[hmoff + r * U + k]
                                    acc[3 * r] += hk * w0
                                    acc[3 * r + 1] += hk * w1
                        for i in range(RB3):
                            sh[poff + (ks * RB3 + i) * U + j] = acc[i]
                    cuda.syncthreads()
                for i in range(tid, RU, NT):
                    r = i // U
                    j = i - r * U
                    b = b0 + r
                    if b >= B:
                        continue
                    if mask[t, b] == 0:  # the state stays
                        if reset_after:
                            H[t + 1, b, j] = sh[hoff + i]
                            if store:
                                for c in range(4):
                                    S[t, b, c * U + j] = zero
                        else:
                            sh[rhoff + i] = zero
                        continue
                    q = poff + 3 * r * U + j
                    mz = sh[q]
                    mr = sh[q + U]
                    mn = sh[q + 2 * U]
                    for s in range(1, KS):
                        q = poff + (s * RB3 + 3 * r) * U + j
                        mz += sh[q]
                        mr += sh[q + U]
                        mn += sh[q + 2 * U]
                    if reset_after:
                        m_n = mn + b_h[2 * U + j]
                        z, rg, n, h = gates_reset_after(
                            A[t, b, j] + b_i[j],
                            A[t, b, U + j] + b_i[U + j],
                            A[t, b, 2 * U + j] + b_i[2 * U + j],
                            mz + b_h[j],
                            mr + b_h[U + j],
                            m_n,
                            sh[hoff + i],
                            one,
                        )
                        if store:
                            S[t, b, j] = z
                            S[t, b, U + j] = rg
                            S[t, b, 2 * U + j] = n
                            S[t, b, 3 * U + j] = m_n
                        sh[hoff + i] = h
                        H[t + 1, b, j] = h
                        if use_rmask:
                            h = h * rmask[b, j]
                        sh[hmoff + i] = h
                    else:
                        z, rg = update_gates(
                            A[t, b, j] + b_i[j], A[t, b, U + j] + b_i[U + j], mz, mr, one
                        )
                        sh[zoff + i] = z
                        sh[rhoff + i] = rg * sh[hmoff + i]
                        if store:
                            S[t, b, j] = z
                            S[t, b, U + j] = rg
                cuda.syncthreads()
                if reset_after or not any_valid:
                    if not reset_after:  # no valid row: the states stay
                        for i in range(tid, RU, NT):
                            r = i // U
                            j = i - r * U
                            b = b0 + r
                            if b < B:
                                H[t + 1, b, j] = sh[hoff + i]
                                if store:
                                    for c in range(4):
                                        S[t, b, c * U + j] = zero
                    continue
                for j in range(tx, U, TX):
                    for r in range(RB):
                        acc[r] = zero
                    for k in range(k0, k1):
                        w2 = R[k, 2 * U + j]
                        for r in range(RB):
                            acc[r] += sh[rhoff + r * U + k] * w2
                    for r in range(RB):
                        sh[poff + (ks * RB3 + 3 * r) * U + j] = acc[r]
                cuda.syncthreads()
                for i in range(tid, RU, NT):
                    r = i // U
                    j = i - r * U
                    b = b0 + r
                    if b >= B:
                        continue
                    h_prev = sh[hoff + i]
                    if mask[t, b] == 0:
                        H[t + 1, b, j] = h_prev
                        if store:
                            for c in range(4):
                                S[t, b, c * U + j] = zero
                        continue
                    q = sh[poff + 3 * r * U + j]
                    for s in range(1, KS):
                        q += sh[poff + (s * RB3 + 3 * r) * U + j]
                    n, h = candidate_reset_before(
                        A[t, b, 2 * U + j] + b_i[2 * U + j], q, sh[zoff + i], h_prev, one
                    )
                    if store:
                        S[t, b, 2 * U + j] = n
                        S[t, b, 3 * U + j] = sh[rhoff + i]
                    sh[hoff + i] = h
                    H[t + 1, b, j] = h
                    if use_rmask:
                        h = h * rmask[b, j]
                    sh[hmoff + i] = h
                cuda.syncthreads()

        def _gru_backward_split(
            mask, RT, rmask, use_rmask, reset_after, H, S, dH_seq, has_seq, G, dA, dM, dbp, one
        ):
            """As :func:`gru_backward_steps`, ``RB`` sequences per block, split-k.

            The product ``dh = d @ R.T`` of step ``t`` is added to the state
            gradient at the start of step ``t - 1`` (same arithmetic as adding
            it at the end of step ``t``). Shared memory, each ``[RB][U]`` per
            name: ``g``, partial sums ``[KS]``, then ``dM row [3]``
            (reset_after) or ``dn``, ``[dz | dr] [2]``, ``dRH * r``.
            """
            sh = cuda.shared.array(0, sdt)
            acc = cuda.local.array(RB, sdt)
            T = dA.shape[0]
            B = dA.shape[1]
            U = G.shape[1]
            TX = cuda.blockDim.x
            KS = cuda.blockDim.y
            tx = cuda.threadIdx.x
            ks = cuda.threadIdx.y
            tid = ks * TX + tx
            NT = TX * KS
            b0 = cuda.blockIdx.x * RB
            zero = one - one
            RU = RB * U
            goff = 0
            poff = RU  # partial (s, r) at poff + (s * RB + r) * U
            doff = (1 + KS) * RU  # reset_after: dM row of r at doff + 3 * r * U
            dnoff = doff  # reset_before: dn of r at dnoff + r * U
            dzroff = doff + RU  # reset_before: [dz | dr] of r at dzroff + 2 * r * U
            drhoff = doff + 3 * RU  # reset_before: dRH * r
            # slices of the reduction axis: 3U (reset_after) or U then 2U
            KC3 = (3 * U + KS - 1) // KS
            KC1 = (U + KS - 1) // KS
            KC2 = (2 * U + KS - 1) // KS
            for i in range(tid, RU, NT):
                r = i // U
                j = i - r * U
                b = b0 + r
                if b < B:
                    sh[goff + i] = G[b, j]
                    for c in range(6):
                        dbp[b, c * U + j] = zero
                else:
                    sh[goff + i] = zero
                for c in range(3):
                    sh[doff + 3 * r * U + c * U + j] = zero
                sh[drhoff + i] = zero
            cuda.syncthreads()
            for t in range(T - 1, -1, -1):
                any_valid = False
                for r in range(RB):
                    if b0 + r < B:
                        if mask[t, b0 + r] != 0:
                            any_valid = True
                for i in range(tid, RU, NT):
                    r = i // U
                    j = i - r * U
                    b = b0 + r
                    if b >= B:
                        continue
                    gv = sh[goff + i]
                    if t + 1 < T:
                        if mask[t + 1, b] != 0:  # add the product of step t + 1
                            dh = sh[poff + r * U + j]
                            for s in range(1, KS):
                                dh += sh[poff + (s * RB + r) * U + j]
                            if not reset_after:
                                dh = dh + sh[drhoff + i]
                            if use_rmask:
                                dh = dh * rmask[b, j]
                            gv = gv + dh
                    if has_seq:
                        gv = gv + dH_seq[t, b, j]
                    if mask[t, b] == 0:
                        for c in range(3):
                            dA[t, b, c * U + j] = zero
                            dM[t, b, c * U + j] = zero
                        sh[goff + i] = gv
                    elif reset_after:
                        z = S[t, b, j]
                        rg = S[t, b, U + j]
                        n = S[t, b, 2 * U + j]
                        m_n = S[t, b, 3 * U + j]
                        dz, dn = grad_zn(gv, H[t, b, j], z, n, one)
                        dr = grad_r(dn, m_n, rg, one)
                        dnr = dn * rg
                        dA[t, b, j] = dz
                        dA[t, b, U + j] = dr
                        dA[t, b, 2 * U + j] = dn
                        dM[t, b, j] = dz
                        dM[t, b, U + j] = dr
                        dM[t, b, 2 * U + j] = dnr
                        q = doff + 3 * r * U + j
                        sh[q] = dz
                        sh[q + U] = dr
                        sh[q + 2 * U] = dnr
                        sh[goff + i] = gv * z
                        dbp[b, j] += dz
                        dbp[b, U + j] += dr
                        dbp[b, 2 * U + j] += dn
                        dbp[b, 3 * U + j] += dz
                        dbp[b, 4 * U + j] += dr
                        dbp[b, 5 * U + j] += dnr
                    else:
                        z = S[t, b, j]
                        n = S[t, b, 2 * U + j]
                        dz, dn = grad_zn(gv, H[t, b, j], z, n, one)
                        dA[t, b, j] = dz
                        dA[t, b, 2 * U + j] = dn
                        dM[t, b, j] = dz
                        dM[t, b, 2 * U + j] = dn
                        sh[dnoff + i] = dn
                        sh[dzroff + 2 * r * U + j] = dz
                        sh[goff + i] = gv * z
                        dbp[b, j] += dz
                        dbp[b, 2 * U + j] += dn
                if not any_valid:  # uniform: no products this step
                    continue
                cuda.syncthreads()
                if reset_after:
                    k0 = ks * KC3
                    k1 = min(3 * U, k0 + KC3)
                    for j in range(tx, U, TX):
                        for r in range(RB):
                            acc[r] = zero
                        for k in range(k0, k1):
                            w = RT[k, j]
                            for r in range(RB):
                                acc[r] += sh[doff + 3 * r * U + k] * w
                        for r in range(RB):
                            sh[poff + (ks * RB + r) * U + j] = acc[r]
                    cuda.syncthreads()
                else:
                    k0 = ks * KC1
                    k1 = min(U, k0 + KC1)
                    for j in range(tx, U, TX):
                        for r in range(RB):
                            acc[r] = zero
                        for k in range(k0, k1):
                            w = RT[2 * U + k, j]
                            for r in range(RB):
                                acc[r] += sh[dnoff + r * U + k] * w
                        for r in range(RB):
                            sh[poff + (ks * RB + r) * U + j] = acc[r]
                    cuda.syncthreads()
                    for i in range(tid, RU, NT):
                        r = i // U
                        j = i - r * U
                        b = b0 + r
                        if b >= B:
                            continue
                        if mask[t, b] == 0:
                            continue
                        drh = sh[poff + r * U + j]
                        for s in range(1, KS):
                            drh += sh[poff + (s * RB + r) * U + j]
                        rg = S[t, b, U + j]
                        hm = H[t, b, j]
                        if use_rmask:
                            hm = hm * rmask[b, j]
                        dr = grad_r(drh, hm, rg, one)
                        dA[t, b, U + j] = dr
                        dM[t, b, U + j] = dr
                        sh[dzroff + 2 * r * U + U + j] = dr
                        dbp[b, U + j] += dr
                        sh[drhoff + i] = drh * rg
                    cuda.syncthreads()
                    k0 = ks * KC2
                    k1 = min(2 * U, k0 + KC2)
                    for j in range(tx, U, TX):
                        for r in range(RB):
                            acc[r] = zero
                        for k in range(k0, k1):
                            w = RT[k, j]
                            for r in range(RB):
                                acc[r] += sh[dzroff + 2 * r * U + k] * w
                        for r in range(RB):
                            sh[poff + (ks * RB + r) * U + j] = acc[r]
                    cuda.syncthreads()
            for i in range(tid, RU, NT):
                r = i // U
                j = i - r * U
                b = b0 + r
                if b >= B:
                    continue
                gv = sh[goff + i]
                if T > 0:
                    if mask[0, b] != 0:
                        dh = sh[poff + r * U + j]
                        for s in range(1, KS):
                            dh += sh[poff + (s * RB + r) * U + j]
                        if not reset_after:
                            dh = dh + sh[drhoff + i]
                        if use_rmask:
                            dh = dh * rmask[b, j]
                        gv = gv + dh
                G[b, j] = gv

        return (
            bounded(_gru_forward_split, SPLIT_MAX_THREADS),
            bounded(_gru_forward_split, SPLIT_SMALL_THREADS),
            bounded(_gru_backward_split, SPLIT_MAX_THREADS),
            bounded(_gru_backward_split, SPLIT_SMALL_THREADS),
        )

    gru_forward_split, gru_forward_split_small, gru_backward_split, gru_backward_split_small = (
        split_kernels(1)
    )
    (
        gru_forward_split_r2,
        gru_forward_split_small_r2,
        gru_backward_split_r2,
        gru_backward_split_small_r2,
    ) = split_kernels(2)
    (
        gru_forward_split_r4,
        gru_forward_split_small_r4,
        gru_backward_split_r4,
        gru_backward_split_small_r4,
    ) = split_kernels(4)

    return {
        "gru_forward_steps": gru_forward_steps,
        "gru_backward_steps": gru_backward_steps,
        "gru_forward_split": gru_forward_split,
        "gru_forward_split_small": gru_forward_split_small,
        "gru_backward_split": gru_backward_split,
        "gru_backward_split_small": gru_backward_split_small,
        "gru_forward_split_r2": gru_forward_split_r2,
        "gru_forward_split_small_r2": gru_forward_split_small_r2,
        "gru_backward_split_r2": gru_backward_split_r2,
        "gru_backward_split_small_r2": gru_backward_split_small_r2,
        "gru_forward_split_r4": gru_forward_split_r4,
        "gru_forward_split_small_r4": gru_forward_split_small_r4,
        "gru_backward_split_r4": gru_backward_split_r4,
        "gru_backward_split_small_r4": gru_backward_split_small_r4,
    }
