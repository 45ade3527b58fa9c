"""The CUDA kernel set: ``@cuda.jit`` kernels. Importing it needs numba-cuda."""

from ._kernel_set import CUDAKernelSet

__all__ = ["CUDAKernelSet"]
