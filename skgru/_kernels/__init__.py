"""Compute kernels: scalar gate math (``_math``), CPU (``_cpu``) and CUDA (``_cuda``)."""
