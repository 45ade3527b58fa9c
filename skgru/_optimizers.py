"""Stochastic optimizers and gradient clipping, in plain NumPy.

The optimizers follow the shape of scikit-learn's
``sklearn/neural_network/_stochastic_optimizers.py`` (``update_params``,
``iteration_ends``, ``trigger_stopping``) and its exact SGD and Adam formulas;
RMSprop follows Keras 3. All updates are in place on the caller's arrays and
are computed in each parameter's own dtype (a float32 weight stays float32,
and so do its optimizer moments).

A step is ``clip_gradients(grads, ...)`` then ``optimizer.update_params(params,
grads)`` (then, for lazy sparse rows, ``AdamOptimizer.update_rows``) and
finally the weight constraints (SPEC 3.3).
"""

import math
from abc import ABC, abstractmethod

import numpy as np

from ._kernels._cpu import adam_rows

__all__ = [
    "AdamOptimizer",
    "BaseOptimizer",
    "RMSpropOptimizer",
    "SGDOptimizer",
    "clip_gradients",
    "make_optimizer",
]


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
        Number of :meth:`update_params` calls so far.
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

    # -- stepping ------------------------------------------------------------

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
        self.t += 1
        self._begin_step()
        for i, (param, grad) in enumerate(zip(params, grads)):
            if grad is None:
                continue
            grad = np.asarray(grad, dtype=param.dtype)
            if grad.shape != param.shape:
                raise ValueError(f"grads[{i}] has shape {grad.shape}, expected {param.shape}.")
            self._update_one(i, param, grad)

    def _begin_step(self):  # noqa: B027 - an optional hook, empty by default
        """Per-step bookkeeping, run after ``t`` is incremented."""

    @abstractmethod
    def _update_one(self, i, param, grad):
        """Update ``param`` (index ``i``) in place from ``grad``."""

    def iteration_ends(self, time_step):  # noqa: B027 - optional hook, as in sklearn
        """Perform updates to the learning rate after an epoch.

        Parameters
        ----------
        time_step : int
            Number of training samples seen so far.
        """

    def trigger_stopping(self, msg, verbose):
        """Decide whether training stops when no improvement is seen.

        Parameters
        ----------
        msg : str
            Message to print when ``verbose``.
        verbose : bool
            Whether to print.

        Returns
        -------
        stop : bool
            True: stop training. The base optimizers always stop.
        """
        if verbose:
            print(msg + " Stopping.")
        return True

    # -- checkpointing ---------------------------------------------------------

    def get_state(self):
        """Copy of the optimizer state, for checkpoints.

        Returns
        -------
        state : dict
            ``"t"`` (int), ``"learning_rate"`` (float) and, for each state
            slot of the optimizer (e.g. ``"ms"`` and ``"vs"`` for Adam), a list
            of array copies. Plain NumPy / Python values, safe to pickle.
        """
        state = {"t": int(self.t), "learning_rate": float(self.learning_rate)}
        for slot in self._slots:
            state[slot] = [a.copy() for a in getattr(self, slot)]
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
        The initial learning rate.
    momentum : float, default=0.9
        Momentum, in ``[0, 1]``.
    nesterov : bool, default=True
        Whether to use Nesterov's momentum.
    lr_schedule : {"constant", "adaptive", "invscaling"}, default="constant"
        Learning rate schedule, as scikit-learn's ``learning_rate``:
        ``"invscaling"`` sets ``lr = learning_rate_init / (time_step + 1) **
        power_t`` in :meth:`iteration_ends`; ``"adaptive"`` divides it by 5
        in :meth:`trigger_stopping` until it is <= 1e-6.
    power_t : float, default=0.5
        Exponent for ``"invscaling"``.
    """

    _slots = ("velocities",)

    def __init__(
        self,
        params,
        learning_rate_init=0.1,
        momentum=0.9,
        nesterov=True,
        *,
        lr_schedule="constant",
        power_t=0.5,
    ):
        super().__init__(params, learning_rate_init)
        if lr_schedule not in ("constant", "adaptive", "invscaling"):
            raise ValueError(
                f"lr_schedule must be 'constant', 'adaptive' or 'invscaling', got {lr_schedule!r}."
            )
        self.momentum = momentum
        self.nesterov = nesterov
        self.lr_schedule = lr_schedule
        self.power_t = power_t
        self.velocities = [np.zeros_like(p) for p in self.params]

    def _update_one(self, i, param, grad):
        lr, mom = self.learning_rate, self.momentum
        v = self.velocities[i]
        v *= mom
        v -= lr * grad
        if self.nesterov:
            param += mom * v - lr * grad
        else:
            param += v

    def iteration_ends(self, time_step):
        """Update the learning rate for ``"invscaling"``.

        Parameters
        ----------
        time_step : int
            Number of training samples seen so far.
        """
        if self.lr_schedule == "invscaling":
            self.learning_rate = float(self.learning_rate_init) / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        """Stop, or with ``"adaptive"`` divide the learning rate by 5.

        Parameters
        ----------
        msg : str
            Message to print when ``verbose``.
        verbose : bool
            Whether to print.

        Returns
        -------
        stop : bool
        """
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + f" Setting learning rate to {self.learning_rate:f}")
        return False


class AdamOptimizer(BaseOptimizer):
    """Adam, scikit-learn's formulas, with lazy updates for sparse rows.

    At step ``t`` (``t`` is incremented by each :meth:`update_params` call)::

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
        # lr_t is a Python float, so float32 arithmetic below stays float32.
        self.learning_rate = (
            float(self.learning_rate_init)
            * math.sqrt(1 - self.beta_2**self.t)
            / (1 - self.beta_1**self.t)
        )

    def _adam(self, m, v, grad, flush=None):
        """Update moments ``m``, ``v`` in place; return the parameter increment.

        ``flush = (g_min, s_min)`` zeroes gradient entries below ``g_min`` and
        moments below ``s_min`` (the lazy row update, see ``_flush_limits``).
        """
        # In place where possible: for an embedding these arrays are large, and
        # each temporary adds to the fit's peak memory. Same operations in the
        # same order as ``-lr * m / (sqrt(v) + eps)``, so the same bits.
        b1, b2 = self.beta_1, self.beta_2
        if flush is not None:
            grad = np.where(np.abs(grad) >= flush[0], grad, grad.dtype.type(0))
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        tmp = np.square(grad)
        tmp *= 1 - b2
        v += tmp
        if flush is not None:
            m[np.abs(m) < flush[1]] = 0
            v[v < flush[1]] = 0
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        step = -self.learning_rate * m
        step /= tmp
        return step

    def _update_one(self, i, param, grad):
        param += self._adam(self.ms[i], self.vs[i], grad)

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
        m_all, v_all = self.ms[index], self.vs[index]
        g_min, s_min = self._flush_limits(param.dtype)
        if param.ndim == 2 and all(a.flags.c_contiguous for a in (param, m_all, v_all)):
            dt = param.dtype.type
            adam_rows(
                param,
                m_all,
                v_all,
                rows.astype(np.int64, copy=False),
                np.ascontiguousarray(grad_rows),
                dt(self.beta_1),
                dt(1 - self.beta_1),
                dt(self.beta_2),
                dt(1 - self.beta_2),
                dt(-self.learning_rate),
                dt(self.epsilon),
                dt(g_min),
                dt(s_min),
            )
            return
        # The same operations as the kernel, on gathered copies of the rows.
        m = m_all[rows]
        v = v_all[rows]
        step = self._adam(m, v, grad_rows, flush=(g_min, s_min))
        m_all[rows] = m
        v_all[rows] = v
        param[rows] += step

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

    def _update_one(self, i, param, grad):
        rho = self.rho
        v = self.velocities[i]
        v *= rho
        v += (1 - rho) * np.square(grad)
        increment = self.learning_rate * grad / np.sqrt(v + self.epsilon)
        if self.momentum > 0:
            mom = self.momentums[i]
            mom *= self.momentum
            mom += increment
            param -= mom
        else:
            param -= increment


