"""The kernel-set interface: what the engine asks of a target (CPU or CUDA).

The trainer and the predictor (:mod:`skgru.engine`) are written once against
this interface; :class:`skgru.kernels.cpu.CPUKernelSet` and
:class:`skgru.kernels.cuda.CUDAKernelSet` implement it with the same
arguments. An *array* below is the kernel set's own array (a NumPy array on
the CPU, a numba device array on CUDA): the engine never reads one directly,
it hands it back to the kernel set or asks for a host copy (:meth:`to_host`).

Layouts are time-major: a layer's input ``X (T, B, F)``, its states ``H (T +
1, B, U)`` with ``H[0]`` the initial state, ``mask (T, B)`` uint8 with 1 on a
valid step. Weights are Keras-ordered (``W (F, 3U)``, ``R (U, 3U)``, the bias
``(2, 3U)`` or ``(3U,)``; ``docs/gru_equations.rst``). Scratch arrays are
named by a ``key``; an array a method returns under a key stays valid until
the next call with the same key, so the engine gives every layer and
direction its own keys.

A kernel set decides nothing about the model: stacking, the order of the
directions, where the dropout masks go, the L2 term, clipping, the order of
a step and the constraints are the engine's.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["KernelSet", "LayerRun", "Batch", "ConstraintPlan"]


@dataclass
class LayerRun:
    """What one layer and direction keeps from its forward pass for the backward pass."""

    X: object  # the input the layer read (masked by dropout, reversed for direction 1)
    mask: object  # (T, B), reversed for direction 1
    H: object  # (T + 1, B, U)
    S: object  # (T, B, 4U) stored gates, or empty at inference
    A: object  # (T, B, 3U) input projections where the kernel set stores them (CUDA), or None
    rmask: object  # (B, U) recurrent dropout mask, or None
    input_mask: object = None  # (B, F) dropout mask the engine applied to the input


@dataclass
class Batch:
    """A batch gathered for the layers.

    ``X (T, B, F)`` is the first layer's input (embedded and noised), ``mask
    (T, B)`` the valid steps; with token input ``ids`` are the batch's ids
    ``(T, B)`` in the kernel set's arrays and ``ids_host``, ``mask_host``
    host copies of the ids and the mask (for the embedding's gradient rows).
    ``idx`` are the batch's sample indices and ``handle`` whatever the kernel
    set made of them (training only).
    """

    X: object
    mask: object
    T: int
    B: int
    ids: object = None
    ids_host: object = None
    mask_host: object = None
    idx: object = None
    handle: object = None


@dataclass
class ConstraintPlan:
    """How to project one weight after an update.

    ``host(w)`` projects a host array in place (the constraint's own NumPy
    formula). ``spec`` describes it for targets that run their own kernels:
    ``("nonneg",)``, ``("norm", kind, lo, hi, rate, axes)`` with ``kind`` 0
    MaxNorm, 1 UnitNorm, 2 MinMaxNorm (Keras's formulas,
    ``docs/user_guide/constraints.rst``) and ``axes`` the reduced axes, or
    ``("elementwise", f)`` for a callable to apply element by element.
    """

    spec: tuple
    host: object


class KernelSet(ABC):
    """Base class of the kernel sets; each method is one primitive of the engine.

    Subclasses implement every method. Attributes: ``name`` (``"cpu"`` or
    ``"cuda"``), ``dtype`` (the weights' NumPy dtype) and
    ``inference_batch_size``.
    """

    name = "abstract"
    inference_batch_size = 256

    # -- scope ---------------------------------------------------------------

    @abstractmethod
    def session(self):
        """A context manager around a stretch of work (thread limits, for one)."""

    @abstractmethod
    def release(self):
        """Drop scratch arrays (before a validation pass, at the end of a fit)."""

    # -- arrays and parameter groups -----------------------------------------------

    @abstractmethod
    def to_host(self, a):
        """A host NumPy copy of ``a`` (or ``a`` itself when it is already one)."""

    @abstractmethod
    def group(self, arrays, copy=True):
        """Parameters (or their gradients, or an optimizer slot) as one group.

        ``arrays`` are host arrays; the group holds the kernel set's arrays
        (copies when ``copy``; on the CPU, ``copy=False`` adopts them). Its
        ``arrays`` attribute lists one array per parameter, in order.
        """

    @abstractmethod
    def zeros_like(self, group):
        """A group of zero arrays shaped like ``group``."""

    @abstractmethod
    def read(self, group, into=None):
        """Host copies of a group's arrays, or written into the host arrays ``into``."""

    @abstractmethod
    def write(self, group, arrays):
        """Overwrite a group's arrays with the host arrays ``arrays``."""

    # -- data -------------------------------------------------------------------

    @abstractmethod
    def dataset(self, seqs, Y, w):
        """The training data (padded sequences, targets, sample weights), kept for a fit."""

    @abstractmethod
    def epoch(self, batches):
        """Per-batch index handles for :meth:`gather` (one upload per epoch on a device)."""

    @abstractmethod
    def gather(self, data, idx, handle, E):
        """The training batch ``idx`` as a :class:`Batch` (steps no row uses are dropped).

        ``E`` is the embedding (token input: ``X`` holds the embedded ids) or None.
        """

    @abstractmethod
    def add_noise(self, X, noise):
        """``X += noise`` for a host array ``noise`` shaped like ``X``."""

    @abstractmethod
    def inference_batch(self, seqs, idx, dense):
        """A :class:`Batch` for prediction (``X`` is None for token input: see :meth:`embed`).

        ``dense`` says every step of every sequence is valid and ``idx`` a slice.
        """

    @abstractmethod
    def embed(self, E, batch):
        """The embedded token ids of a prediction batch, ``(T, B, D)``."""

    # -- one layer and direction ------------------------------------------------------

    @abstractmethod
    def layer_forward(self, X, mask, W, R, bias, rmask, reset_after, training, key, table=None):
        """Run one GRU over ``X``; returns a :class:`LayerRun`.

        ``training`` stores the gates (and, where the kernel set keeps them,
        the input projections) for :meth:`layer_backward`. ``table`` is a
        pair ``(projected table, ids)`` standing in for ``X @ W`` (inference
        with token input; ``X`` is then None) or None.
        """

    @abstractmethod
    def layer_backward(self, run, W, R, bias, reset_after, dH_seq, dh_last, want_dx, key, out):
        """Back-propagation through one GRU.

        ``dH_seq (T, B, U)`` (or None) is the gradient on every state after a
        step, ``dh_last (B, U)`` (or None) on the final state. Writes
        ``(dW, dR, dbias)`` into the arrays ``out``; returns ``dX (T, B, F)``
        when ``want_dx``, else None.
        """

    @abstractmethod
    def input_projection_tables(self, E, Ws, n_tokens, fitted):
        """Per direction, ``E @ W`` for the first layer (token inference), or None."""

    # -- moving sequences between layers and directions --------------------------------

    @abstractmethod
    def scale_rows(self, X, m, key=None):
        """``X * m[None]`` for a ``(B, F)`` mask ``m``; in place when ``key`` is None."""

    @abstractmethod
    def time_reversed(self, X, key):
        """``X[::-1]`` as a contiguous array (the backward direction's view of a batch)."""

    @abstractmethod
    def concat_features(self, parts, reverse, key):
        """Concatenate ``(T, B, C_i)`` (or ``(B, C_i)``) parts along the last axis.

        Part ``i`` is reversed in time first when ``reverse[i]``.
        """

    @abstractmethod
    def feature_slice(self, A, c0, c1, reverse, key):
        """``A[..., c0:c1]`` as a contiguous array, reversed in time when ``reverse``."""

    @abstractmethod
    def add_reversed(self, a, b):
        """``a + b[::-1]`` (the input gradients of the two directions)."""

    # -- pooling and the output layer -------------------------------------------------

    @abstractmethod
    def pool(self, out, final, mask, pooling):
        """``(pooled (B, C), aux)``: ``final`` for ``"last"``, else mean / max of ``out``."""

    @abstractmethod
    def pool_backward(self, d_pooled, mask, pooling, aux, T):
        """``(dOut (T, B, C) or None, d_final (B, C) or None)``."""

    @abstractmethod
    def head_step(self, pooled, Wd, bd, data, batch, w_sum, out_activation,
                  alpha, l2, gWd, gbd, acc):  # fmt: skip
        """Logits, the loss and its gradients for the training :class:`Batch` ``batch``.

        Writes the output layer's gradients into ``gWd``, ``gbd`` and adds the
        batch's weighted loss (``(mean loss + alpha / 2 * sum(l2) / w_sum) *
        w_sum``) to the accumulator ``acc``; returns the gradient on ``pooled``.
        """

    @abstractmethod
    def logits(self, pooled, Wd, bd):
        """``pooled @ Wd + bd`` with each row independent of the others (inference)."""

    @abstractmethod
    def accumulator(self):
        """A zeroed float64 scalar for the epoch's loss; read it with :meth:`to_host`."""

    # -- sums, clipping, L2 ---------------------------------------------------------------

    @abstractmethod
    def l2_terms(self, arrays, out):
        """``out[i] = sum(arrays[i] ** 2)`` for the L2 term (``out`` from :meth:`norms`)."""

    @abstractmethod
    def sumsq(self, groups, out):
        """Float64 squared norms of every array of the groups, in order, into ``out``."""

    @abstractmethod
    def norms(self, n):
        """A float64 vector of ``n`` norms for :meth:`sumsq` and :meth:`l2_terms`."""

    @abstractmethod
    def clip_by_norm(self, groups, norms, c):
        """Each array ``g *= c / max(||g||, c)`` (``norms`` from :meth:`sumsq`)."""

    @abstractmethod
    def clip_global(self, groups, norms, c):
        """Every array ``g *= c * min(1 / G, 1 / c)``, ``G`` the norm of all (NaN if not finite)."""

    @abstractmethod
    def clip_value(self, groups, c):
        """Every element clipped to ``[-c, c]``."""

    @abstractmethod
    def axpy(self, y, x, a):
        """``y += a * x``."""

    # -- optimizer steps (formulas in skgru.training._optimizers' docstrings) ------------

    @abstractmethod
    def adam(self, p, g, m, v, beta_1, beta_2, lr_t, eps):
        """One Adam step on groups ``p`` (gradients ``g``, moments ``m``, ``v``)."""

    @abstractmethod
    def sgd(self, p, g, velocity, momentum, lr, nesterov):
        """One SGD step with momentum on groups."""

    @abstractmethod
    def rmsprop(self, p, g, velocity, momentum_buf, rho, lr, eps, momentum):
        """One RMSprop step on groups; ``momentum_buf`` is None without momentum."""

    @abstractmethod
    def adam_rows(self, E, rows, grad_rows, m, v, beta_1, beta_2, lr_t, eps, g_min, s_min):
        """Lazy Adam on the rows ``rows`` of the 2-D array ``E`` (an embedding)."""

    # -- embeddings and constraints -----------------------------------------------------

    @abstractmethod
    def embedding_rows(self, dX, batch):
        """``(rows, grad_rows)``: the batch's distinct token ids and their gradient rows.

        ``rows`` is a host int array; ``grad_rows (len(rows), D)`` sums the
        rows of ``dX`` of each id over the valid steps, in step order.
        """

    @abstractmethod
    def scatter_rows(self, grad_rows, rows, dense):
        """``dense[:] = 0; dense[rows] = grad_rows``."""

    @abstractmethod
    def constrain(self, plan, w):
        """Project the weight ``w`` in place with a :class:`ConstraintPlan`."""
