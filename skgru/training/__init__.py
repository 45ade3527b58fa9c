"""What a training step applies after the gradients: optimizers, clipping, constraints."""
