"""The tiled matrix product every big product goes through.

Compile-time constants (the dtype, tile sizes) go into the kernels as closure
variables of :func:`build`; :mod:`._kernels` builds each set once per dtype and
launch configuration and launches it.
"""

import numpy as np
from numba import cuda

__all__ = ["build"]


def build(dtype, tile, reg):
    """The kernels of this module compiled for ``dtype``, by name."""
    sdt = np.dtype(dtype)
    cast = np.dtype(dtype).type
    TILE = tile
    REG = reg
    BT = tile * reg

    @cuda.jit
    def gemm(A, B, C, ta, tb):
        """``C = op(A) @ op(B)``; ``op`` transposes when ``ta`` / ``tb``.

        A block of ``TILE x TILE`` threads computes a ``BT x BT`` tile of
        ``C`` (``BT = TILE * REG``), each thread ``REG x REG`` outputs held in
        registers. Chunks of ``TILE`` along ``k`` are staged in shared memory
        as ``sA[k, i]`` and ``sB[k, j]``, loaded along the contiguous axis of
        each operand (coalesced for both orientations). Every output is
        summed by one thread in ascending ``k``: bitwise reproducible.
        """
        sA = cuda.shared.array((TILE, BT), sdt)
        sB = cuda.shared.array((TILE, BT), sdt)
        acc = cuda.local.array((REG, REG), sdt)
        Mr = C.shape[0]
        Nc = C.shape[1]
        K = A.shape[0] if ta else A.shape[1]
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        lid = ty * TILE + tx
        i0 = cuda.blockIdx.y * BT
        j0 = cuda.blockIdx.x * BT
        zero = cast(0)
        for m in range(REG):
            for n in range(REG):
                acc[m, n] = zero
        for k0 in range(0, K, TILE):
            for q in range(REG):
                e = lid + q * (TILE * TILE)
                if ta:
                    c = e // BT
                    r = e - c * BT
                    k = k0 + c
                    i = i0 + r
                    sA[c, r] = A[k, i] if (k < K and i < Mr) else zero
                else:
                    r = e // TILE
                    c = e - r * TILE
                    k = k0 + c
                    i = i0 + r
                    sA[c, r] = A[i, k] if (k < K and i < Mr) else zero
                if tb:
                    r = e // TILE
                    c = e - r * TILE
                    k = k0 + c
                    j = j0 + r
                    sB[c, r] = B[j, k] if (k < K and j < Nc) else zero
                else:
                    c = e // BT
                    r = e - c * BT
                    k = k0 + c
                    j = j0 + r
                    sB[c, r] = B[k, j] if (k < K and j < Nc) else zero
            cuda.syncthreads()
            kmax = min(TILE, K - k0)
            for kk in range(kmax):
                for m in range(REG):
                    a = sA[kk, ty + m * TILE]
                    for n in range(REG):
                        acc[m, n] += a * sB[kk, tx + n * TILE]
            cuda.syncthreads()
        for m in range(REG):
            i = i0 + ty + m * TILE
            if i < Mr:
                for n in range(REG):
                    j = j0 + tx + n * TILE
                    if j < Nc:
                        C[i, j] = acc[m, n]

    return {
        "gemm": gemm,
    }
