"""Training and prediction, written once; the kernel set chooses where the arithmetic runs."""
