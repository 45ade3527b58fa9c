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


# BLAS threads inside the kernels. The per-step products of a GRU are small
# ((B, U) x (U, 3U)); with 2 OpenBLAS threads on a busy 2-core machine they ran
# 25x slower than with one (a (64,128)x(128,384) product: 33 ms vs 1.1 ms per
# call, benchmarks/NOTES.md), because OpenBLAS's spinning threads fight every
# other process. With one BLAS thread per fit, GridSearchCV(n_jobs=2) also
# cannot oversubscribe (processes x BLAS threads <= cores). SKGRU_BLAS_THREADS
# overrides it (an int; 0 = leave BLAS alone).
BLAS_THREADS = int(os.environ.get("SKGRU_BLAS_THREADS", "1") or 0) or None

_CONTROLLER = None


def _controller():
    global _CONTROLLER
    if _CONTROLLER is None:
        # Load the BLAS that numba's np.dot calls (scipy's) before scanning.
        import scipy.linalg.cython_blas  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


@contextmanager
def blas_threads(n_threads=BLAS_THREADS):
    """Limit the BLAS libraries to ``n_threads`` for the block; always restored.

    ``None`` leaves them alone. Costs about 0.1 ms (the library scan is done
    once per process).
    """
    if n_threads is None:
        yield
        return
    limiter = _controller().limit(limits=int(n_threads), user_api="blas")
    try:
        yield
    finally:
        limiter.restore_original_limits()


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
