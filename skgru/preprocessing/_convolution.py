"""A fixed convolutional front-end: dilated convolutions, biases and pooling.

A GRU reads a long series one step at a time, and on small training sets it
learns local shapes (a peak, a slope, a notch) slowly and unreliably. This
transformer turns each series into a shorter sequence of local-shape
detectors that the GRU then aggregates over time:

1. every channel is convolved with the 84 kernels of length 9 of MiniRocket
   (Dempster, Schmidt and Webb, 2021): weight 2 at three of the nine taps,
   -1 at the other six, so each kernel sums to zero and responds to shape,
   not level; each kernel is applied at several dilations (taps ``d`` steps
   apart), so that short and long shapes are both seen; the series is
   padded with zeros (its mean, after z-normalisation) so that the output
   has the input's length;
2. a bias drawn in ``fit`` (a random quantile, between the 10th and 90th
   percentile, of that kernel's responses on the training series) is
   subtracted;
3. consecutive steps are pooled in blocks of ``pool_size``, which shortens
   the sequence by that factor: by default each block gives the proportion
   of its steps where the response exceeds the bias (MiniRocket's "PPV",
   how much of the block looks like the kernel's shape); ``pooling="max"``
   gives the largest rectified response instead (how strongly the shape
   occurs at best);
4. each output channel is standardised with its training mean and
   standard deviation, the scale the GRU's gates are initialised for.

Nothing here is learnt by gradient descent; the GRU that follows learns
which detectors matter and how they combine over time. With several input
channels, each kernel reads the sum of a random subset of the channels (as
MiniRocket does), so the output width does not grow with the channel count.
"""

import itertools
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import _SequenceTransformer

__all__ = ["DilatedConvolutions"]

# Taps with weight 2 of each of the 84 kernels (the other six weigh -1).
_TWOS = np.array(list(itertools.combinations(range(9), 3)), dtype=np.intp)
# Sequences convolved at once: bounds the (9, chunk, T, kernels) work array.
_CHUNK_STEPS = 1 << 18
# pool_size="auto" leaves about this many steps. With 3-fold CV on the training
# splits of seven UCR/UEA sets it beat 40 steps (and 4 geometric dilations) on
# mean accuracy, mostly on the longest set (benchmarks/NOTES.md, "Accuracy on
# real data").
_AUTO_STEPS = 80.0


def _auto_dilations(length, max_dilations):
    """Powers of two from 1, at most ``max_dilations`` of them, up to (T - 1) / 8.

    At (T - 1) / 8 a kernel's nine taps span the whole sequence, as MiniRocket's
    largest dilation does; powers of two cover every scale in between.
    """
    top = max(1.0, (length - 1) / 8.0)
    return tuple(2**k for k in range(max_dilations) if 2**k <= top)


def _convolve(values, dilation, kernels, channel_mask):
    """Responses of the chosen kernels at one dilation, ``(n, T, n_kernels)`` float64.

    With the weights -1 and 2 a response is ``3 * (sum of the three weight-2
    taps) - (sum of all nine taps)``, so the nine shifted copies of the input
    are formed once and every kernel is a few additions.
    """
    n, T, _ = values.shape
    pad = 4 * dilation
    # Channel sums per kernel first: the convolution is linear in the input.
    mixed = values.astype(np.float64) @ channel_mask.T  # (n, T, n_kernels)
    padded = np.zeros((n, T + 2 * pad, mixed.shape[2]))
    padded[:, pad : pad + T] = mixed
    taps = np.stack([padded[:, k * dilation : k * dilation + T] for k in range(9)])
    total = taps.sum(axis=0)
    twos = _TWOS[kernels]  # (n_kernels, 3)
    cols = np.arange(len(kernels))
    out = -total
    for j in range(3):
        out += 3.0 * taps[twos[:, j], :, :, cols].transpose(1, 2, 0)
    return out


