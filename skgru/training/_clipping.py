"""Gradient clipping with Keras semantics, written once for every kernel set."""

import numbers

from ..kernels.cpu._kernel_set import CPUKernelSet

__all__ = ["check_clipping", "clip", "clip_gradients"]

_OPTIONS = ("clipnorm", "clipvalue", "global_clipnorm")

# Host arrays: the CPU kernel set's clipping, which needs no scratch.
_HOST = CPUKernelSet("float64")


def check_clipping(clipnorm=None, clipvalue=None, global_clipnorm=None):
    """``(name, c)`` of the one clipping option set, or None; raises for several or c <= 0."""
    options = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
    given = [k for k in _OPTIONS if options[k] is not None]
    if len(given) > 1:
        raise ValueError(
            f"Only one of clipnorm, clipvalue and global_clipnorm can be set, got {given}."
        )
    if not given:
        return None
    name = given[0]
    c = options[name]
    if isinstance(c, bool) or not (isinstance(c, numbers.Real) and c > 0):
        raise ValueError(f"{name} must be a number > 0, got {c!r}.")
    return name, float(c)


def clip(kernels, groups, option, norms=None):
    """Clip the gradients of ``groups`` (a kernel set's groups) in place.

    ``option`` is :func:`check_clipping`'s result; ``norms`` a vector from
    ``kernels.norms`` with one entry per array of the groups (made here when
    None).
    """
    if option is None:
        return
    name, c = option
    if name == "clipvalue":
        kernels.clip_value(groups, c)
        return
    if norms is None:
        norms = kernels.norms(sum(len(g.arrays) for g in groups))
    kernels.sumsq(groups, norms)
    if name == "clipnorm":
        kernels.clip_by_norm(groups, norms, c)
    else:
        kernels.clip_global(groups, norms, c)


def clip_gradients(grads, *, clipnorm=None, clipvalue=None, global_clipnorm=None):
    """Clip host gradients in place, with Keras semantics.

    Parameters
    ----------
    grads : list of (ndarray or None)
        Gradients, writable floating arrays modified in place; ``None``
        entries are skipped. A sparse gradient given as its unique rows has
        the norm of its dense form.
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
    option = check_clipping(clipnorm, clipvalue, global_clipnorm)
    present = [g for g in grads if g is not None]
    clip(_HOST, [_HOST.group(present, copy=False)], option)
    return grads
