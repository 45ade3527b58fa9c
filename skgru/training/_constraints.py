"""Weight constraints: projections applied to a weight after each update.

The formulas follow Keras 3 (``keras/src/constraints/constraints.py``) exactly
(``docs/user_guide/constraints.rst``). Every norm is ``n = sqrt(sum(w**2, axis, keepdims=True))``
and the fuzz factor ``_EPSILON = 1e-7`` is *always* added to the denominator, so
even a column already inside the allowed range is multiplied by ``n / (n + eps)``.
Matching Keras to float rounding needs that same eps.

For the GRU tensors ``axis=0`` means one norm per column: per gate
and unit for the ``(input_dim, 3U)`` kernel and the ``(U, 3U)`` recurrent
kernel, ``b_i[j]`` paired with ``b_h[j]`` for the ``(2, 3U)`` bias, and the
whole vector for a ``(3U,)`` bias.

Constraints are stored like scikit-learn estimators: ``__init__`` only stores
its arguments, validation happens when the constraint is called, and
``get_params``/``set_params`` make :func:`sklearn.base.clone` and nested grid
search parameters (``kernel_constraint__max_value``) work.
"""

import functools
import inspect
import numbers

import numpy as np

from ..kernels._interface import ConstraintPlan

__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "apply_constraint",
    "get",
    "plan",
]

# ``np.exceptions`` appeared in NumPy 1.25; we support 1.23.
_AxisError = getattr(np, "exceptions", np).AxisError

# Keras' ``backend.epsilon()`` default (``keras/src/backend/config.py``).
_EPSILON = 1e-7


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _normalize_axis(axis):
    """Return ``axis`` as an int or a tuple of ints, or raise ValueError."""
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return int(axis)
    if isinstance(axis, (tuple, list)) and len(axis) > 0:
        if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis):
            return tuple(int(a) for a in axis)
    raise ValueError(f"axis must be an int or a non-empty tuple of ints, got {axis!r}.")


def _lenient(value):
    """Hashable, comparison-friendly form of a parameter value (never raises)."""
    if _is_real(value):
        return float(value)
    if isinstance(value, (tuple, list)):
        return tuple(_lenient(v) for v in value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _column_norms(w, axis):
    """``sqrt(sum(w**2, axis, keepdims=True))`` with a clear error on a bad axis."""
    try:
        return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))
    except _AxisError as exc:
        raise ValueError(f"axis={axis!r} is out of range for a weight of shape {w.shape}.") from exc


def _as_float_array(w):
    """Keep floating dtypes; anything else is computed in float64."""
    w = np.asarray(w)
    if not np.issubdtype(w.dtype, np.floating):
        w = w.astype(np.float64)
    return w


