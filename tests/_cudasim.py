"""Launch sizes for the CUDA kernels in Numba's simulator.

The simulator runs every thread of a block as a Python thread, so the
default blocks (hundreds of threads) are slow there; these shrunken sizes
are also what makes tiny inputs span several blocks, tiles and chunks.
"""

import contextlib

SMALL_LAUNCH = {
    "tile": 4,
    "gemm_reg": 2,
    "unit_threads": 4,
    "rows_per_block": 2,
    "threads": 16,
    "max_blocks": 3,
    "reduce_threads": 8,
}


@contextlib.contextmanager
def small_launch():
    """Shrink :data:`skgru.kernels.cuda._kernels.LAUNCH` for the block, then restore it."""
    from skgru.kernels.cuda import _kernels

    saved = dict(_kernels.LAUNCH)
    _kernels.LAUNCH.update(SMALL_LAUNCH)
    _kernels.clear_cache()
    try:
        yield
    finally:
        _kernels.LAUNCH.clear()
        _kernels.LAUNCH.update(saved)
        _kernels.clear_cache()
