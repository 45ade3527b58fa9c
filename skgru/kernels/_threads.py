"""Threads for the CPU kernels: a small worker pool and the BLAS thread limit.

The kernels are compiled with ``nogil=True``, so plain Python threads run them
in parallel. The host splits a batch into row ranges (the recurrence: rows
never interact) or step blocks (the big products) and hands the pieces to the
pool of :func:`run_tasks`. Thread counts of the BLAS libraries change only
inside :func:`blas_threads`, which restores them.
"""

import os
import queue
import threading
from contextlib import contextmanager

# BLAS threads inside the kernels. The per-step products of a GRU are small ((B, U) x (U, 3U)); with
# 2 OpenBLAS threads on a busy 2-core machine they ran 25x slower than with one (a
# (64,128)x(128,384) product: 33 ms vs 1.1 ms per call; benchmarks/NOTES.md, "BLAS held to one
# thread inside fit / predict"), because OpenBLAS's spinning threads fight every other process. With
# one BLAS thread per fit, GridSearchCV(n_jobs=2) also cannot oversubscribe (processes x BLAS
# threads <= cores). SKGRU_BLAS_THREADS overrides it (an int; 0 = leave BLAS alone).
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


def _process_wide(lib):
    """True for a BLAS whose thread count is one setting for the whole process.

    That is OpenBLAS on its own pthreads (not on OpenMP, whose limit is per
    thread). threadpoolctl's public ``set_num_threads`` for it obeys only the
    first thread that ever called it and silently does nothing in any other
    (its "controlling thread", so that threads do not fight over the one
    setting): a fit in a second Python thread then ran its products on every
    BLAS thread, W2's training step 1.4-1.75x slower than on the main thread
    (benchmarks/NOTES.md, "The BLAS limit in every Python thread"). Such
    libraries are set through ``_real_set_num_threads`` (the setter behind
    that check) under :func:`blas_threads`' process-wide hold instead.
    """
    return (
        lib.internal_api == "openblas"
        and getattr(lib, "threading_layer", None) != "openmp"
        and hasattr(lib, "_real_set_num_threads")
    )


def _blas_libraries():
    """The BLAS libraries as ``(process_wide, per_thread)`` threadpoolctl controllers."""
    global _BLAS_LIBS
    if _BLAS_LIBS is None:
        libs = [lib for lib in _controller().lib_controllers if lib.user_api == "blas"]
        _BLAS_LIBS = (
            [lib for lib in libs if _process_wide(lib)],
            [lib for lib in libs if not _process_wide(lib)],
        )
    return _BLAS_LIBS