class Constraint:
    """Base class for weight constraints.

    A constraint is a stateless projection ``w -> w'``. Subclasses implement
    ``_project(w)``, which receives a floating array and returns a new array
    of the same shape and dtype; they list their parameters as keyword
    arguments of ``__init__``, which only stores them.

    Calling a constraint never modifies its input; use
    :func:`skgru.training._constraints.apply_constraint` to project a weight in place.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru.constraints import Constraint
    >>> class Clip(Constraint):
    ...     def __init__(self, bound=1.0):
    ...         self.bound = bound
    ...     def _project(self, w):
    ...         return np.clip(w, -self.bound, self.bound)
    >>> Clip(0.5)(np.array([-2.0, 0.25, 3.0]))
    array([-0.5 ,  0.25,  0.5 ])
    >>> Clip(0.5)
    Clip(bound=0.5)
    """

    # -- parameters (scikit-learn protocol) ---------------------------------

    @classmethod
    def _get_param_names(cls):
        init = cls.__init__
        if init is object.__init__:
            return []
        params = inspect.signature(init).parameters.values()
        names = []
        for p in params:
            if p.name == "self":
                continue
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(
                    f"{cls.__name__}.__init__ must list its parameters explicitly "
                    "(no *args or **kwargs)."
                )
            names.append(p.name)
        return names

    def get_params(self, deep=True):
        """Parameters of this constraint.

        Parameters
        ----------
        deep : bool, default=True
            Ignored; constraints have no nested objects. Present for the
            scikit-learn estimator protocol.

        Returns
        -------
        params : dict
            Parameter names mapped to their stored values.
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set parameters of this constraint.

        Parameters
        ----------
        **params : dict
            New parameter values.

        Returns
        -------
        self : Constraint
        """
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for constraint {self!r}. "
                    f"Valid parameters are: {valid!r}."
                )
            setattr(self, key, value)
        return self

    # -- validation ----------------------------------------------------------

    def _validate(self):
        """Check the parameters; return them normalised (raise ValueError)."""
        return self.get_params()

    # -- application ---------------------------------------------------------

    def __call__(self, w):
        """Project ``w``.

        Parameters
        ----------
        w : array-like
            The weight. Floating dtypes are preserved; other dtypes are
            computed in float64.

        Returns
        -------
        out : ndarray
            A new array with the same shape as ``w``.
        """
        self._validate()
        w = _as_float_array(w)
        out = np.asarray(self._project(w), dtype=w.dtype)
        if out is w:
            out = out.copy()
        return out

    def _project(self, w):
        return w.copy()

    # -- serialisation -------------------------------------------------------

    def get_config(self):
        """JSON-serialisable configuration.

        Returns
        -------
        config : dict
            Plain Python values (floats, ints, lists of ints), such that
            ``type(c).from_config(c.get_config()) == c``.
        """
        config = {}
        for key, value in self._validate().items():
            config[key] = list(value) if isinstance(value, tuple) else value
        return config

    @classmethod
    def from_config(cls, config):
        """Build a constraint from the output of :meth:`get_config`.

        Parameters
        ----------
        config : dict
            Keyword arguments of the constraint.

        Returns
        -------
        constraint : Constraint
        """
        return cls(**config)

    # -- Python protocol -----------------------------------------------------

    def _key(self):
        return tuple((name, _lenient(value)) for name, value in self.get_params().items())

    def __eq__(self, other):
        if type(self) is not type(other):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash((type(self).__qualname__, self._key()))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """Cap the norm of each weight vector at ``max_value``.

    Computes ``w * clip(n, 0, max_value) / (eps + n)`` with
    ``n = sqrt(sum(w**2, axis=axis, keepdims=True))`` and ``eps = 1e-7``,
    as Keras' ``MaxNorm``.

    Parameters
    ----------
    max_value : float, default=2
        Largest allowed norm, ``>= 0``.
    axis : int or tuple of int, default=0
        Axis (or axes) along which norms are taken. ``axis=0`` on a
        ``(input_dim, 3U)`` kernel gives one norm per column (gate and unit);
        on a ``(3U,)`` bias it is the norm of the whole vector.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru.constraints import MaxNorm
    >>> w = np.array([[3.0, 0.3], [4.0, 0.4]])
    >>> np.round(MaxNorm(max_value=1.0)(w), 6)
    array([[0.6, 0.3],
           [0.8, 0.4]])
    >>> MaxNorm(max_value=2.0)
    MaxNorm(max_value=2.0, axis=0)
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def _validate(self):
        if not _is_real(self.max_value) or not self.max_value >= 0:
            raise ValueError(f"max_value must be a real number >= 0, got {self.max_value!r}.")
        return {"max_value": float(self.max_value), "axis": _normalize_axis(self.axis)}

    def _project(self, w):
        axis = _normalize_axis(self.axis)
        n = _column_norms(w, axis)
        desired = np.clip(n, 0, self.max_value)
        return w * (desired / (_EPSILON + n))


class UnitNorm(Constraint):
    """Scale each weight vector to unit norm.

    Computes ``w / (eps + n)`` with ``n = sqrt(sum(w**2, axis=axis,
    keepdims=True))`` and ``eps = 1e-7``, as Keras' ``UnitNorm``. A zero vector
    stays zero.

    Parameters
    ----------
    axis : int or tuple of int, default=0
        Axis (or axes) along which norms are taken.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru.constraints import UnitNorm
    >>> np.round(UnitNorm()(np.array([[3.0, 0.0], [4.0, 0.0]])), 6)
    array([[0.6, 0. ],
           [0.8, 0. ]])
    """

    def __init__(self, axis=0):
        self.axis = axis

    def _validate(self):
        return {"axis": _normalize_axis(self.axis)}

    def _project(self, w):
        n = _column_norms(w, _normalize_axis(self.axis))
        return w / (_EPSILON + n)


class NonNeg(Constraint):
    """Clip weights below zero to zero: ``maximum(w, 0)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru.constraints import NonNeg
    >>> NonNeg()(np.array([-1.5, 0.0, 2.0]))
    array([0., 0., 2.])
    """

    def _project(self, w):
        return np.maximum(w, 0)


class MinMaxNorm(Constraint):
    """Keep the norm of each weight vector within ``[min_value, max_value]``.

    Computes ``w * (rate * clip(n, min_value, max_value) + (1 - rate) * n) /
    (eps + n)`` with ``n = sqrt(sum(w**2, axis=axis, keepdims=True))`` and
    ``eps = 1e-7``, as Keras' ``MinMaxNorm``. With ``rate < 1`` the norm moves
    only part of the way towards the interval at each call.

    Parameters
    ----------
    min_value : float, default=0.0
        Smallest allowed norm, ``0 <= min_value <= max_value``.
    max_value : float, default=1.0
        Largest allowed norm.
    rate : float, default=1.0
        Enforcement rate in ``[0, 1]``; 1 is strict enforcement.
    axis : int or tuple of int, default=0
        Axis (or axes) along which norms are taken.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru.constraints import MinMaxNorm
    >>> w = np.array([[0.3, 6.0], [0.4, 8.0]])
    >>> np.round(MinMaxNorm(min_value=1.0, max_value=2.0)(w), 6)
    array([[0.6, 1.2],
           [0.8, 1.6]])
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def _validate(self):
        lo, hi, rate = self.min_value, self.max_value, self.rate
        if not _is_real(hi) or not hi >= 0:
            raise ValueError(f"max_value must be a real number >= 0, got {hi!r}.")
        if not _is_real(lo) or not 0 <= lo <= hi:
            raise ValueError(
                f"min_value must be a real number with 0 <= min_value <= max_value={hi!r}, "
                f"got {lo!r}."
            )
        if not _is_real(rate) or not 0 <= rate <= 1:
            raise ValueError(f"rate must be a real number in [0, 1], got {rate!r}.")
        return {
            "min_value": float(lo),
            "max_value": float(hi),
            "rate": float(rate),
            "axis": _normalize_axis(self.axis),
        }

    def _project(self, w):
        n = _column_norms(w, _normalize_axis(self.axis))
        desired = self.rate * np.clip(n, self.min_value, self.max_value) + (1 - self.rate) * n
        return w * (desired / (_EPSILON + n))


