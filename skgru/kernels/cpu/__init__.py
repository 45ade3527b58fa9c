"""The CPU kernel set: ``@njit`` GRU kernels and the host code that runs them."""

from ._kernel_set import CPUKernelSet

__all__ = ["CPUKernelSet"]
