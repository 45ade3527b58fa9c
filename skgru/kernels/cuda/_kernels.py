"""The CUDA kernels of every dtype and launch configuration, and their launchers.

The kernels themselves are in :mod:`._data`, :mod:`._gemm`,
:mod:`._recurrence`, :mod:`._head` and :mod:`._updates`; this module builds
them per dtype and launch configuration and launches them
(:class:`Launchers`). Importing it needs ``numba.cuda`` (numba-cuda); only the
CUDA kernel set imports it, and only when a GPU (or the simulator) is there.
Layout and argument order follow :mod:`skgru.kernels.cpu._gru`:
time-major ``X (T, B, F)``, states ``H (T + 1, B, U)``, gate store ``S (T, B,
4U)`` as ``[z | r | n | s]``, ``mask (T, B)`` uint8, Keras-ordered weights.

Design
------
* Input projection and every weight-gradient product are one tiled
  shared-memory GEMM (:func:`gemm`, ``C = op(A) @ op(B)``) over all ``T * B``
  rows. Each output element is summed by one thread in ascending ``k``, so
  results are bitwise reproducible run to run.
* The recurrence is *persistent per batch slice*: one launch for all
  timesteps; block ``i`` owns ``rows_per_block`` sequences of the batch and
  keeps their state in shared memory, so a step needs only block barriers
  (``syncthreads``), never a grid-wide one. The recurrent product is fused
  with the gate nonlinearities and the state update (each thread computes the
  three dot products of its unit and applies :mod:`._math`). This design also
  runs in Numba's CUDA simulator, which cannot synchronise a grid.
* An alternative recurrence, ``LAUNCH["recurrent_variant"] = "split"``
  (``gru_forward_split*`` / ``gru_backward_split*``), splits the reduction
  axis of each recurrent product over ``k_split`` rows of threads (partial
  sums in shared memory, added in slice order after a barrier), so each
  thread's chain of dependent R loads is ``k_split`` times shorter and an SM
  has more warps to hide L2 latency; a block takes ``split_rows`` (1, 2, 4)
  sequences and each thread applies every R element it loads to all of them
  (accumulators in registers), dividing the L2 traffic for R by
  ``split_rows``. Same gate math, masks and summation order fixed per
  output; ``k_split=1`` gives the default kernels' bits.
* Backward through time is the same shape in reverse; it writes ``dA`` and
  ``dM`` for every step, and the weight gradients are GEMMs afterwards
  (``docs/gru_equations.rst``).
* Reductions (bias gradients, norms, the loss) run in a fixed order: each
  thread sums its own sequence over time, then one thread per column sums the
  batch in order, or one block reduces with a fixed tree; never atomics.
* The head of a training step (logits, loss, dlogits, the dense layer's
  gradients, the gradient on the pooled state, the epoch's loss sum) is one
  single-block launch: launches, not arithmetic, dominate at these sizes.

The scalar gate math is :mod:`._math` compiled with
``cuda.jit(device=True)``; it is not rewritten here.

Launch sizes come from :data:`LAUNCH`; tests shrink them (and call
:func:`clear_cache`) so that tiny inputs span several blocks.
"""

import numpy as np
from numba import cuda

from . import _data, _gemm, _head, _recurrence, _updates

__all__ = ["LAUNCH", "clear_cache", "kernels", "Launchers"]

# Launch configuration. ``tile``: GEMM threads per block edge (tile x tile
# threads) and k-chunk; ``gemm_reg``: outputs per thread along each edge (a
# block computes a (tile * gemm_reg)^2 tile of C);
# ``unit_threads``: threads across hidden units in the recurrent kernels (a
# stride loop covers larger U); ``rows_per_block``: sequences per block in the
# recurrent kernels (None = 1; more rows reuse R through L1 but use fewer
# blocks); ``recurrent_variant``: ``"rows"`` (``gru_*_steps``)
# or ``"split"`` (the default: ``gru_*_split``, the reduction axis
# of the recurrent products split over ``k_split`` thread rows, with
# ``split_rows`` (1, 2 or 4) sequences per block sharing each load of R, see
# :func:`_build`); ``threads``: elementwise kernels; ``max_blocks``: cap of
# grid-stride elementwise launches; ``reduce_threads``: one-block reductions
# (a power of two).
LAUNCH = {
    "tile": 16,
    "gemm_reg": 4,
    "unit_threads": 256,
    "rows_per_block": None,
    # "split" with k_split=4: measured on an H200 (benchmarks/results/
    # gpu_check_h200.md), training 1.6x / 1.17x / 1.11x faster than "rows" on
    # W1 / W2 / W3, and it passed every device-vs-CPU check there.
    "recurrent_variant": "split",
    "k_split": 4,
    "split_rows": 1,
    "threads": 256,
    "max_blocks": 4096,
    "reduce_threads": 256,
}