_ALL_CONSTRAINTS = {
    "max_norm": MaxNorm,
    "unit_norm": UnitNorm,
    "non_neg": NonNeg,
    "min_max_norm": MinMaxNorm,
}
_BY_NAME = {**_ALL_CONSTRAINTS, **{cls.__name__: cls for cls in _ALL_CONSTRAINTS.values()}}


def _lookup(name):
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"Unknown constraint {name!r}; expected one of {sorted(_BY_NAME)!r}."
        ) from None


def get(identifier, *, name="constraint"):
    """Resolve a constraint identifier.

    Parameters
    ----------
    identifier : None, str, dict, Constraint or callable
        ``None`` gives ``None``; a :class:`Constraint` or any other callable
        ``w -> w`` is returned unchanged; a string (``"max_norm"``,
        ``"unit_norm"``, ``"non_neg"``, ``"min_max_norm"`` or a class name)
        gives a default instance; a dict ``{"class_name": ..., "config":
        {...}}`` (Keras serialisation, extra keys ignored) gives a configured
        instance.
    name : str, default="constraint"
        Parameter name used in error messages, e.g. ``"kernel_constraint"``.

    Returns
    -------
    constraint : callable or None

    Raises
    ------
    ValueError
        Unknown constraint name, or a malformed dict.
    TypeError
        Any other kind of identifier.

    Examples
    --------
    >>> from skgru.constraints import get
    >>> get("max_norm")
    MaxNorm(max_value=2, axis=0)
    >>> get({"class_name": "UnitNorm", "config": {"axis": 1}})
    UnitNorm(axis=1)
    """
    if identifier is None:
        return None
    if isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(
                f"{name} given as a dict must have a 'class_name' key (and optionally "
                f"'config'), got {identifier!r}."
            )
        config = identifier.get("config") or {}
        if not isinstance(config, dict):
            raise ValueError(f"{name}['config'] must be a dict, got {config!r}.")
        return _lookup(identifier["class_name"]).from_config(config)
    if callable(identifier) and not isinstance(identifier, type):
        return identifier
    raise TypeError(
        f"{name} must be None, a string, a skgru.constraints.Constraint or a callable "
        f"w -> w, got {identifier!r} of type {type(identifier).__name__}."
    )


