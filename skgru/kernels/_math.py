"""Scalar GRU gate math, written once, and what each target chooses for it.

``build(jit)`` returns the scalar functions compiled with the decorator it is
given: :mod:`skgru.kernels.cpu._gru` passes ``numba.njit(inline="always")`` and
:mod:`skgru.kernels.cuda._kernels` passes ``numba.cuda.jit(device=True)``, so
the CPU and GPU kernels share one text of the arithmetic and cannot drift apart
(the weak spot of writing it twice). The functions refer to each other through
the closure, which both numba targets resolve at compile time.

Per-target choices (the only places where the targets' arithmetic differs):

============  ==========================================  ======================
              CPU (``kernels/cpu``)                       CUDA (``kernels/cuda``)
============  ==========================================  ======================
tanh,         float32: a rational approximation (a few    exact (libdevice's
logistic      ulps; vectorisable, libm is a scalar        ``tanh``, ``exp``)
              call); float64: exact (libm)
FMA           contracted in the gate loops                contracted (NVVM's
              (``GATE_FASTMATH``)                         default)
tiny BPTT     flushed to zero below 1e-30 (float32) /     kept (no subnormal
gradients     1e-300 (float64): x86 runs subnormals       penalty on a GPU)
              ~100x slower
============  ==========================================  ======================

A masked step (padding) keeps the state and stores zero gates on both
targets; float64 therefore agrees between them to rounding, which the tests
hold to 1e-8 after two epochs of training.

Names follow ``docs/gru_equations.rst`` ("Back-propagation through time"):
``a_*`` are input projections (with the input bias), ``m_*`` recurrent
projections, ``h_prev`` the previous state, ``g`` the gradient arriving at the
new state.

Every function takes ``one``, the number 1 in the working dtype: a Python
literal ``1.0`` is float64 to numba and would silently promote float32 gate
math to float64 (slower, and different from the GPU's float32 path).
"""

import math
from types import SimpleNamespace


def build(jit, tanh=None, sigmoid=None):
    """Compile the scalar gate math with ``jit``; returns a namespace of functions.

    ``tanh(x)`` and ``sigmoid(x, one)`` may be given already compiled for the
    target (the CPU passes dtype-dispatching versions whose float32 path is a
    vectorizable rational approximation; see :mod:`skgru.kernels.cpu._gru`);
    by default they are the exact ones below.
    """
    if tanh is None:

        @jit
        def tanh(x):
            return math.tanh(x)

    if sigmoid is None:

        @jit
        def sigmoid(x, one):
            # Two branches so that exp never overflows: for x < 0 use e^x / (1 + e^x).
            if x >= 0:
                return one / (one + math.exp(-x))
            e = math.exp(x)
            return e / (one + e)

    @jit
    def gates_reset_after(a_z, a_r, a_n, m_z, m_r, m_n, h_prev, one):
        """One unit of one step, ``reset_after=True`` (cuDNN / PyTorch form).

        Returns ``(z, r, n, h_new)``; ``m_*`` already include the recurrent bias.
        """
        z = sigmoid(a_z + m_z, one)
        r = sigmoid(a_r + m_r, one)
        n = tanh(a_n + r * m_n)
        h_new = z * h_prev + (one - z) * n
        return z, r, n, h_new

    @jit
    def update_gates(a_z, a_r, m_z, m_r, one):
        """The z and r gates of ``reset_after=False``."""
        return sigmoid(a_z + m_z, one), sigmoid(a_r + m_r, one)

    @jit
    def candidate_reset_before(a_n, q, z, h_prev, one):
        """``reset_after=False``: ``q = (r * h_prev) @ R_n`` is already formed.

        Returns ``(n, h_new)``.
        """
        n = tanh(a_n + q)
        return n, z * h_prev + (one - z) * n

    @jit
    def grad_zn(g, h_prev, z, n, one):
        """Pre-activation gradients of the update gate and the candidate.

        Returns ``(dz_pre, dn_pre)`` (``docs/gru_equations.rst``); both
        variants share them.
        """
        dz_pre = g * (h_prev - n) * z * (one - z)
        dn_pre = g * (one - z) * (one - n * n)
        return dz_pre, dn_pre

    @jit
    def grad_r(d_rn, s, r, one):
        """Reset-gate pre-activation gradient.

        ``reset_after=True``: ``d_rn = dn_pre``, ``s = m_n``;
        ``reset_after=False``: ``d_rn = (dn_pre @ R_n.T)``, ``s = h_prev``.
        """
        return d_rn * s * r * (one - r)

    return SimpleNamespace(
        sigmoid=sigmoid,
        tanh=tanh,
        gates_reset_after=gates_reset_after,
        update_gates=update_gates,
        candidate_reset_before=candidate_reset_before,
        grad_zn=grad_zn,
        grad_r=grad_r,
    )