def _max_pool(h, pool_size):
    """Max over blocks of ``pool_size`` steps; a last, shorter block keeps its own maximum."""
    n, T, C = h.shape
    n_out = -(-T // pool_size)
    full = np.full((n, n_out * pool_size, C), -np.inf)
    full[:, :T] = h
    return full.reshape(n, n_out, pool_size, C).max(axis=2)


def _mean_pool(h, pool_size):
    """Mean over blocks of ``pool_size`` steps; a last, shorter block averages its own steps."""
    n, T, C = h.shape
    n_out = -(-T // pool_size)
    full = np.zeros((n, n_out * pool_size, C))
    full[:, :T] = h
    counts = np.full(n_out, float(pool_size))
    counts[-1] = T - (n_out - 1) * pool_size
    return full.reshape(n, n_out, pool_size, C).sum(axis=2) / counts[:, None]


class DilatedConvolutions(_SequenceTransformer):
    """Fixed dilated convolutions, biases and pooling in front of a GRU.

    Turns each series into a shorter sequence of local-shape detectors: the
    84 length-9 kernels of MiniRocket at several dilations, a bias drawn from
    the training responses, pooling over blocks of ``pool_size`` steps (the
    proportion of positive values, or the maximum after a ReLU) and a
    per-channel standardisation. A GRU on this sequence learns how the
    detected shapes follow each other, which is much easier than learning
    the shapes from raw values on a small training set. Apply it after
    :class:`SequenceScaler` (per-sequence z-normalisation).

    Ragged sequences are convolved on their own steps (zero padding at both
    ends of each sequence, as for an equal-length one), so the result of a
    sequence does not depend on the others.

    Parameters
    ----------
    dilations : "auto" or tuple of int, default="auto"
        Tap spacings. ``"auto"``: the powers of two 1, 2, 4, ... up to
        ``(T - 1) / 8``, ``T`` the median training length (at that spacing
        the widest kernel spans the sequence), and at most ``max_dilations``
        of them.

    max_dilations : int, default=8
        Number of dilations ``"auto"`` chooses at most (8: up to 128, so
        that on series of up to about 1,000 steps the widest kernel spans
        the series, as MiniRocket's widest does).

    n_kernels : int in [1, 84], default=84
        Kernels used at each dilation: all 84, or a random subset.

    pool_size : "auto" or int, default="auto"
        Steps pooled into one output step. ``"auto"``: the median
        training length divided by 80, rounded up, so that the GRU sees
        about 80 steps whatever the series length.

    pooling : {"ppv", "max"}, default="ppv"
        What a block of ``pool_size`` steps gives for each detector:
        ``"ppv"``, the proportion of its steps where the response exceeds
        the bias (MiniRocket's pooling: how much of the block has the
        shape), or ``"max"``, the largest response above the bias, cut at
        zero (how strongly the shape occurs at best). With 3-fold CV on the
        training splits of seven UCR/UEA sets, ``"ppv"`` was ahead on mean
        accuracy, by most on the longest series.

    random_state : int, RandomState instance or None, default=None
        Seeds the bias quantiles, the kernel subset and the channel subsets.

    Attributes
    ----------
    dilations_ : tuple of int
        The dilations used.

    pool_size_ : int
        The pooling factor used.

    kernels_ : ndarray of shape (n_dilations, n_kernels)
        Index (0-83) of each kernel used at each dilation.

    channel_masks_ : ndarray of shape (n_dilations, n_kernels, n_step_features_)
        The input channels each kernel sums.

    biases_ : ndarray of shape (n_dilations, n_kernels)
        The bias subtracted from each response before pooling.

    mean_, scale_ : ndarray of shape (n_output_features_,)
        Training mean and standard deviation of each pooled channel.

    n_output_features_ : int
        Features per output step, ``n_dilations * n_kernels``.

    n_features_in_ : int
        Features per step of the input (columns for a 2-D input).

    n_step_features_ : int
        Features per step of the input.

    References
    ----------
    Dempster, A., Schmidt, D. F. and Webb, G. I. (2021). MiniRocket: a very
    fast (almost) deterministic transform for time series classification.
    KDD '21, 248-257.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru.preprocessing import DilatedConvolutions
    >>> X = np.random.default_rng(0).normal(size=(8, 120, 1))
    >>> conv = DilatedConvolutions(random_state=0).fit(X)
    >>> conv.dilations_, conv.pool_size_
    ((1, 2, 4, 8), 2)
    >>> conv.transform(X).shape
    (8, 60, 336)
    """

    _parameter_constraints = {
        "dilations": [StrOptions({"auto"}), tuple, list],
        "max_dilations": [Interval(Integral, 1, None, closed="left")],
        "n_kernels": [Interval(Integral, 1, 84, closed="both")],
        "pool_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions({"ppv", "max"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        dilations="auto",
        max_dilations=8,
        n_kernels=84,
        pool_size="auto",
        pooling="ppv",
        random_state=None,
    ):
        self.dilations = dilations
        self.max_dilations = max_dilations
        self.n_kernels = n_kernels
        self.pool_size = pool_size
        self.pooling = pooling
        self.random_state = random_state

    def _check_params(self):
        if not isinstance(self.dilations, str):
            d = list(self.dilations)
            if not d or not all(isinstance(v, Integral) and v >= 1 for v in d):
                raise ValueError(
                    f"dilations must be 'auto' or a non-empty tuple of ints >= 1, "
                    f"got {self.dilations!r}."
                )

    def _responses(self, values, i):
        """Biased and pooled responses at dilation ``i`` (before scaling)."""
        n, T, _ = values.shape
        chunk = max(1, _CHUNK_STEPS // max(1, T * self.kernels_.shape[1]))
        out = []
        for s in range(0, n, chunk):
            z = _convolve(
                values[s : s + chunk], self.dilations_[i], self.kernels_[i], self.channel_masks_[i]
            )
            above = z - self.biases_[i]
            if self.pooling == "ppv":
                out.append(_mean_pool((above > 0.0).astype(np.float64), self.pool_size_))
            else:
                out.append(_max_pool(np.maximum(above, 0.0), self.pool_size_))
        return np.concatenate(out)

    def _fit_values(self, values, lengths):
        rng = check_random_state(self.random_state)
        n, T, F = values.shape
        L = np.full(n, T) if lengths is None else np.asarray(lengths)
        median = float(np.median(L))
        if isinstance(self.dilations, str):
            self.dilations_ = _auto_dilations(median, self.max_dilations)
        else:
            self.dilations_ = tuple(int(v) for v in self.dilations)
        if isinstance(self.pool_size, str):
            self.pool_size_ = max(1, int(np.ceil(median / _AUTO_STEPS)))
        else:
            self.pool_size_ = int(self.pool_size)
        n_dil, k = len(self.dilations_), self.n_kernels
        self.kernels_ = np.stack(
            [np.sort(rng.choice(84, size=k, replace=False)) for _ in range(n_dil)]
        )
        masks = np.zeros((n_dil, k, F))
        for i in range(n_dil):
            for j in range(k):
                size = rng.randint(1, F + 1) if F > 1 else 1
                masks[i, j, rng.choice(F, size=size, replace=False)] = 1.0
        self.channel_masks_ = masks
        # Bias quantiles from at most 200 training series: enough to place a
        # quantile, and fit costs about one transform of the training set.
        sample = rng.choice(n, size=min(n, 200), replace=False)
        levels = rng.uniform(0.1, 0.9, size=(n_dil, k))
        self.biases_ = np.zeros((n_dil, k))
        for i in range(n_dil):
            resp = [
                _convolve(
                    values[m : m + 1, : L[m]], self.dilations_[i], self.kernels_[i], masks[i]
                )[0]
                for m in sample
            ]
            resp = np.concatenate(resp)
            for j in range(k):
                self.biases_[i, j] = np.quantile(resp[:, j], levels[i, j])
        self.n_output_features_ = n_dil * k
        pooled = [self._pooled(values[m : m + 1, : L[m]])[0] for m in range(n)]
        steps = np.concatenate(pooled)
        std = steps.std(axis=0)
        self.mean_ = steps.mean(axis=0)
        self.scale_ = np.where(std < 1e-8, 1.0, std)

    def _pooled(self, values):
        return np.concatenate(
            [self._responses(values, i) for i in range(len(self.dilations_))], axis=2
        )

    def _transform_values(self, values):
        out = (self._pooled(values) - self.mean_) / self.scale_
        return out.astype(values.dtype, copy=False)

    def transform(self, X):
        """Convolve, subtract the biases, pool and standardise each sequence.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps, n_features) or (n_samples, \
n_timesteps), or list of arrays of shape (T_i, n_features) or (T_i,)
            Sequences, in any format that :class:`~skgru.ConstrainedGRUClassifier`
            accepts.

        Returns
        -------
        X_new : ndarray of shape (n_samples, ceil(n_timesteps / pool_size_), \
n_output_features_), or list of ndarrays of shape (ceil(T_i / pool_size_), n_output_features_)
            The pooled detector responses; a list for ragged input.
        """
        check_is_fitted(self, "biases_")
        return self._transform(X)