class _BlasHold:
    """The process-wide BLAS thread count, held while any :func:`blas_threads` block runs.

    The first block to enter (in any thread) saves the counts and sets its
    own; later ones only count themselves in; the last to leave restores the
    saved counts. Overlapping blocks in several threads therefore never
    restore a count under another one's feet.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.holders = 0
        self.restore = []  # (library, count) pairs the first holder changed

    def enter(self, libs, n_threads):
        with self.lock:
            if self.holders == 0:
                counts = [lib.get_num_threads() for lib in libs]
                self.restore = [(lib, old) for lib, old in zip(libs, counts) if old != n_threads]
                for lib, _ in self.restore:
                    lib._real_set_num_threads(n_threads)
            self.holders += 1

    def leave(self):
        with self.lock:
            self.holders -= 1
            if self.holders == 0:
                for lib, old in self.restore:
                    lib._real_set_num_threads(old)
                self.restore = []


_BLAS_HOLD = _BlasHold()


@contextmanager
def blas_threads(n_threads=BLAS_THREADS):
    """Limit the BLAS libraries to ``n_threads`` for the block; always restored.

    ``None`` leaves them alone. A library whose count is per thread is set
    and restored in the calling thread. A process-wide one (OpenBLAS on
    pthreads) is held at the count of the first block to enter until the last
    one, in whatever thread, leaves: meanwhile every BLAS call of the process
    runs on that many threads. The libraries are found once per process; an
    entry then costs a few microseconds (threadpoolctl's ``limit`` rescans
    their state, about 60 microseconds, a visible part of predicting a small
    batch).
    """
    if n_threads is None:
        yield
        return
    shared, local = _blas_libraries()
    n_threads = int(n_threads)
    previous = [lib.get_num_threads() for lib in local]
    _BLAS_HOLD.enter(shared, n_threads)
    try:
        for lib, old in zip(local, previous):
            if old != n_threads:
                lib.set_num_threads(n_threads)
        yield
    finally:
        for lib, old in zip(local, previous):
            if old != n_threads:
                lib.set_num_threads(old)
        _BLAS_HOLD.leave()


def default_threads():
    """The thread count of ``n_jobs=None``: the one scikit-learn's OpenMP estimators take.

    That is the physical cores this process may use (cgroup quotas and the
    affinity mask included), lowered by ``OMP_NUM_THREADS``, by threadpoolctl's
    OpenMP limit (``threadpool_limits(1)``) and by joblib's worker processes,
    which set ``OMP_NUM_THREADS`` to ``cores // n_jobs`` so that a
    ``GridSearchCV(n_jobs=k)`` does not oversubscribe. ``HistGradientBoosting``
    reads the same count.
    """
    try:
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
    except ImportError:  # a scikit-learn without the helper: the same rule by hand
        from joblib import cpu_count

        n = cpu_count(only_physical_cores=True)
        env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
        return max(1, int(env)) if env.isdigit() else max(1, n)
    return max(1, int(_openmp_effective_n_threads()))


# --------------------------------------------------------------------------- #
# Threads of our own. The kernels are compiled with ``nogil=True``, so plain
# Python threads run them in parallel; the host splits a batch into row ranges
# (the recurrence: rows never interact) or time blocks (the big products) and
# hands the pieces to this pool. No per-step synchronisation: each thread runs
# its rows through all the steps. numba's own ``parallel=True`` is not used:
# its default threading layer aborts when entered from several Python threads
# at once (tests/test_concurrency.py), and the OpenMP layer is not fork-safe.
# --------------------------------------------------------------------------- #


class _Task:
    """One call handed to a worker; ``done`` is released when it has run."""

    __slots__ = ("func", "args", "error", "done")

    def __init__(self, func, args):
        self.func = func
        self.args = args
        self.error = None
        self.done = threading.Lock()
        self.done.acquire()

    def run(self):
        try:
            self.func(*self.args)
        except BaseException as exc:  # handed to the caller by run_tasks
            self.error = exc
        finally:
            self.done.release()


class _Workers:
    """Daemon threads taking :class:`_Task` items from one shared queue.

    A ``concurrent.futures.ThreadPoolExecutor`` did this before; its futures,
    condition variables and semaphore cost about 35 us per hand-off here, this
    about 15 (a queue put, a lock per task; benchmarks/NOTES.md, "A lighter
    thread hand-off"), and a small prediction makes one hand-off, a training
    step four.
    """

    def __init__(self):
        self._queue = queue.SimpleQueue()
        self._threads = []
        self._lock = threading.Lock()

    def ensure(self, n_workers):
        with self._lock:
            while len(self._threads) < n_workers:
                thread = threading.Thread(
                    target=self._serve, name=f"skgru_{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        return self

    def put(self, task):
        self._queue.put(task)

    def _serve(self):
        get = self._queue.get
        while True:
            get().run()


_WORKERS = None
_WORKERS_LOCK = threading.Lock()


def _reset_workers_after_fork():
    # A forked child inherits the objects but not their threads (nor a lock
    # that one of them held, nor the blocks that held BLAS).
    global _WORKERS, _WORKERS_LOCK, _BLAS_HOLD
    _WORKERS = None
    _WORKERS_LOCK = threading.Lock()
    _BLAS_HOLD = _BlasHold()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_workers_after_fork)


def _workers(n_workers):
    global _WORKERS
    with _WORKERS_LOCK:
        if _WORKERS is None:
            _WORKERS = _Workers()
    return _WORKERS.ensure(n_workers)


def run_tasks(func, args_list):
    """Call ``func(*args)`` for every ``args`` in ``args_list``; the first in this thread.

    The others go to shared worker threads; all have finished when this
    returns, and the first exception raised by any of them (this thread's
    first) is re-raised. The tasks must write disjoint outputs. Several
    threads may call this at once: they share the workers, and each runs its
    own first task, so none waits on a worker that waits on it.
    """
    if len(args_list) == 1:
        func(*args_list[0])
        return
    tasks = [_Task(func, args) for args in args_list[1:]]
    workers = _workers(len(tasks))
    for task in tasks:
        workers.put(task)
    error = None
    try:
        func(*args_list[0])
    except BaseException as exc:  # wait for the others before raising
        error = exc
    for task in tasks:
        task.done.acquire()
        if error is None:
            error = task.error
    if error is not None:
        raise error


def split(n, parts):
    """``parts + 1`` increasing bounds splitting ``range(n)`` into near-equal runs."""
    parts = max(1, min(int(parts), n)) if n > 0 else 1
    return [(n * k) // parts for k in range(parts + 1)]
