"""Stochastic optimizers: hyper-parameters, the step count, the schedule and the state.

The formulas are scikit-learn's SGD and Adam
(``sklearn/neural_network/_stochastic_optimizers.py``) and Keras 3's RMSprop.
An optimizer is written against the kernel-set interface
(:mod:`skgru.kernels._interface`): :meth:`BaseOptimizer.apply` hands one step
over groups of parameters, gradients and state slots to a kernel set, which
computes it where the parameters live (host NumPy arrays on the CPU, device
arrays on a GPU), in each parameter's own dtype. :meth:`~BaseOptimizer.update_params`
is the same step on host NumPy arrays.

A training step is: gradients, clipping, one optimizer step, then the weight
constraints (Keras's order; ``docs/user_guide/constraints.rst``).
"""

import math
from abc import ABC, abstractmethod

import numpy as np

from ..kernels.cpu._kernel_set import CPUKernelSet

__all__ = ["AdamOptimizer", "BaseOptimizer", "RMSpropOptimizer", "SGDOptimizer", "make_optimizer"]

# Host arrays: the CPU kernel set's optimizer steps, which need no scratch.
_HOST = CPUKernelSet(np.float64)


class BaseOptimizer(ABC):
    """Base class for the stochastic optimizers.

    Parameters
    ----------
    params : list of ndarray
        The parameters to optimise. Optimizer state (moments, velocities) is
        allocated with the same shapes and dtypes.
    learning_rate_init : float, default=0.1
        The initial learning rate.

    Attributes
    ----------
    learning_rate : float
        The current learning rate (Adam: the bias-corrected step size of the
        last step).
    t : int
        Number of steps so far.
    """

    # Names of the per-parameter state lists, saved by ``get_state``.
    _slots: tuple = ()

    def __init__(self, params, learning_rate_init=0.1):
        self.params = list(params)
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.t = 0

    def scale_learning_rate(self, factor):
        """Multiply the step size by ``factor`` from the next step on (a schedule's decay).

        Both rates change: Adam derives its per-step rate from
        ``learning_rate_init``, the other solvers step with ``learning_rate``.
        """
        self.learning_rate_init = float(self.learning_rate_init) * factor
        self.learning_rate = float(self.learning_rate) * factor

    @property
    def slots(self):
        """The names of the state lists of this optimizer (all of them in use)."""
        return tuple(n for n in self._slots if len(getattr(self, n)) == len(self.params))

    # -- stepping ------------------------------------------------------------

    def begin_step(self):
        """Count a step and set this step's learning rate; once per step, before :meth:`apply`."""
        self.t += 1
        self._begin_step()

    def _begin_step(self):  # noqa: B027 - an optional hook, empty by default
        """Per-step bookkeeping, run after ``t`` is incremented."""

    @abstractmethod
    def apply(self, kernels, params, grads, slots):
        """The step on groups of a kernel set (``slots`` maps a slot name to its group)."""

    def update_params(self, params, grads):
        """Apply one optimizer step in place.

        Parameters
        ----------
        params : list of ndarray
            The parameters, in the order given to the constructor; each is
            updated in place (``param += update``).
        grads : list of (ndarray or None)
            Gradients with the shapes of ``params``. ``None`` skips that
            parameter for this step: neither it nor its optimizer state
            changes (use this for a sparse parameter updated with
            :meth:`AdamOptimizer.update_rows`).
        """
        params = list(params)
        if len(params) != len(self.params) or len(grads) != len(params):
            raise ValueError(
                f"Expected {len(self.params)} params and as many grads, got "
                f"{len(params)} params and {len(grads)} grads."
            )
        self.params = params
        self.begin_step()
        live = [i for i, g in enumerate(grads) if g is not None]
        for i in live:
            if np.shape(grads[i]) != params[i].shape:
                raise ValueError(
                    f"grads[{i}] has shape {np.shape(grads[i])}, expected {params[i].shape}."
                )
        self.apply(
            _HOST,
            _HOST.group([params[i] for i in live], copy=False),
            _HOST.group([np.asarray(grads[i], dtype=params[i].dtype) for i in live], copy=False),
            {
                name: _HOST.group([getattr(self, name)[i] for i in live], copy=False)
                for name in self.slots
            },
        )

    # -- checkpointing ---------------------------------------------------------

    def get_state(self, copy=True):
        """Copy of the optimizer state, for checkpoints.

        Parameters
        ----------
        copy : bool, default=True
            False hands over the optimizer's own slot arrays instead of copies
            (for an optimizer that is not stepped again).

        Returns
        -------
        state : dict
            ``"t"`` (int), ``"learning_rate"`` (float) and, for each state
            slot of the optimizer (e.g. ``"ms"`` and ``"vs"`` for Adam), a list
            of array copies. Plain NumPy / Python values, safe to pickle.
        """
        state = {"t": int(self.t), "learning_rate": float(self.learning_rate)}
        for slot in self._slots:
            state[slot] = [a.copy() if copy else a for a in getattr(self, slot)]
        return state

    def set_state(self, state):
        """Restore a state produced by :meth:`get_state`.

        Parameters
        ----------
        state : dict
            Output of :meth:`get_state` of an optimizer of the same class over
            parameters with the same shapes. The arrays are copied.
        """
        missing = {"t", "learning_rate", *self._slots} - set(state)
        if missing:
            raise ValueError(f"Optimizer state is missing keys {sorted(missing)}.")
        new_slots = {}
        for slot in self._slots:
            current = getattr(self, slot)
            given = state[slot]
            if len(given) != len(current):
                raise ValueError(
                    f"state[{slot!r}] has {len(given)} arrays, expected {len(current)}."
                )
            arrays = []
            for j, (old, new) in enumerate(zip(current, given)):
                new = np.asarray(new)
                if new.shape != old.shape:
                    raise ValueError(
                        f"state[{slot!r}][{j}] has shape {new.shape}, expected {old.shape}."
                    )
                arrays.append(new.astype(old.dtype, copy=True))
            new_slots[slot] = arrays
        for slot, arrays in new_slots.items():
            setattr(self, slot, arrays)
        self.t = int(state["t"])
        self.learning_rate = float(state["learning_rate"])


