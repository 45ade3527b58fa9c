"""Numba policy in one place: compile options for every ``@njit`` kernel.

Caching, fastmath and the error model are decided here once; the kernels
take them through :func:`njit` and :func:`scalar`. numba's own thread pool is
not used by skgru (its threads come from :mod:`skgru.kernels._threads`);
:func:`numba_threads` exists so that a caller who does use it changes the
count only inside a block that restores it.
"""

import os
from contextlib import contextmanager

import numba

# ``cache=True`` writes compiled code next to the module (or under
# NUMBA_CACHE_DIR when that is not writable), so a fresh process skips
# compilation. No general fastmath: the kernels must agree with the float64
# oracle to rounding and be bitwise reproducible, and reassociation would
# break both (the gate kernels take FMA contraction alone, GATE_FASTMATH).
NJIT_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}
SCALAR_OPTIONS = {"inline": "always", "cache": True, "error_model": "numpy"}

# The one fast-math flag the gate kernels take: ``contract`` lets LLVM fuse a
# multiply and the add that uses it into one FMA (one rounding instead of
# two). It reorders nothing, so a result still depends only on its own
# inputs (the same for every batch, thread count and run) and moves by about
# one rounding per fused pair. The float32 rational tanh / logistic are
# chains of multiply-adds (Horner's rule), and the gate loop was bound by
# their latency: with FMAs it ran 1.25-1.36x faster (benchmarks/NOTES.md,
# "FMA contraction in the gate kernels"). On the GPU, NVVM fuses them by
# default (its -fma=1).
GATE_FASTMATH = {"contract"}  # a set: numba takes no frozenset

_DISABLE_CACHE = os.environ.get("SKGRU_NO_CACHE", "") not in ("", "0")
if _DISABLE_CACHE:
    NJIT_OPTIONS["cache"] = False
    SCALAR_OPTIONS["cache"] = False


def njit(func=None, **extra):
    """``numba.njit`` with skgru's options (``extra`` overrides them)."""
    options = {**NJIT_OPTIONS, **extra}
    if func is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(func)


def scalar(func):
    """Compile a scalar helper from :mod:`._math` for use inside CPU kernels."""
    return numba.njit(**SCALAR_OPTIONS)(func)


@contextmanager
def numba_threads(n_threads):
    """Set numba's thread count for the block and always restore it.

    ``n_threads=None`` leaves the count alone.
    """
    if n_threads is None:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)
