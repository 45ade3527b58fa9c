"""The CUDA kernel set: ``@cuda.jit`` kernels. Importing it needs numba-cuda."""