# Largest dynamic shared memory a block asks for without opting in.
_SHARED_LIMIT = 48 * 1024

_SPLIT_MAX_THREADS = _recurrence.SPLIT_MAX_THREADS
_SPLIT_SMALL_THREADS = _recurrence.SPLIT_SMALL_THREADS

_VARIANTS = ("rows", "split")

# Per direction of the recurrence: the split-k kernel, the rows kernel, and the
# state vectors per sequence in shared memory (fixed, and per k slice).
_RECURRENT_KERNELS = {
    "forward": ("gru_forward_split", "gru_forward_steps", 4, 3),
    "backward": ("gru_backward_split", "gru_backward_steps", 5, 1),
}

# Sequences per block the split-k kernels are compiled for.
_SPLIT_ROWS = (1, 2, 4)

_CACHE = {}

# Sink for launch records (tests compile every launched signature for a real
# GPU target); None = off.
LAUNCH_LOG = None


def clear_cache():
    """Forget compiled kernel sets (call after changing :data:`LAUNCH`)."""
    _CACHE.clear()


# LAUNCH entries that are compile-time constants of the kernels; the others
# are read at each launch, so changing them needs no recompilation.
_COMPILE_KEYS = ("tile", "gemm_reg", "reduce_threads")


def kernels(dtype):
    """The :class:`Launchers` for ``dtype`` (float32 or float64), built once."""
    dtype = np.dtype(dtype)
    consts = tuple(int(LAUNCH[k]) for k in _COMPILE_KEYS)
    key = (dtype.str, consts)
    ks = _CACHE.get(key)
    if ks is None:
        ks = _CACHE[key] = Launchers(dtype, *consts)
    return ks


