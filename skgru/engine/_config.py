"""What a trainer needs to know about the model and the fit besides the data and weights."""

from dataclasses import dataclass, field

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Everything a trainer needs besides the data, parameters and optimizer."""

    reset_after: bool = True
    out_activation: str = "softmax"
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    input_noise: float = 0.0
    alpha: float = 0.0
    clipnorm: float | None = None
    clipvalue: float | None = None
    global_clipnorm: float | None = None
    # One entry per parameter (None = unconstrained), Keras order.
    constraints: list = field(default_factory=list)
    # Token input: params start with an embedding matrix (vocab_size, D).
    embedding: bool = False
    # Lazy (row-sparse) optimizer steps for the embedding where the solver
    # supports them (Adam); otherwise the embedding takes dense steps.
    sparse_embeddings: bool = True
    # False: the embedding is frozen (no gradient, update, constraint or
    # optimizer state; the optimizer covers the other parameters only).
    embedding_trainable: bool = True
    pooling: str = "last"
    num_layers: int = 1
    bidirectional: bool = False
    # CPU threads for the kernels (batch row ranges / step blocks); the CUDA
    # kernel set ignores it.
    n_threads: int = 1
