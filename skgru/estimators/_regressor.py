"""The GRU regressor: the classifier's network with an identity head and squared error."""

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import _check_sample_weight

from ._base import _BaseGRU

__all__ = ["ConstrainedGRURegressor"]


class ConstrainedGRURegressor(RegressorMixin, _BaseGRU):
    """GRU regressor with weight, noise and gradient constraints.

    The same network, inputs and parameters as
    :class:`~skgru.ConstrainedGRUClassifier` (except ``class_weight``), with a
    linear output layer on the pooled state and half the mean squared error as
    the loss (``MLPRegressor``'s). Targets may have one or several outputs.
    Early stopping scores the held-out split with R^2.

    Parameters
    ----------
    units, reset_after, dropout, recurrent_dropout, input_noise, \
kernel_constraint, recurrent_constraint, bias_constraint, clipnorm, clipvalue, \
global_clipnorm, alpha, solver, learning_rate, learning_rate_init, momentum, \
nesterovs_momentum, beta_1, beta_2, epsilon, batch_size, max_iter, shuffle, \
random_state, tol, early_stopping, validation_fraction, n_iter_no_change, \
warm_start, dtype, device, n_jobs, verbose, embedding_dim, vocab_size, \
embedding_constraint, sparse_embeddings, pooling, num_layers, bidirectional, \
embedding_init, embedding_trainable, data_format
        As in :class:`~skgru.ConstrainedGRUClassifier`.

    Attributes
    ----------
    n_outputs_ : int
        Number of targets.
    out_activation_ : str
        Always ``"identity"``.
    loss_, loss_curve_, best_loss_, validation_scores_, \
best_validation_score_, n_iter_, t_, n_features_in_, n_step_features_
        As in :class:`~skgru.ConstrainedGRUClassifier` (validation scores are
        R^2).

    Examples
    --------
    >>> import numpy as np
    >>> from skgru import ConstrainedGRURegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(64, 6, 1))
    >>> y = X.sum(axis=(1, 2))
    >>> reg = ConstrainedGRURegressor(units=8, max_iter=5, random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    def __init__(
        self,
        units=32,
        reset_after=True,
        dropout=0.0,
        recurrent_dropout=0.0,
        input_noise=0.0,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        alpha=0.0,
        solver="adam",
        learning_rate="constant",
        learning_rate_init=1e-3,
        momentum=0.9,
        nesterovs_momentum=True,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        batch_size="auto",
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        warm_start=False,
        dtype="float32",
        device="auto",
        n_jobs=None,
        verbose=0,
        embedding_dim=None,
        vocab_size=None,
        embedding_constraint=None,
        sparse_embeddings=True,
        pooling="last",
        num_layers=1,
        bidirectional=False,
        embedding_init=None,
        embedding_trainable=True,
        data_format="channels_last",
    ):
        self.units = units
        self.reset_after = reset_after
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.input_noise = input_noise
        self.kernel_constraint = kernel_constraint
        self.recurrent_constraint = recurrent_constraint
        self.bias_constraint = bias_constraint
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.alpha = alpha
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.dtype = dtype
        self.device = device
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.embedding_dim = embedding_dim
        self.vocab_size = vocab_size
        self.embedding_constraint = embedding_constraint
        self.sparse_embeddings = sparse_embeddings
        self.pooling = pooling
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.embedding_init = embedding_init
        self.embedding_trainable = embedding_trainable
        self.data_format = data_format

    def _out_activation(self):
        return "identity"

    def _validate_targets(self, y, n_samples):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError):
                raise ValueError(
                    f"y must be numeric for a regressor, got dtype {y.dtype}."
                ) from None
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}.")
        if len(y) != n_samples:
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: "
                f"[{n_samples}, {len(y)}]"
            )
        y = y.astype(np.float64)
        if not np.isfinite(y).all():
            raise ValueError("Input y contains NaN or infinity.")
        return y

    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Fit the model to sequences ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences, as in :meth:`ConstrainedGRUClassifier.fit`.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples' losses.
        validation_data : tuple (X_val, y_val), default=None
            Held-out data for early stopping and ``validation_scores_``.

        Returns
        -------
        self : object
        """
        self._validate_params()
        return self._transactional(
            self._fit_regressor, X, y, sample_weight, validation_data, incremental=False
        )

    def partial_fit(self, X, y, sample_weight=None):
        """Run one epoch over ``(X, y)``, continuing from the current weights.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples' losses.

        Returns
        -------
        self : object
        """
        if not hasattr(self, "_weights"):
            self._validate_params()
        if self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        return self._transactional(self._fit_regressor, X, y, sample_weight, None, incremental=True)

    def _fit_regressor(self, X, y, sample_weight, validation_data, incremental):
        self._check_clipping()
        first_pass = not hasattr(self, "_weights") or (not self.warm_start and not incremental)
        seqs = self._validate_X(X, reset=first_pass)
        y = self._validate_targets(y, seqs.n_samples)
        Y = y[:, None] if y.ndim == 1 else y
        if first_pass:
            self._y_ndim = y.ndim
            self.n_outputs_ = Y.shape[1]
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {Y.shape[1]} outputs, but the model was fitted with {self.n_outputs_}."
            )
        self.out_activation_ = "identity"
        w = _check_sample_weight(
            sample_weight, seqs.values, dtype=np.float64, ensure_non_negative=True
        )
        self._resolved_constraints()
        val = None
        if validation_data is not None:
            X_val, y_val = validation_data
            seqs_val = self._validate_X(X_val, reset=False)
            val = (seqs_val, self._validate_targets(y_val, seqs_val.n_samples), None)
        elif self.early_stopping and not incremental:
            train_idx, val_idx = self._validation_split(seqs.n_samples, None)
            val = (seqs.take(val_idx), Y[val_idx], w[val_idx])
            seqs, Y, w = seqs.take(train_idx), Y[train_idx], w[train_idx]
        Y = Y.astype(np.dtype(self.dtype))
        return self._fit_sequences(seqs, Y, w, val, first_pass, incremental)

    def _validation_score(self, weights, val):
        seqs, y_val, w_val = val
        pred = self._logits(seqs, weights).astype(np.float64)
        y_val = y_val.reshape(pred.shape)
        # Imported here: sklearn.metrics costs ~40 ms of every `import skgru`.
        from sklearn.metrics import r2_score

        return float(r2_score(y_val, pred, sample_weight=w_val))

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        seqs = self._check_X_predict(X)
        pred = self._logits(seqs).astype(np.float64)
        return pred[:, 0] if self._y_ndim == 1 else pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
