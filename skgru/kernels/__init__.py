"""The compute: scalar gate math written once, the CPU kernels and the CUDA kernels."""
