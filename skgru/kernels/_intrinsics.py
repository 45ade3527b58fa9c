"""LLVM-level helpers for the CPU kernels, with the contract their callers keep.

numba exposes no per-function target options, no ``restrict`` and no way to
make a view without touching its parent's reference count; these intrinsics
reach into the code numba generates for the function that calls them. Each
one changes only how LLVM may compile the caller, never what it computes,
provided the caller keeps the contract below; with ``NUMBA_DISABLE_JIT`` they
are plain Python no-ops.

Contract
--------
``wide_vectors()``
    Call it at the top of an ``@njit`` function. No obligation: it asks LLVM
    for 512-bit vectors in that function (a host without AVX-512 ignores the
    request). Lanes compute what scalar code computes (no reductions are
    vectorised across the request), so results keep their bits.
``noalias_arrays()``
    Call it at the top of an ``@njit`` function whose array arguments are
    pairwise disjoint in memory: no element written through one argument may
    be read or written through another (C's ``restrict`` on every array
    argument). The caller of that function owns the promise; breaking it is
    undefined behaviour (stale or torn values), never an error.
``borrowed(a)``
    Returns ``a`` without its memory-info pointer, so views of the result
    skip reference counting. Only for arrays that outlive every use of the
    result and of its views: in practice a kernel's own arguments, which its
    caller holds for the whole call. Never return a borrowed array or a view
    of it, and never store one in a container that outlives the call.
"""

import functools
import re

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

# Vector width of the gate loops. On AVX-512 hosts LLVM vectorizes for 256-bit
# registers unless a function asks for more ("prefer-256-bit" tuning, against
# the clock drop of 512-bit code on older Xeons). The gate loops are long
# chains of multiply-adds and three divisions per unit; with 512-bit vectors
# they ran 1.35-1.5x faster in a flat loop on an AVX-512 machine, the
# same bits (each lane computes what it did; no reductions). numba sets no
# per-function target options, so ``wide_vectors()``, called at the top of a
# kernel, adds LLVM's string attributes to the function being compiled
# (benchmarks/NOTES.md, "512-bit vectors for the forward gate loop"). llvmlite
# has no API for them either: they go into its attribute set past its check of
# known names, and only after a probe has shown that this llvmlite writes them
# and this LLVM parses the result; otherwise nothing is added. Hosts without
# AVX-512 ignore them.
_WIDE_VECTOR_ATTRIBUTES = ('"prefer-vector-width"="512"', '"min-legal-vector-width"="512"')


@functools.lru_cache(maxsize=1)
def _string_attributes_work():
    """True when llvmlite emits the attributes above and LLVM accepts them (compile time only)."""
    try:
        import llvmlite.binding as llvm

        module = ir.Module(name="skgru_probe")
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), []), name="probe")
        if not isinstance(fn.attributes, set):
            return False
        for attr in _WIDE_VECTOR_ATTRIBUTES:
            set.add(fn.attributes, attr)
        ir.IRBuilder(fn.append_basic_block()).ret_void()
        text = str(module)
        if not all(attr in text for attr in _WIDE_VECTOR_ATTRIBUTES):
            return False
        llvm.parse_assembly(text).verify()
        return True
    except Exception:
        return False


@intrinsic
def _wide_vectors(typingctx):
    def codegen(context, builder, signature, args):
        if _string_attributes_work():
            for attr in _WIDE_VECTOR_ATTRIBUTES:
                set.add(builder.function.attributes, attr)
        return context.get_dummy_value()

    return types.none(), codegen


def _no_op():
    pass


# Ask LLVM for 512-bit vectors in the calling ``@njit`` function; with
# NUMBA_DISABLE_JIT the kernels run as Python, where it does nothing.
wide_vectors = _no_op if numba.config.DISABLE_JIT else _wide_vectors


# Array arguments that do not overlap. LLVM vectorizes a loop over rows of
# several arrays only behind run-time checks that no store overlaps a load;
# when the loop sits in another loop over rows, those checks ran before every
# row, hundreds of instructions each (benchmarks/NOTES.md, "Gate loops in
# functions of their own, with non-overlapping arrays"). ``noalias_arrays()``,
# called in a kernel, marks the data pointers of all its array arguments
# ``noalias``, as C's ``restrict``: the caller promises that no element written
# through one argument is read or written through another. numba passes an
# array as its fields (meminfo, parent, nitems, itemsize, data, shape,
# strides), so a data pointer is the parameter named ``arg.<name>.4``; if none
# is found, nothing is marked.
_ARRAY_DATA_ARG = re.compile(r"^arg\.[^.]+\.4$")


@intrinsic
def _noalias_arrays(typingctx):
    def codegen(context, builder, signature, args):
        for arg in builder.function.args:
            if _ARRAY_DATA_ARG.match(arg.name) and isinstance(arg.type, ir.PointerType):
                arg.add_attribute("noalias")
        return context.get_dummy_value()

    return types.none(), codegen


noalias_arrays = _no_op if numba.config.DISABLE_JIT else _noalias_arrays


# Views without reference counting. Every array view numba makes (``H[t]``,
# a row block handed to BLAS) increments and later decrements its parent's
# reference count: an atomic operation in a function call, on a count that
# both threads of a split batch touch for the same arrays. They were 17 % of
# W1's inference kernel (benchmarks/NOTES.md, "Kernel views without reference counts").
# ``borrowed(a)`` returns ``a`` without its memory-info pointer, so views of
# it count nothing (numba skips a null one). Only for arrays that outlive
# every use of the result: a kernel's arguments, which its caller holds.


@intrinsic
def _borrowed(typingctx, arr):
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, signature, args):
        out = context.make_array(arr)(context, builder, value=args[0])
        out.meminfo = ir.Constant(out.meminfo.type, None)
        out.parent = ir.Constant(out.parent.type, None)
        return out._getvalue()

    return arr(arr), codegen


def _identity(arr):
    return arr


borrowed = _identity if numba.config.DISABLE_JIT else _borrowed