class SGDOptimizer(BaseOptimizer):
    """Stochastic gradient descent with momentum, scikit-learn's formulas.

    ``velocity = momentum * velocity - lr * grad``; the update is
    ``momentum * velocity - lr * grad`` with Nesterov momentum, else
    ``velocity``.

    Parameters
    ----------
    params : list of ndarray
        The parameters to optimise.
    learning_rate_init : float, default=0.1
        The learning rate.
    momentum : float, default=0.9
        Momentum, in ``[0, 1]``.
    nesterov : bool, default=True
        Whether to use Nesterov's momentum.
    """

    _slots = ("velocities",)

    def __init__(self, params, learning_rate_init=0.1, momentum=0.9, nesterov=True):
        super().__init__(params, learning_rate_init)
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocities = [np.zeros_like(p) for p in self.params]

    def apply(self, kernels, params, grads, slots):
        kernels.sgd(
            params, grads, slots["velocities"], self.momentum, self.learning_rate, self.nesterov
        )


class AdamOptimizer(BaseOptimizer):
    """Adam, scikit-learn's formulas, with lazy updates for sparse rows.

    At step ``t`` (``t`` is incremented once per step)::

        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        lr_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        param += -lr_t * m / (sqrt(v) + epsilon)

    Note the defaults are scikit-learn's (``epsilon=1e-8``); Keras' Adam uses
    ``epsilon=1e-7`` with the same form.

    Parameters
    ----------
    params : list of ndarray
        The parameters to optimise.
    learning_rate_init : float, default=0.001
        The step size ``lr``.
    beta_1 : float, default=0.9
        Decay of the first moment, in ``[0, 1)``.
    beta_2 : float, default=0.999
        Decay of the second moment, in ``[0, 1)``.
    epsilon : float, default=1e-8
        Added to ``sqrt(v)`` in the denominator.

    Attributes
    ----------
    ms, vs : list of ndarray
        First and second moments, shaped and typed like ``params``.
    """

    _slots = ("ms", "vs")

    def __init__(self, params, learning_rate_init=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        super().__init__(params, learning_rate_init)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.ms = [np.zeros_like(p) for p in self.params]
        self.vs = [np.zeros_like(p) for p in self.params]

    def _begin_step(self):  # noqa: B027 - an optional hook, empty by default
        # lr_t is a Python float, so float32 arithmetic stays float32.
        self.learning_rate = (
            float(self.learning_rate_init)
            * math.sqrt(1 - self.beta_2**self.t)
            / (1 - self.beta_1**self.t)
        )

    def apply(self, kernels, params, grads, slots):
        kernels.adam(
            params, grads, slots["ms"], slots["vs"], self.beta_1, self.beta_2,
            self.learning_rate, self.epsilon,
        )  # fmt: skip

    def apply_rows(self, kernels, param, rows, grad_rows, m, v):
        """The lazy step on rows ``rows`` of a kernel set's 2-D ``param`` (after :meth:`apply`)."""
        g_min, s_min = self._flush_limits(np.dtype(param.dtype))
        kernels.adam_rows(
            param, rows, grad_rows, m, v, self.beta_1, self.beta_2, self.learning_rate,
            self.epsilon, g_min, s_min,
        )  # fmt: skip

    def update_rows(self, index, rows, grad_rows):
        """Lazy Adam step on some rows of ``params[index]`` (an embedding).

        Only the listed rows move, and only their moments decay; all other
        rows and their ``m``, ``v`` are left exactly as they are (TensorFlow's
        "lazy Adam" for sparse gradients). A listed row gets exactly the
        dense Adam step at the current ``t``, except that values too small
        for the normal floating-point range are flushed to zero (see
        ``_flush_limits``): the gradients of early tokens of long sequences
        decay into that range.

        ``update_rows`` does not advance ``t``: call it in the same step
        *after* ``update_params(params, grads)`` with ``grads[index] = None``,
        which advances ``t`` once for the step and skips the dense update of
        the sparse parameter.

        Parameters
        ----------
        index : int
            Position of the parameter in ``params``.
        rows : array-like of int, shape (n_rows,)
            Unique row indices.
        grad_rows : array-like, shape (n_rows, *params[index].shape[1:])
            Gradient of those rows (accumulate repeated tokens first).
        """
        if self.t < 1:
            raise ValueError(
                "update_rows uses the step count of the current step: call "
                "update_params(params, grads) with grads[index]=None first."
            )
        param = self.params[index]
        rows = np.asarray(rows)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise ValueError(f"rows must be a 1-D array of ints, got {rows!r}.")
        grad_rows = np.asarray(grad_rows, dtype=param.dtype)
        expected = (rows.shape[0],) + param.shape[1:]
        if grad_rows.shape != expected:
            raise ValueError(f"grad_rows has shape {grad_rows.shape}, expected {expected}.")
        if np.unique(rows).shape[0] != rows.shape[0]:
            raise ValueError("rows must be unique; sum the gradients of repeated rows first.")
        self.apply_rows(_HOST, param, rows, grad_rows, self.ms[index], self.vs[index])

    def _flush_limits(self, dtype):
        """``(g_min, s_min)`` of the lazy row update: below them, zero.

        Moments below ``s_min`` (the smallest normal number times 2**24 for
        float32, 2**53 for float64: 2e-31 and 2e-292) are stored as zero, and
        gradient entries so small that ``g**2``, ``(1 - beta_1) g`` or
        ``(1 - beta_2) g**2`` would leave the normal range count as zero. They
        move a weight by less than ``lr * 1e-20`` (float32), and keeping them
        would make every later operation on them a subnormal one, about 100x
        slower on x86 (TensorFlow runs its CPU kernels with subnormals flushed).
        """
        info = np.finfo(dtype)
        tiny = float(info.tiny)
        s_min = tiny * 2.0 ** (info.nmant + 1)
        limits = [math.sqrt(tiny)]
        for c in (1 - self.beta_1, 1 - self.beta_2):
            if c > 0:
                limits += [tiny / c, math.sqrt(tiny / c)]
        return max(limits), s_min


class RMSpropOptimizer(BaseOptimizer):
    """RMSprop, Keras 3 formulas (``keras/src/optimizers/rmsprop.py``).

    Plain (not centered) form, with heavy-ball (not Nesterov) momentum::

        velocity = rho * velocity + (1 - rho) * g**2
        increment = lr * g / sqrt(velocity + epsilon)
        momentum == 0:  param -= increment
        momentum > 0:   mom = momentum * mom + increment;  param -= mom

    Note ``epsilon`` is inside the square root, unlike Adam.

    Parameters
    ----------
    params : list of ndarray
        The parameters to optimise.
    learning_rate_init : float, default=0.001
        The learning rate ``lr``.
    rho : float, default=0.9
        Decay of the moving average of squared gradients.
    momentum : float, default=0.0
        Momentum; 0 disables it (no momentum state is kept).
    epsilon : float, default=1e-7
        Added to ``velocity`` under the square root.

    Attributes
    ----------
    velocities, momentums : list of ndarray
        Moving average of ``g**2`` and momentum buffers (``momentums`` is
        empty when ``momentum == 0``).
    """

    _slots = ("velocities", "momentums")

    def __init__(self, params, learning_rate_init=0.001, rho=0.9, momentum=0.0, epsilon=1e-7):
        super().__init__(params, learning_rate_init)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.velocities = [np.zeros_like(p) for p in self.params]
        self.momentums = [np.zeros_like(p) for p in self.params] if momentum > 0 else []

    def apply(self, kernels, params, grads, slots):
        kernels.rmsprop(
            params, grads, slots["velocities"], slots.get("momentums"), self.rho,
            self.learning_rate, self.epsilon, self.momentum,
        )  # fmt: skip


def make_optimizer(
    solver,
    params,
    *,
    learning_rate_init,
    momentum,
    nesterovs_momentum,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-8,
):
    """Build the optimizer for ``solver`` from the estimators' parameters.

    Parameters
    ----------
    solver : {"adam", "sgd", "rmsprop"}
        Which optimizer.
    params : list of ndarray
        The parameters to optimise.
    learning_rate_init : float
        Learning rate (Adam: step size).
    momentum : float
        SGD momentum (``"sgd"`` only, as in scikit-learn).
    nesterovs_momentum : bool
        SGD Nesterov momentum (``"sgd"`` only).
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam moment decays (``"adam"`` only).
    epsilon : float, default=1e-8
        Adam's and RMSprop's epsilon (scikit-learn's default; Keras uses 1e-7
        for both). RMSprop takes Keras's ``rho=0.9`` and no momentum.

    Returns
    -------
    optimizer : BaseOptimizer
    """
    if solver == "adam":
        return AdamOptimizer(params, learning_rate_init, beta_1, beta_2, epsilon)
    if solver == "sgd":
        return SGDOptimizer(params, learning_rate_init, momentum, nesterovs_momentum)
    if solver == "rmsprop":
        return RMSpropOptimizer(params, learning_rate_init, epsilon=epsilon)
    raise ValueError(f"solver must be 'adam', 'sgd' or 'rmsprop', got {solver!r}.")
