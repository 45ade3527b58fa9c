"""Exact step-by-step prediction on live sequences.

:class:`GRUStream` carries a fitted estimator's GRU states from one call to
the next, for a batch of streams: feed it one step, or a chunk of steps, per
stream, and it returns what :meth:`predict_proba` (or ``predict``, or
``transform``) would return for each stream's whole prefix so far, without
running the prefix again. On the CPU the result is bitwise that of the
estimator on the prefix: inference computes every sequence's row with the
same arithmetic whatever the batch and its length (row-wise products, see
:func:`skgru.kernels.cpu._gru.matmul_rowwise`), so carrying the state over
a chunk boundary changes no bit, and the pooled statistics are carried as
the running quantities the batch computation reduces:

* ``pooling="last"``: the top layer's state;
* ``pooling="mean"``: the running sum of the states over valid steps, added
  in step order as the batch sum is, and the count of valid steps;
* ``pooling="max"``: the running maximum over valid steps.

Row-wise products give a row the same bits wherever it sits when the BLAS
does (OpenBLAS on the Intel machines the kernels were tuned on; on some AMD
hosts its float32 kernels round a row of the larger products by its position
in a block). Streams fed in the order of the batch they are compared with
sit at the same rows, so they match bitwise on any host; on such a host a
stream fed at another row (``streams=``, or a prefix batch sorted by length)
can differ from the batch in the last bit.

A bidirectional model cannot be streamed: its backward direction reads each
sequence from its end, so its state after step ``t`` depends on steps that
have not arrived. It is refused rather than approximated.
"""

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from .kernels._interface import Batch
from .kernels.cpu._kernel_set import CPUKernelSet
from .model._network import head_proba, split_params

__all__ = ["GRUStream"]