def apply_constraint(constraint, w):
    """Project ``w`` in place with ``constraint``.

    Parameters
    ----------
    constraint : None, str, dict, Constraint or callable
        Anything :func:`get` accepts; ``None`` leaves ``w`` unchanged.
    w : ndarray
        The weight, modified in place (``w[...] = constraint(w)``, cast to
        ``w.dtype``).

    Returns
    -------
    w : ndarray
        The same array.

    Raises
    ------
    ValueError
        If the constraint returns an array of a different shape.
    """
    constraint = get(constraint)
    if constraint is None:
        return w
    out = np.asarray(constraint(w))
    if out.shape != w.shape:
        raise ValueError(
            f"Constraint {constraint!r} returned an array of shape {out.shape} for a "
            f"weight of shape {w.shape}; a constraint must preserve the shape."
        )
    w[...] = out
    return w


# Keras's norm constraints as the kernel sets' formula codes.
_NORM_KINDS = {MaxNorm: 0, UnitNorm: 1, MinMaxNorm: 2}


def plan(constraint, ndim):
    """How a kernel set projects a weight of ``ndim`` dimensions with ``constraint``.

    Returns a :class:`~skgru.kernels._interface.ConstraintPlan` (None for no
    constraint). The built-in constraints are described by their formula
    (targets with their own kernels compute it there); any other callable,
    including a user-defined :class:`Constraint`, is to be applied element
    by element. An axis out of range raises the ValueError the projection
    itself would raise.
    """
    constraint = get(constraint)
    if constraint is None:
        return None
    host = functools.partial(apply_constraint, constraint)
    kind = type(constraint)
    if kind is NonNeg:
        return ConstraintPlan(("nonneg",), host)
    if kind not in _NORM_KINDS:
        return ConstraintPlan(("elementwise", constraint), host)
    p = constraint._validate()
    axis = p["axis"]
    axes = axis if isinstance(axis, tuple) else (axis,)
    if any(not -ndim <= a < ndim for a in axes):
        raise ValueError(f"axis={axis!r} is out of range for a weight of {ndim} dimension(s).")
    axes = tuple(sorted({a % ndim for a in axes}))
    lo, hi, rate = p.get("min_value", 0.0), p.get("max_value", 0.0), p.get("rate", 1.0)
    return ConstraintPlan(("norm", _NORM_KINDS[kind], lo, hi, rate, axes), host)
