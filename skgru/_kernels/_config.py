"""Numba policy in one place: compile options and thread-count control.

Every ``@njit`` in :mod:`skgru._kernels` takes its options from here, so
caching, fastmath and the parallel target are decided once.
"""

import functools
import os
import queue
import re
import threading
from contextlib import contextmanager

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

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


# Vector width of the gate loops. On AVX-512 hosts LLVM vectorizes for 256-bit
# registers unless a function asks for more ("prefer-256-bit" tuning, against
# the clock drop of 512-bit code on older Xeons). The gate loops are long
# chains of multiply-adds and three divisions per unit; with 512-bit vectors
# they ran 1.35-1.5x faster in a flat loop on this Emerald Rapids host, the
# same bits (each lane computes what it did; no reductions). numba sets no
# per-function target options, so ``wide_vectors()``, called at the top of a
# kernel, adds LLVM's string attributes to the function being compiled
# (benchmarks/NOTES.md, "512-bit vectors for the forward gate loop"). llvmlite
# has no API for them either: they go into its attribute set past its check of
# known names, and only after a probe has shown that this llvmlite writes them
# and this LLVM parses the result; otherwise nothing is added. Hosts without
# AVX-512 ignore them.
_WIDE_VECTOR_ATTRIBUTES = ('"prefer-vector-width"="512"', '"min-legal-vector-width"="512"')


@functools.lru_cache(maxsize=1)
def _string_attributes_work():
    """True when llvmlite emits the attributes above and LLVM accepts them (compile time only)."""
    try:
        import llvmlite.binding as llvm

        module = ir.Module(name="skgru_probe")
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), []), name="probe")
        if not isinstance(fn.attributes, set):
            return False
        for attr in _WIDE_VECTOR_ATTRIBUTES:
            set.add(fn.attributes, attr)
        ir.IRBuilder(fn.append_basic_block()).ret_void()
        text = str(module)
        if not all(attr in text for attr in _WIDE_VECTOR_ATTRIBUTES):
            return False
        llvm.parse_assembly(text).verify()
        return True
    except Exception:
        return False


@intrinsic
def _wide_vectors(typingctx):
    def codegen(context, builder, signature, args):
        if _string_attributes_work():
            for attr in _WIDE_VECTOR_ATTRIBUTES:
                set.add(builder.function.attributes, attr)
        return context.get_dummy_value()

    return types.none(), codegen


def _no_op():
    pass


# Ask LLVM for 512-bit vectors in the calling ``@njit`` function; with
# NUMBA_DISABLE_JIT the kernels run as Python, where it does nothing.
wide_vectors = _no_op if numba.config.DISABLE_JIT else _wide_vectors


# Array arguments that do not overlap. LLVM vectorizes a loop over rows of
# several arrays only behind run-time checks that no store overlaps a load;
# when the loop sits in another loop over rows, those checks ran before every
# row, hundreds of instructions each (benchmarks/NOTES.md, "Gate loops in
# functions of their own, with non-overlapping arrays"). ``noalias_arrays()``,
# called in a kernel, marks the data pointers of all its array arguments
# ``noalias``, as C's ``restrict``: the caller promises that no element written
# through one argument is read or written through another. numba passes an
# array as its fields (meminfo, parent, nitems, itemsize, data, shape,
# strides), so a data pointer is the parameter named ``arg.<name>.4``; if none
# is found, nothing is marked.
_ARRAY_DATA_ARG = re.compile(r"^arg\.[^.]+\.4$")


@intrinsic
def _noalias_arrays(typingctx):
    def codegen(context, builder, signature, args):
        for arg in builder.function.args:
            if _ARRAY_DATA_ARG.match(arg.name) and isinstance(arg.type, ir.PointerType):
                arg.add_attribute("noalias")
        return context.get_dummy_value()

    return types.none(), codegen


noalias_arrays = _no_op if numba.config.DISABLE_JIT else _noalias_arrays


# Views without reference counting. Every array view numba makes (``H[t]``,
# a row block handed to BLAS) increments and later decrements its parent's
# reference count: an atomic operation in a function call, on a count that
# both threads of a split batch touch for the same arrays. They were 17 % of
# W1's inference kernel (benchmarks/NOTES.md, "Kernel views without reference counts").
# ``borrowed(a)`` returns ``a`` without its memory-info pointer, so views of
# it count nothing (numba skips a null one). Only for arrays that outlive
# every use of the result: a kernel's arguments, which its caller holds.


@intrinsic
def _borrowed(typingctx, arr):
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):
        out = context.make_array(arr)(context, builder, value=args[0])
        out.meminfo = ir.Constant(out.meminfo.type, None)
        out.parent = ir.Constant(out.parent.type, None)
        return out._getvalue()

    return arr(arr), codegen


def _identity(arr):
    return arr


borrowed = _identity if numba.config.DISABLE_JIT else _borrowed


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