def clip_gradients(grads, *, clipnorm=None, clipvalue=None, global_clipnorm=None):
    """Clip gradients in place, with Keras semantics (SPEC 3.3).

    Parameters
    ----------
    grads : list of (ndarray or None)
        Gradients, writable floating arrays modified in place; ``None``
        entries are skipped. A sparse
        gradient given as its unique rows has the norm of its dense form.
    clipnorm : float, optional
        Per tensor: ``g * clipnorm / max(||g||, clipnorm)``.
    clipvalue : float, optional
        Elementwise: ``clip(g, -clipvalue, clipvalue)``.
    global_clipnorm : float, optional
        All tensors together: ``g * c * min(1 / G, 1 / c)`` with ``G`` the
        norm of all gradients concatenated. No eps; a non-finite ``G`` gives a
        NaN scale, as in Keras.

    Returns
    -------
    grads : list
        The same list.

    Raises
    ------
    ValueError
        If more than one option is set, or a set option is not > 0.
    """
    options = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
    given = [k for k, v in options.items() if v is not None]
    if len(given) > 1:
        raise ValueError(
            f"Only one of clipnorm, clipvalue and global_clipnorm can be set, got {given}."
        )
    if not given:
        return grads
    name = given[0]
    c = options[name]
    if isinstance(c, bool) or not (isinstance(c, (int, float, np.integer, np.floating)) and c > 0):
        raise ValueError(f"{name} must be a number > 0, got {c!r}.")
    c = float(c)
    present = [g for g in grads if g is not None]
    if name == "clipvalue":
        for g in present:
            np.clip(g, -c, c, out=g)
    elif name == "clipnorm":
        for g in present:
            norm = math.sqrt(float(np.sum(np.square(g, dtype=np.float64))))
            g *= c / max(norm, c)
    else:
        total = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in present))
        if math.isfinite(total):
            scale = c * min(1.0 / total if total > 0 else math.inf, 1.0 / c)
        else:
            scale = math.nan
        for g in present:
            g *= scale
    return grads


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
    rho=0.9,
    rmsprop_momentum=0.0,
    lr_schedule="constant",
    power_t=0.5,
):
    """Build the optimizer for ``solver``.

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
        for both).
    rho : float, default=0.9
        RMSprop decay (``"rmsprop"`` only).
    rmsprop_momentum : float, default=0.0
        RMSprop momentum (``"rmsprop"`` only; Keras' default 0).
    lr_schedule : {"constant", "adaptive", "invscaling"}, default="constant"
        SGD learning rate schedule (``"sgd"`` only).
    power_t : float, default=0.5
        Exponent for ``"invscaling"``.

    Returns
    -------
    optimizer : BaseOptimizer
    """
    if solver == "adam":
        return AdamOptimizer(params, learning_rate_init, beta_1, beta_2, epsilon)
    if solver == "sgd":
        return SGDOptimizer(
            params,
            learning_rate_init,
            momentum,
            nesterovs_momentum,
            lr_schedule=lr_schedule,
            power_t=power_t,
        )
    if solver == "rmsprop":
        return RMSpropOptimizer(params, learning_rate_init, rho, rmsprop_momentum, epsilon)
    raise ValueError(f"solver must be 'adam', 'sgd' or 'rmsprop', got {solver!r}.")
