"""Numba policy in one place: compile options and thread-count control.

Every ``@njit`` in :mod:`skgru._kernels` takes its options from here, so
caching, fastmath and the parallel target are decided once.
"""

import os
from contextlib import contextmanager

import numba

# ``cache=True`` writes compiled code next to the module (or under
# NUMBA_CACHE_DIR when that is not writable), so a fresh process skips
# compilation. No fastmath: the kernels must agree with the float64 oracle to
# rounding and be bitwise reproducible, and reassociation would break both.
NJIT_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}
SCALAR_OPTIONS = {"inline": "always", "cache": True, "error_model": "numpy"}

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
