"""Numba policy in one place: compile options and thread-count control.

Every ``@njit`` in :mod:`skgru._kernels` takes its options from here, so
caching, fastmath and the parallel target are decided once.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor
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
# change 18). On the GPU, NVVM fuses them by default (its -fma=1).
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


_BLAS_LIBS = None


def _blas_libraries():
    global _BLAS_LIBS
    if _BLAS_LIBS is None:
        _BLAS_LIBS = [lib for lib in _controller().lib_controllers if lib.user_api == "blas"]
    return _BLAS_LIBS


@contextmanager
def blas_threads(n_threads=BLAS_THREADS):
    """Limit the BLAS libraries to ``n_threads`` for the block; always restored.

    ``None`` leaves them alone. The libraries are found once per process;
    each entry then costs a few microseconds (a get and, where the count
    differs, a set per library: threadpoolctl's ``limit`` rescans their
    state, about 60 microseconds, a visible part of predicting a small batch).
    """
    if n_threads is None:
        yield
        return
    libs = _blas_libraries()
    n_threads = int(n_threads)
    previous = [lib.get_num_threads() for lib in libs]
    try:
        for lib, old in zip(libs, previous):
            if old != n_threads:
                lib.set_num_threads(n_threads)
        yield
    finally:
        for lib, old in zip(libs, previous):
            if old != n_threads:
                lib.set_num_threads(old)


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


# --------------------------------------------------------------------------- #
# Threads of our own. The kernels are compiled with ``nogil=True``, so plain
# Python threads run them in parallel; the host splits a batch into row ranges
# (the recurrence: rows never interact) or time blocks (the big products) and
# hands the pieces to this pool. No per-step synchronisation: each thread runs
# its rows through all the steps. numba's own ``parallel=True`` is not used:
# its default threading layer aborts when entered from several Python threads
# at once (tests/test_concurrency.py), and the OpenMP layer is not fork-safe.
# --------------------------------------------------------------------------- #

_POOL = None
_POOL_LOCK = threading.Lock()


def _reset_pool_after_fork():
    # A forked child inherits the pool object but not its threads.
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pool_after_fork)


def _pool(n_workers):
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < n_workers:
            old = _POOL
            _POOL = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="skgru")
            if old is not None:
                old.shutdown(wait=False)
        return _POOL


def run_tasks(func, args_list):
    """Call ``func(*args)`` for every ``args`` in ``args_list``; the first in this thread.

    The others go to a shared thread pool; all have finished when this
    returns, and the first exception raised by any of them is re-raised. The
    tasks must write disjoint outputs.
    """
    if len(args_list) == 1:
        func(*args_list[0])
        return
    pool = _pool(len(args_list) - 1)
    futures = [pool.submit(func, *args) for args in args_list[1:]]
    error = None
    try:
        func(*args_list[0])
    except BaseException as exc:  # wait for the others before raising
        error = exc
    for f in futures:
        try:
            f.result()
        except BaseException as exc:
            if error is None:
                error = exc
    if error is not None:
        raise error


def split(n, parts):
    """``parts + 1`` increasing bounds splitting ``range(n)`` into near-equal runs."""
    parts = max(1, min(int(parts), n)) if n > 0 else 1
    return [(n * k) // parts for k in range(parts + 1)]