class GRUStream:
    """Carry a fitted GRU estimator's states across calls, for ``n_streams`` sequences.

    Each call reads the next steps of every stream (or of the streams named
    by ``streams``) and returns the prediction for each stream's prefix up to
    its last step so far: bitwise the value the estimator returns for the
    whole prefix on the CPU, for every unidirectional architecture (stacked
    layers, either ``reset_after``, any ``pooling``, token input).
    Bidirectional models are refused (see the module docstring).

    Parameters
    ----------
    estimator : fitted ConstrainedGRUClassifier or ConstrainedGRURegressor
        A unidirectional model. Its weights at this call are used; a later
        refit of the estimator does not change this stream.
    n_streams : int, default=1
        Number of sequences followed at once.

    Attributes
    ----------
    n_steps_ : ndarray of shape (n_streams,)
        Valid steps each stream has read since it was started or reset
        (masked steps, such as token id 0, are not counted).

    Notes
    -----
    A chunk is what ``predict`` accepts for the estimator, with one row per
    stream: a 3-D array ``(n_streams, k, n_features)``, a list of ``(k_i,
    n_features)`` arrays (chunks of different lengths), token ids ``(n_streams,
    k)`` or a list of id lists for a model with an embedding. A 2-D numeric
    array is ``k`` steps of a univariate model, or one step ``(n_streams,
    n_features)`` of a multivariate one; a 1-D array of token ids is one token
    per stream. The arithmetic runs on the CPU only: an estimator with
    ``device="cuda"`` is refused.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru import ConstrainedGRUClassifier, GRUStream
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 12, 2))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = ConstrainedGRUClassifier(units=8, max_iter=5, random_state=0).fit(X, y)
    >>> stream = GRUStream(clf, n_streams=3)
    >>> for t in range(12):
    ...     proba = stream.predict_proba(X[:3, t])     # one step of each stream
    >>> bool(np.array_equal(proba, clf.predict_proba(X[:3])))
    True
    >>> bool(np.array_equal(stream.predict_proba(X[:3, :2]),   # two more steps
    ...                     clf.predict_proba(np.concatenate([X[:3], X[:3, :2]], axis=1))))
    True
    """

    def __init__(self, estimator, n_streams=1):
        check_is_fitted(estimator, "_weights")
        if getattr(estimator, "bidirectional", False):
            raise ValueError(
                "A bidirectional model cannot be streamed exactly: its backward direction "
                "reads each sequence from its end, so the state after step t depends on steps "
                "that have not arrived. Predict on the whole prefix instead, or stream a model "
                "fitted with bidirectional=False."
            )
        if estimator.device == "cuda":
            raise ValueError(
                "GRUStream runs on the CPU only; set the estimator's device to 'cpu' (its "
                "fitted weights are NumPy arrays)."
            )
        if int(n_streams) != n_streams or n_streams < 1:
            raise ValueError(f"n_streams must be a positive integer, got {n_streams!r}.")
        self.estimator = estimator
        self.n_streams = int(n_streams)
        self._weights = list(estimator._weights)
        self._config = estimator._train_config()
        self._dtype = np.dtype(self._weights[-1].dtype)
        self._ks = CPUKernelSet(self._dtype, self._config.n_threads)
        E, blocks, Wd, bd = split_params(
            self._weights, self._config.embedding, self._config.num_layers, False
        )
        self._E, self._blocks, self._Wd, self._bd = E, [b[0] for b in blocks], Wd, bd
        self.reset()

    # -- state -------------------------------------------------------------------

    def reset(self, streams=None):
        """Start the given streams (all with None) afresh, as empty sequences.

        Parameters
        ----------
        streams : array-like of int or None, default=None
            Indices of the streams to reset.

        Returns
        -------
        self : GRUStream
        """
        rows = self._rows(streams)
        n, C = self.n_streams, self._Wd.shape[0]
        if streams is None:
            self._h = [np.zeros((n, R.shape[0]), dtype=self._dtype) for _, R, _ in self._blocks]
            self._sum = np.zeros((n, C), dtype=self._dtype)
            self._max = np.full((n, C), -np.inf, dtype=self._dtype)
            self.n_steps_ = np.zeros(n, dtype=np.int64)
            return self
        for h in self._h:
            h[rows] = 0
        self._sum[rows] = 0
        self._max[rows] = -np.inf
        self.n_steps_[rows] = 0
        return self

    def _rows(self, streams):
        if streams is None:
            return np.arange(self.n_streams)
        rows = np.asarray(streams)
        if rows.ndim != 1 or rows.dtype.kind not in "iu":
            raise ValueError("streams must be a 1-D array of integer stream indices.")
        if rows.size and (rows.min() < -self.n_streams or rows.max() >= self.n_streams):
            raise ValueError(f"streams must be indices in [0, {self.n_streams}), got {rows}.")
        rows = rows % self.n_streams
        if len(np.unique(rows)) != len(rows):
            raise ValueError("streams must not repeat an index.")
        return rows

    # -- reading steps -----------------------------------------------------------------

    def _as_chunk(self, X):
        """Shape conveniences of the class docstring, then the estimator's own validation."""
        est = self.estimator
        if isinstance(X, np.ndarray) or (not isinstance(X, (list, tuple)) and hasattr(X, "shape")):
            a = np.asarray(X)
            if est.embedding_dim is not None:
                # Rows as id lists: a 2-D id array must have the fitted width.
                X = list(a[:, None] if a.ndim == 1 else a)
            elif est.embedding_dim is None and a.ndim == 2:
                X = a[:, :, None] if est.n_step_features_ == 1 else a[:, None, :]
                if est.data_format == "channels_first":  # the estimator swaps it back
                    X = np.swapaxes(X, 1, 2)
        return est._validate_X(X, reset=False)

    def _advance(self, X, streams, every_step):
        """Read one chunk; return the pooled states after its last step, or after each step."""
        seqs = self._as_chunk(X)
        rows = self._rows(streams)
        if seqs.n_samples != len(rows):
            raise ValueError(
                f"The chunk has {seqs.n_samples} rows, but {len(rows)} streams are being fed "
                f"(n_streams={self.n_streams}, streams={streams!r}); give one row per stream."
            )
        ks, cfg = self._ks, self._config
        # Time-major and untrimmed, so that every step of the chunk has its output.
        mask = np.ascontiguousarray(seqs.mask.T)
        T, B = mask.shape
        values = np.ascontiguousarray(np.swapaxes(seqs.values, 0, 1))
        with ks.session():
            if self._E is not None:
                layer_in = ks.embed(self._E, Batch(None, mask, T, B, ids=values))
            else:
                layer_in = values.astype(self._dtype, copy=False)
            for l, (W, R, bias) in enumerate(self._blocks):
                run = ks.layer_forward(
                    layer_in, mask, W, R, bias, None, cfg.reset_after, False, ("stream", l),
                    h0=self._h[l][rows],
                )  # fmt: skip
                self._h[l][rows] = run.H[T]
                layer_in = run.H[1:]
            out = np.ascontiguousarray(layer_in)
            steps = self._pool_steps(out, mask.astype(bool), rows, every_step)
        self.n_steps_[rows] += seqs.mask.sum(axis=1).astype(np.int64)
        return steps

    def _pool_steps(self, out, valid, rows, every_step):
        """Update the running pooled statistics; the pooled states after each step, or the last."""
        pooling = self._config.pooling
        h = self._h[-1][rows]
        T = out.shape[0]
        if pooling == "last":
            if not every_step:
                return h
            return out  # a masked step carries the state over, as the batch does
        acc = self._sum[rows] if pooling == "mean" else self._max[rows]
        count = self.n_steps_[rows].copy()
        pooled = np.empty(out.shape if every_step else out.shape[1:], dtype=self._dtype)
        for t in range(T):
            v = valid[t][:, None]
            if pooling == "mean":
                # The batch sums where(valid, out, 0) over the steps in step order.
                acc = acc + np.where(v, out[t], 0)
            else:
                acc = np.where(v & (out[t] > acc), out[t], acc)
            count += valid[t]
            if every_step or t == T - 1:
                pooled[t if every_step else ...] = self._finish(acc, count)
        if T == 0:
            pooled = self._finish(acc, count)
        if pooling == "mean":
            self._sum[rows] = acc
        else:
            self._max[rows] = acc
        return pooled

    def _finish(self, acc, count):
        """The pooled state from the running statistics, as the batch's ``pool`` gives it."""
        if self._config.pooling == "mean":
            counts = np.maximum(count, 1).astype(self._dtype)[:, None]
            return (acc / counts).astype(self._dtype)
        return np.where((count > 0)[:, None], acc, 0).astype(self._dtype)

    def _outputs(self, pooled):
        """Logits for pooled states of any leading shape (row-wise, as prediction)."""
        lead = pooled.shape[:-1]
        flat = np.ascontiguousarray(pooled.reshape(-1, pooled.shape[-1]))
        logits = self._ks.logits(flat, self._Wd, self._bd)
        return logits, lead

    # -- predictions -----------------------------------------------------------------

    def transform(self, X, *, streams=None, every_step=False):
        """Read the next steps; return the pooled states (the estimator's ``transform``).

        Parameters
        ----------
        X : array-like or list
            The next steps of each stream (see the class Notes).
        streams : array-like of int or None, default=None
            Which streams the rows of ``X`` continue (all, in order, with None).
        every_step : bool, default=False
            Return the states after each step of the chunk, ``(n_rows, k,
            n_states)``, instead of after its last step only.

        Returns
        -------
        states : ndarray of shape (n_rows, n_states) or (n_rows, k, n_states)
        """
        pooled = self._advance(X, streams, every_step)
        return np.swapaxes(pooled, 0, 1).copy() if every_step else pooled.copy()

    def predict_proba(self, X, *, streams=None, every_step=False):
        """Read the next steps; return the class probabilities of each prefix.

        Parameters
        ----------
        X : array-like or list
            The next steps of each stream (see the class Notes).
        streams : array-like of int or None, default=None
            Which streams the rows of ``X`` continue (all, in order, with None).
        every_step : bool, default=False
            Return the probabilities after each step of the chunk, ``(n_rows,
            k, n_classes)``; on a masked step they carry over.

        Returns
        -------
        proba : ndarray of shape (n_rows, n_classes) or (n_rows, k, n_classes)
            Bitwise ``estimator.predict_proba`` of each stream's prefix so far.
        """
        if not is_classifier(self.estimator):
            raise AttributeError("predict_proba is available for classifiers only.")
        logits, lead = self._outputs(self._advance(X, streams, every_step))
        proba = head_proba(logits, self.estimator.out_activation_)
        proba = proba.reshape(lead + proba.shape[-1:])
        return np.swapaxes(proba, 0, 1).copy() if every_step else proba

    def predict(self, X, *, streams=None, every_step=False):
        """Read the next steps; return ``estimator.predict`` of each prefix.

        Parameters
        ----------
        X : array-like or list
            The next steps of each stream (see the class Notes).
        streams : array-like of int or None, default=None
            Which streams the rows of ``X`` continue (all, in order, with None).
        every_step : bool, default=False
            Predict after each step of the chunk (a leading ``k`` axis after
            the rows).

        Returns
        -------
        y : ndarray of shape (n_rows,) or (n_rows, k) (``n_outputs`` last for
            a multi-output regressor, ``n_labels`` for multilabel)
        """
        est = self.estimator
        if is_classifier(est):
            proba = self.predict_proba(X, streams=streams, every_step=every_step)
            flat = proba.reshape(-1, proba.shape[-1])
            labels = est._labels_from_proba(flat)
            return labels.reshape(proba.shape[:-1] + labels.shape[1:])
        logits, lead = self._outputs(self._advance(X, streams, every_step))
        pred = logits.astype(np.float64).reshape(lead + logits.shape[-1:])
        if every_step:
            pred = np.swapaxes(pred, 0, 1)
        return pred[..., 0].copy() if est._y_ndim == 1 else pred.copy()
