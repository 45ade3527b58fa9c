"""The one place that chooses where the arithmetic runs.

:func:`kernel_set` turns an estimator's ``device`` into a kernel set and
decides what happens when the GPU cannot be used or lacks what the model
needs: ``device="cuda"`` raises (training) or warns and predicts on the CPU
(a model fitted on a GPU, predicting where there is none); ``device="auto"``
uses the GPU when there is one that has everything, and the CPU otherwise,
with a warning when a GPU was there but could not take the model. Nothing
else in skgru picks a target or falls back.
"""

import functools
import os
import sys
import warnings

import numpy as np

from ..kernels._threads import blas_threads, default_threads
from ..kernels.cpu._kernel_set import CPUKernelSet
from ..training._constraints import plan
from ._predictor import predict_logits as _predict_logits
from ._trainer import Trainer

__all__ = [
    "cpu_threads",
    "cuda_available",
    "host_blas_limit",
    "kernel_set",
    "make_trainer",
    "predict_logits",
]


@functools.lru_cache(maxsize=1)
def _cuda_problem():
    """None when a GPU can be used, else why not (a short sentence).

    Importing the CUDA kernel set is part of the check: a numba-cuda that sees
    a GPU but fails to import (a version clash with NumPy, say) must send
    ``device="auto"`` to the CPU instead of failing inside ``fit``. On Linux
    without the NVIDIA driver (no ``/proc/driver/nvidia``) and outside the
    simulator, numba's CUDA target is not imported at all: that import costs
    about 0.3 s, a large part of a small first fit. The answer is cached for
    the process.
    """
    simulator = os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0")
    if sys.platform.startswith("linux") and not simulator:
        if not os.path.exists("/proc/driver/nvidia"):
            return "no NVIDIA driver is loaded"
    try:
        from numba import cuda

        if not cuda.is_available():
            return "no CUDA GPU is available to numba"
        from ..kernels import cuda as _cuda_kernels  # noqa: F401
    except Exception as exc:  # driver or import errors mean "no usable GPU"
        return f"numba's CUDA target could not be used ({type(exc).__name__}: {exc})"
    return None


def cuda_available():
    """True when numba's CUDA target imports, sees a GPU, and skgru's CUDA kernels load."""
    return _cuda_problem() is None


def cpu_threads(n_jobs):
    """The CPU kernels' thread count for an estimator's ``n_jobs``.

    ``None``: :func:`~skgru.kernels._threads.default_threads`, the cores
    scikit-learn's OpenMP estimators use, within ``OMP_NUM_THREADS``,
    threadpoolctl's limits and joblib's worker limits; resolved at every fit
    and prediction, so the same model uses one thread inside a joblib worker
    and all cores outside. A positive int: that many. Negative: all
    processors plus one plus ``n_jobs`` (joblib's meaning; ``-1`` all of them).
    """
    if n_jobs is None:
        return default_threads()
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, a positive int or -1.")
    if n_jobs < 0:
        from joblib import cpu_count

        return max(1, cpu_count() + 1 + n_jobs)
    return int(n_jobs)


def host_blas_limit():
    """The BLAS thread limit of the CPU kernels, for host arithmetic just before them.

    A fit's weight initialisation (a QR) on all of OpenBLAS's threads leaves
    them spinning for about 0.1 s after it returns, and on a machine with as
    many cores as the kernels' threads that halved the speed of the first
    training steps (benchmarks/NOTES.md, "Spinning BLAS threads at the start
    of a fit").
    """
    return blas_threads()


def kernel_set(device, config, params, *, training):
    """The kernel set for ``device`` in ``{"auto", "cpu", "cuda"}`` and a model's weights.

    ``training`` says whether it is for a fit (``device="cuda"`` without a
    usable GPU is then an error) or for a prediction (a warning, and the CPU).
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}.")
    dtype = params[-1].dtype
    if device == "cpu":
        return CPUKernelSet(dtype, config.n_threads)
    problem = _cuda_problem()
    if problem is None:
        from ..kernels.cuda import CUDAKernelSet

        k = 1 if config.embedding else 0
        units = params[k + 1].shape[0]
        checks = []
        if training:
            constraints = list(config.constraints) + [None] * len(params)
            checks = [(plan(c, np.ndim(p)), p) for c, p in zip(constraints, params)]
        missing = CUDAKernelSet.missing(dtype, units, checks)
        if not missing:
            return CUDAKernelSet(dtype)
        problem = f"the CUDA kernels lack {missing}"
        if device == "auto":
            warnings.warn(
                f"device='auto' found a GPU, but {problem}; running on the CPU.",
                UserWarning,
                stacklevel=3,
            )
            return CPUKernelSet(dtype, config.n_threads)
    if device == "auto":
        return CPUKernelSet(dtype, config.n_threads)
    if training:
        raise ValueError(
            f"device='cuda' was requested but {problem} (install the extra with "
            "`pip install skgru[cuda]` and check the driver)."
        )
    warnings.warn(
        f"device='cuda' but {problem}: predicting on the CPU (set device='cpu' to say so).",
        UserWarning,
        stacklevel=3,
    )
    return CPUKernelSet(dtype, config.n_threads)


def make_trainer(device, params, optimizer, config, seqs, Y, w, copy=True):
    """A trainer for one fit on the kernel set :func:`kernel_set` chooses.

    ``copy=False`` hands the trainer ``params`` to train in place where the
    kernel set keeps host arrays (see :class:`~skgru.engine._trainer.Trainer`).
    """
    ks = kernel_set(device, config, params, training=True)
    return Trainer(ks, params, optimizer, config, seqs, Y, w, copy=copy)


def predict_logits(device, params, seqs, config, fitted=False):
    """The output layer's values for ``seqs`` on the kernel set :func:`kernel_set` chooses."""
    ks = kernel_set(device, config, params, training=False)
    return _predict_logits(ks, params, seqs, config, fitted=fitted)