def _ceil_div(a, b):
    return -(-a // b)


def _build(dtype, tile, reg, reduce_threads):
    """Every kernel of one dtype and launch configuration, by name."""
    out = {}
    out.update(_data.build(dtype))
    out.update(_gemm.build(dtype, tile, reg))
    out.update(_recurrence.build(dtype))
    out.update(_head.build(dtype, reduce_threads))
    out.update(_updates.build(dtype))
    return out


class Launchers:
    """The compiled kernels of one dtype with host-side launchers.

    Launchers take device arrays and write into preallocated outputs; they
    never copy to the host and never synchronise.
    """

    def __init__(self, dtype, tile, gemm_reg, reduce_threads):
        self.dtype = np.dtype(dtype)
        self.one = self.dtype.type(1)
        self.tile = tile
        self.gemm_reg = gemm_reg
        self.reduce_threads = reduce_threads
        self.k = _build(self.dtype, tile, gemm_reg, reduce_threads)
        self._placeholders = {}

    @property
    def launch(self):
        """The launch-time settings (live :data:`LAUNCH`)."""
        return LAUNCH

    # -- helpers ---------------------------------------------------------------

    def _go(self, name, grid, block, shared, *args):
        if LAUNCH_LOG is not None:
            LAUNCH_LOG.append((self.dtype.str, tuple(sorted(self.launch.items())), name, args))
        self.k[name][grid, block, 0, shared](*args)

    def _elementwise(self, n):
        tpb = int(self.launch["threads"])
        return max(1, min(_ceil_div(max(n, 1), tpb), int(self.launch["max_blocks"]))), tpb

    def cast(self, x):
        return self.dtype.type(x)

    # -- launchers -------------------------------------------------------------

    def gather_batch(self, values, vmask, idx, t0, noise, imask, use_noise, use_imask, X, M):
        grid, tpb = self._elementwise(X.size)
        args = (vmask, idx, int(t0), noise, imask, bool(use_noise), bool(use_imask), X, M)
        self._go("gather_batch", grid, tpb, 0, values, *args)

    def gather_tokens(self, ids, vmask, idx, t0, E, noise, imask, use_noise, use_imask, X, M):
        grid, tpb = self._elementwise(X.size)
        args = (idx, int(t0), E, noise, imask, bool(use_noise), bool(use_imask), X, M)
        self._go("gather_tokens", grid, tpb, 0, ids, vmask, *args)

    def rows_sum(self, dX2, pos, seg, out):
        grid, tpb = self._elementwise(out.size)
        self._go("rows_sum", grid, tpb, 0, dX2, pos, seg, out)

    def scatter_rows(self, src, rows, dense):
        grid, tpb = self._elementwise(src.size)
        self._go("scatter_rows", grid, tpb, 0, src, rows, dense)

    def fill(self, x, value):
        grid, tpb = self._elementwise(x.size)
        self._go("fill", grid, tpb, 0, x, self.cast(value))

    def adam_rows(self, p, g, rows, m, v, beta_1, beta_2, lr_t, eps, g_min, s_min):
        grid, tpb = self._elementwise(g.size)
        c = self.cast
        args = (c(beta_1), c(1 - beta_1), c(beta_2), c(1 - beta_2), c(-lr_t), c(eps))
        self._go("adam_rows", grid, tpb, 0, p, g, rows, m, v, *args, c(g_min), c(s_min))

    def pool_forward(self, out, mask, mode, pooled, arg, count):
        grid, tpb = self._elementwise(pooled.size)
        self._go("pool_forward", grid, tpb, 0, out, mask, int(mode), pooled, arg, count)

    def pool_backward(self, dpooled, mask, mode, arg, count, dH_seq):
        grid, tpb = self._elementwise(dpooled.size)
        self._go("pool_backward", grid, tpb, 0, dpooled, mask, int(mode), arg, count, dH_seq)

    def transpose(self, A, AT):
        grid, tpb = self._elementwise(A.size)
        self._go("transpose", grid, tpb, 0, A, AT)

    def apply_rmask(self, H, rmask, out):
        grid, tpb = self._elementwise(out.size)
        self._go("apply_rmask", grid, tpb, 0, H, rmask, out)

    def add_row_vector(self, C, v):
        grid, tpb = self._elementwise(C.size)
        self._go("add_row_vector", grid, tpb, 0, C, v)

    def take_features(self, src, c0, reverse, dst):
        grid, tpb = self._elementwise(dst.size)
        self._go("take_features", grid, tpb, 0, src, int(c0), bool(reverse), dst)

    def put_features(self, src, c0, reverse, dst):
        grid, tpb = self._elementwise(src.size)
        self._go("put_features", grid, tpb, 0, src, int(c0), bool(reverse), dst)

    def add_reversed(self, a, b):
        grid, tpb = self._elementwise(a.size)
        self._go("add_reversed", grid, tpb, 0, a, b)

    def add_into(self, x, y):
        grid, tpb = self._elementwise(x.size)
        self._go("add_into", grid, tpb, 0, x, y)

    def gather_rows(self, table, ids, out):
        grid, tpb = self._elementwise(out.size)
        self._go("gather_rows", grid, tpb, 0, table, ids, out)

    def gemm(self, A, B, C, ta=False, tb=False):
        """``C (M, N) = op(A) @ op(B)``."""
        tile = self.tile
        bt = tile * self.gemm_reg
        Mr, Nc = C.shape
        grid = (max(1, _ceil_div(Nc, bt)), max(1, _ceil_div(Mr, bt)))
        self._go("gemm", grid, (tile, tile), 0, A, B, C, bool(ta), bool(tb))

    def _recurrent_launch(self, B, U, n_shared):
        tx = max(1, min(int(self.launch["unit_threads"]), U))
        rows = self.launch["rows_per_block"] or 1
        rows = max(1, min(int(rows), B, 1024 // max(tx, 1)))
        item = self.dtype.itemsize
        while rows > 1 and n_shared * rows * U * item > _SHARED_LIMIT:
            rows -= 1
        shared = n_shared * rows * U * item
        if shared > _SHARED_LIMIT:
            raise ValueError(
                f"units={U} is too large for the CUDA kernels with dtype {self.dtype} "
                f"(they keep {n_shared} state vectors per sequence in 48 KiB of shared "
                "memory); use device='cpu' or dtype='float32'."
            )
        return _ceil_div(B, rows), (tx, rows), shared

    def check_units(self, U):
        """Raise ValueError when the recurrent kernels cannot take ``U`` units in this dtype."""
        self._recurrent("forward", 1, U)
        self._recurrent("backward", 1, U)

    def _recurrent(self, direction, B, U):
        """Kernel name, grid, block and shared bytes of the forward or backward recurrence."""
        split_name, rows_name, n_fixed, n_slice = _RECURRENT_KERNELS[direction]
        if self._variant() == "split":
            return self._split_launch(split_name, B, U, n_fixed, n_slice)
        return (rows_name,) + self._recurrent_launch(B, U, n_fixed)

    def _variant(self):
        v = self.launch.get("recurrent_variant") or "rows"
        if v not in _VARIANTS:
            raise ValueError(f"LAUNCH['recurrent_variant'] must be one of {_VARIANTS}, got {v!r}")
        return v

    def _split_launch(self, kernel, B, U, n_fixed, n_slice):
        """Kernel name, grid, block and shared bytes of the split-k kernels.

        ``split_rows`` (1, 2 or 4; at most ``B``) sequences per block; shared
        memory holds ``(n_fixed + n_slice * k_split) * split_rows`` vectors of
        ``U``; ``k_split`` (then ``split_rows``) is lowered to fit the thread
        and shared-memory limits.
        """
        tx = max(1, min(int(self.launch["unit_threads"]), U))
        ks = max(1, min(int(self.launch.get("k_split") or 1), U, _SPLIT_MAX_THREADS // tx))
        want = min(int(self.launch.get("split_rows") or 1), max(B, 1))
        rb = max(r for r in _SPLIT_ROWS if r <= max(want, 1))
        item = self.dtype.itemsize

        def size():
            return (n_fixed + n_slice * ks) * rb * U * item

        while size() > _SHARED_LIMIT and (ks > 1 or rb > 1):
            if ks > 1:
                ks -= 1
            else:
                rb = max(r for r in _SPLIT_ROWS if r < rb)
        if size() > _SHARED_LIMIT:
            raise ValueError(
                f"units={U} is too large for the CUDA kernels with dtype {self.dtype} "
                f"(they keep {n_fixed + n_slice} vectors per sequence in 48 KiB of shared "
                "memory); use device='cpu' or dtype='float32'."
            )
        name = kernel + ("_small" if tx * ks <= _SPLIT_SMALL_THREADS else "")
        name += "" if rb == 1 else f"_r{rb}"
        return name, _ceil_div(B, rb), (tx, ks), size()

    def gru_forward(self, X, mask, W, R, bias, h0, rmask, reset_after, H, S, A):
        """Same arguments as :func:`skgru.kernels.cpu._gru.gru_forward` (device arrays).

        ``bias`` is ``(2, 3U)`` or, with ``reset_after=False``, ``(3U,)``;
        ``rmask`` of shape ``(0, U)`` or None means no recurrent dropout;
        ``S`` of shape ``(0, ...)`` or None means inference. ``h0`` None means
        a zero initial state (written by the kernel, no extra copy). ``X``
        None means ``A`` already holds the input projections.
        """
        T, B = mask.shape
        U = R.shape[0]
        if X is not None:
            self.gemm(X.reshape(T * B, X.shape[2]), W, A.reshape(T * B, 3 * U))
        b_i, b_h = (bias[0], bias[1]) if bias.ndim == 2 else (bias, bias)
        if h0 is not None:
            H[0].copy_to_device(h0)
        zero_h0 = h0 is None
        use_rmask = rmask is not None and rmask.shape[0] > 0
        store = S is not None and S.shape[0] > 0
        name, grid, block, shared = self._recurrent("forward", B, U)
        self._go(
            name,
            grid,
            block,
            shared,
            A,
            mask,
            R,
            b_i,
            b_h,
            rmask if use_rmask else self.placeholder(2),
            use_rmask,
            bool(reset_after),
            store,
            zero_h0,
            H,
            S if store else self.placeholder(3),
            self.one,
        )

    def gru_backward_steps(self, mask, RT, rmask, reset_after, H, S, dH_seq, G, dA, dM, dbp):
        B, U = G.shape
        use_rmask = rmask is not None and rmask.shape[0] > 0
        has_seq = dH_seq is not None and dH_seq.shape[0] > 0
        name, grid, block, shared = self._recurrent("backward", B, U)
        self._go(
            name,
            grid,
            block,
            shared,
            mask,
            RT,
            rmask if use_rmask else self.placeholder(2),
            use_rmask,
            bool(reset_after),
            H,
            S,
            dH_seq if has_seq else self.placeholder(3),
            has_seq,
            G,
            dA,
            dM,
            dbp,
            self.one,
        )

    def sum_rows(self, P, out):
        """``out[j] = sum_i P[i, j]``, rows in order, one launch."""
        n = out.shape[0]
        tpb = min(int(self.launch["threads"]), 128)
        self._go("sum_rows", _ceil_div(n, tpb), tpb, 0, P, P.shape[0], out)

    def sumsq_segments(self, x, starts, lengths, out):
        self._go(
            "sumsq_segments",
            starts.shape[0],
            self.reduce_threads,
            0,
            x,
            starts,
            lengths,
            out,
        )

    def head_step(
        self, pooled, Wd, bd, Y, w, idx, w_sum, mode, alpha, pnorms,
        logits, dlogits, row_loss, gWd, gbd, dpooled, acc,
    ):  # fmt: skip
        self._go(
            "head_step", 1, int(self.launch["threads"]), 0,
            pooled, Wd, bd, Y, w, idx, float(w_sum), int(mode), float(alpha), pnorms,
            logits, dlogits, row_loss, gWd, gbd, dpooled, acc,
        )  # fmt: skip

    def axpy(self, y, x, a):
        grid, tpb = self._elementwise(y.size)
        self._go("axpy", grid, tpb, 0, y, x, self.cast(a))

    def clip_by_norm(self, g, starts, lengths, norms, c):
        grid, tpb = self._elementwise(g.size)
        self._go("clip_by_norm", grid, tpb, 0, g, starts, lengths, norms, float(c))

    def clip_global(self, g, starts, lengths, norms, c):
        grid, tpb = self._elementwise(g.size)
        self._go("clip_global", grid, tpb, 0, g, starts, lengths, norms, float(c))

    def clip_value(self, g, c):
        grid, tpb = self._elementwise(g.size)
        self._go("clip_value", grid, tpb, 0, g, self.cast(c))

    def adam(self, p, g, m, v, beta_1, beta_2, lr_t, eps):
        grid, tpb = self._elementwise(p.size)
        c = self.cast
        self._go(
            "adam_update",
            grid,
            tpb,
            0,
            p,
            g,
            m,
            v,
            c(beta_1),
            c(1 - beta_1),
            c(beta_2),
            c(1 - beta_2),
            c(-lr_t),
            c(eps),
        )

    def sgd(self, p, g, vel, momentum, lr, nesterov):
        grid, tpb = self._elementwise(p.size)
        c = self.cast
        self._go("sgd_update", grid, tpb, 0, p, g, vel, c(momentum), c(lr), bool(nesterov))

    def rmsprop(self, p, g, vel, momb, rho, lr, eps, momentum):
        grid, tpb = self._elementwise(p.size)
        c = self.cast
        use_m = momentum > 0
        self._go(
            "rmsprop_update",
            grid,
            tpb,
            0,
            p,
            g,
            vel,
            momb if use_m else vel,
            c(rho),
            c(1 - rho),
            c(lr),
            c(eps),
            c(momentum),
            bool(use_m),
        )

    def constrain_norm(self, w2, by_row, kind, lo, hi, rate, eps):
        nvec = w2.shape[0] if by_row else w2.shape[1]
        tpb = min(int(self.launch["threads"]), 128)
        c = self.cast
        self._go(
            "constrain_norm",
            _ceil_div(max(nvec, 1), tpb),
            tpb,
            0,
            w2,
            bool(by_row),
            int(kind),
            c(lo),
            c(hi),
            c(rate),
            c(1 - rate),
            c(eps),
        )

    def nonneg(self, x):
        grid, tpb = self._elementwise(x.size)
        self._go("nonneg", grid, tpb, 0, x)

    # -- placeholders for optional inputs ---------------------------------------

    def placeholder(self, ndim):
        """A one-element ``ndim``-D device array standing in for an absent optional input."""
        d = self._placeholders.get(ndim)
        if d is None:
            d = self._placeholders[ndim] = cuda.to_device(np.zeros((1,) * ndim, dtype=self.dtype))
        return d
