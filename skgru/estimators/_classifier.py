"""The GRU classifier."""

import warnings

import numpy as np
from scipy.special import log_expit
from sklearn.base import ClassifierMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import compute_sample_weight
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import _check_sample_weight

from ..model._network import _log_softmax, head_proba
from ._base import _BaseGRU

__all__ = ["ConstrainedGRUClassifier"]


class ConstrainedGRUClassifier(ClassifierMixin, _BaseGRU):
    """GRU classifier with weight, noise and gradient constraints.

    A GRU (Cho et al. 2014; the equations of Keras and PyTorch, see the "GRU
    equations" page), or a stack of them, optionally bidirectional, reads each
    sequence, and a dense layer on its pooled states (the last one by
    default) gives class probabilities (logistic for two classes and for each
    label of a multilabel target, softmax otherwise). Training minimises the
    (sample- and class-weighted) mean cross-entropy with Adam, SGD or RMSprop.
    Weight constraints are projected after every optimizer step, as in Keras.

    Parameters
    ----------
    units : int, default=32
        Size ``U`` of the hidden state.
    reset_after : bool, default=True
        Apply the reset gate after the recurrent matrix product (cuDNN and
        PyTorch form, Keras's default); ``False`` applies it before.
    dropout : float in [0, 1), default=0.0
        Variational dropout on the GRU inputs: one mask per sequence, reused
        at every step, inverted scaling; training only.
    recurrent_dropout : float in [0, 1), default=0.0
        Variational dropout on the previous state entering the recurrent
        product (one mask per sequence shared by the three gates).
    input_noise : float >= 0, default=0.0
        Standard deviation of Gaussian noise added to the inputs while
        training (Keras ``GaussianNoise``).
    kernel_constraint, recurrent_constraint, bias_constraint : None, str, \
            Constraint or callable, default=None
        Projections applied after every optimizer step to the kernel ``(F,
        3U)``, the recurrent kernel ``(U, 3U)`` and the bias; see
        :mod:`skgru.constraints`.
    clipnorm, clipvalue, global_clipnorm : float, default=None
        Gradient clipping, Keras semantics; at most one may be set.
    alpha : float >= 0, default=0.0
        L2 penalty on the kernels, scaled as in ``MLPClassifier``.
    solver : {"adam", "sgd", "rmsprop"}, default="adam"
        Optimizer.
    learning_rate : {"constant", "adaptive"}, default="constant"
        Learning-rate schedule, with ``MLPClassifier``'s meaning:
        ``"constant"`` keeps ``learning_rate_init``; ``"adaptive"`` divides
        the rate by 5 each time the stopping rule would stop training (no
        improvement of the training loss, or of the validation score with
        ``early_stopping=True``, for ``n_iter_no_change`` epochs), and stops
        only once the rate is at most 1e-6 (or at ``max_iter``). Applies to
        every solver.
    learning_rate_init : float > 0, default=1e-3
        Initial learning rate.
    momentum : float in [0, 1], default=0.9
        Momentum of ``solver="sgd"``.
    nesterovs_momentum : bool, default=True
        Nesterov momentum for ``solver="sgd"``.
    beta_1, beta_2 : float in [0, 1), default=0.9, 0.999
        Adam's moment decay rates.
    epsilon : float > 0, default=1e-8
        Adam's and RMSprop's numerical-stability constant (scikit-learn's
        default).
    batch_size : int or "auto", default="auto"
        Minibatch size; ``"auto"`` is ``min(200, n_samples)``.
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Shuffle samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling, dropout, noise and the validation
        split. On the CPU a fixed seed makes training bitwise reproducible.
    tol : float, default=1e-4
        Improvement threshold of the stopping rule.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified),
        stop when its accuracy stops improving, and restore the best weights.
    validation_fraction : float in [0, 1), default=0.1
        Fraction held out for early stopping.
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    warm_start : bool, default=False
        Continue from the previous solution (weights and optimizer state).
    class_weight : dict, "balanced" or None, default=None
        Weights multiplying each sample's loss by its class.
    dtype : {"float32", "float64"}, default="float32"
        Precision of weights and computation.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where training and prediction run. ``"auto"`` uses CUDA when numba
        sees a GPU that can run the model, else the CPU; ``"cuda"`` requires
        one (``fit`` raises without it; a model fitted there predicts on the
        CPU with a warning where there is none). See the GPU guide.
    n_jobs : int or None, default=None
        Threads for the CPU kernels in ``fit`` and ``predict``: each batch is
        split into row ranges that run through the recurrence on separate
        threads, and the large products into blocks of steps. ``None`` means
        the physical cores this process may use, as scikit-learn's
        ``HistGradientBoostingClassifier`` counts them: within
        ``OMP_NUM_THREADS``, ``threadpoolctl.threadpool_limits`` and the
        limit joblib gives its worker processes, so ``GridSearchCV(n_jobs=k)``
        does not oversubscribe the cores (its workers get ``cores // k``
        threads each). ``-1`` means all processors (``-2`` all but one, and
        so on). Predictions do not depend on the thread count; a fit is
        bitwise reproducible for a given thread count, and different counts
        change the last bits of the weights (sums are split differently):
        set ``n_jobs`` to an int to get the same model on machines with
        other core counts.
    verbose : int, default=0
        With 1, print one line per epoch (loss, validation score, time), as
        ``MLPClassifier``; with 2, also progress lines within each epoch.
    embedding_dim : int or None, default=None
        ``None``: numeric input. An int: the input is token ids (a 2-D
        integer array ``(n_samples, max_len)`` such as
        :class:`SequenceVectorizer` produces, or a list of 1-D id sequences)
        fed through a trainable embedding of this size. Id 0 is padding and
        is masked wherever it stands: the state is frozen on those steps.
    vocab_size : int or None, default=None
        Rows of the embedding; ``None`` infers ``max id + 1`` at fit. Ids
        outside ``[0, vocab_size)`` are an error.
    embedding_constraint : None, str, Constraint or callable, default=None
        Constraint projected onto the embedding matrix after every step.
    sparse_embeddings : bool, default=True
        With ``solver="adam"``, update only the embedding rows that occur in
        a batch (a lazy Adam: rows absent from a batch keep their moments and
        do not move, unlike dense Adam where stale momentum still moves them).
        Gradient entries and moments too small for the normal floating-point
        range (below about 3e-18 and 2e-31 in float32) are flushed to zero
        in these row updates, as TensorFlow does on CPU: the gradients of the
        early tokens of long sequences decay there, and subnormal arithmetic
        is about 100x slower on x86. Other solvers always take dense steps.
    pooling : {"last", "mean", "max"}, default="last"
        What the head reads: the state after the last valid step, or the
        mean / elementwise max of the states over the valid steps.
    num_layers : int, default=1
        Stacked GRU layers; each layer reads the full output sequence of the
        one below (with ``dropout`` on its input, as every Keras layer).
    bidirectional : bool, default=False
        Run a second GRU over each sequence reversed within its valid steps
        and concatenate the two (Keras ``Bidirectional(merge_mode="concat")``):
        the final states for ``pooling="last"``, the aligned outputs for the
        next layer and for mean / max pooling.
    embedding_init : array-like of shape (vocab_size, embedding_dim) or None, \
            default=None
        Initial embedding matrix (token input), e.g. pretrained word vectors
        arranged by :meth:`SequenceVectorizer.embedding_matrix`; row ``i`` is
        the vector of token id ``i``. ``None`` draws Keras's uniform(-0.05,
        0.05) initialisation. Its width must equal ``embedding_dim``, and its
        number of rows ``vocab_size`` when that is set (``vocab_size_`` is
        taken from it otherwise). Used by every fit that starts from scratch
        (not by ``warm_start`` or later ``partial_fit`` calls).
    embedding_trainable : bool, default=True
        ``False`` freezes the embedding: it is never updated (nor
        constrained), the optimizer keeps no state for it, and the backward
        pass stops at the first GRU layer (Keras's ``trainable=False``). A
        later ``warm_start`` fit with ``True`` unfreezes it, its optimizer
        state starting from zero (fine-tuning after a frozen phase).
    data_format : {"channels_last", "channels_first"}, default="channels_last"
        Layout of 3-D arrays and of the 2-D arrays of a ragged list:
        ``"channels_last"`` is ``(n_samples, n_timesteps, n_features)`` (Keras
        and PyTorch ``batch_first``), ``"channels_first"`` is ``(n_samples,
        n_features, n_timesteps)``, the ``(n_cases, n_channels,
        n_timepoints)`` layout of aeon and sktime (Keras's ``data_format``
        names). 2-D arrays are univariate sequences either way, and token ids
        are not affected. With
        ``"channels_last"``, fitting a 3-D array of a single timestep with
        several features warns, since that is how aeon's univariate ``(n, 1,
        T)`` arrays would be misread.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of columns for 2-D input (scikit-learn's convention); number
        of features per step for 3-D and ragged input.
    n_step_features_ : int
        Number of features per timestep (1 for token input).
    vocab_size_ : int
        Rows of the embedding (token input only).
    out_activation_ : {"logistic", "softmax"}
        Output activation.
    loss_ : float
        Training loss at the last epoch.
    loss_curve_ : list of float
        Training loss per epoch.
    best_loss_ : float or None
        Lowest training loss (None with early stopping).
    validation_scores_ : list of float or None
        Validation accuracy per epoch (early stopping or ``validation_data``).
    best_validation_score_ : float or None
        Best validation accuracy.
    n_iter_ : int
        Epochs run by the last call to ``fit`` / ``partial_fit``.
    t_ : int
        Training samples seen, over all calls.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru import ConstrainedGRUClassifier
    >>> from skgru.constraints import MaxNorm
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 8, 2))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = ConstrainedGRUClassifier(units=8, kernel_constraint=MaxNorm(2.0),
    ...                                max_iter=20, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints: dict = {
        **_BaseGRU._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

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
        class_weight=None,
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
        self.class_weight = class_weight
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

    @property
    def _multilabel(self):
        return getattr(self, "_label_kind", "single") == "multilabel"

    def _out_activation(self):
        if self._multilabel or len(self.classes_) == 2:
            return "logistic"
        return "softmax"

    def _encode_y(self, y):
        """One-hot ``(n, K)`` targets, ``(n, 1)`` 0/1 for two classes, or the
        indicator matrix itself for multilabel targets."""
        if self._multilabel:
            return np.asarray(y, dtype=np.dtype(self.dtype))
        codes = np.searchsorted(self.classes_, y)
        K = len(self.classes_)
        dtype = np.dtype(self.dtype)
        if K == 2:
            return codes.astype(dtype)[:, None]
        Y = np.zeros((len(codes), K), dtype=dtype)
        Y[np.arange(len(codes)), codes] = 1
        return Y

    def _validate_y(self, y, n_samples):
        if y is None:
            raise ValueError(
                f"requires y to be passed, but the target y is None ({type(self).__name__})."
            )
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1 and type_of_target(y) == "multilabel-indicator":
            if len(y) != n_samples:
                raise ValueError(
                    f"Found input variables with inconsistent numbers of samples: "
                    f"[{n_samples}, {len(y)}]"
                )
            return y.astype(np.int64)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples,), for example using ravel().",
                DataConversionWarning,
            )
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"y should be a 1d array, got an array of shape {y.shape} instead.")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError("Input y contains NaN or infinity.")
        check_classification_targets(y)
        if len(y) != n_samples:
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: "
                f"[{n_samples}, {len(y)}]"
            )
        return y

    def _weights_for(self, y, sample_weight, seqs):
        w = _check_sample_weight(
            sample_weight, seqs.values, dtype=np.float64, ensure_non_negative=True
        )
        if self.class_weight is not None:
            if y.ndim == 2:
                raise ValueError("class_weight is not supported for multilabel targets.")
            w = w * compute_sample_weight(self.class_weight, y)
        return w

    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Fit the model to sequences ``X`` and labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps[, n_features]) or list
            Sequences: a 3-D array, a 2-D array of univariate sequences, or a
            list of 2-D arrays ``(T_i, n_features)`` of different lengths.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multilabel targets
            (logistic outputs, one per label, as ``MLPClassifier``).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples' losses.
        validation_data : tuple (X_val, y_val), default=None
            Held-out data used instead of the internal split for early
            stopping and ``validation_scores_`` (as Keras's ``fit``).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, validation_data, incremental=False)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch over ``(X, y)``, continuing from the current weights.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences, as in :meth:`fit`.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All classes; required on the first call.
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
        first_call = _check_partial_fit_first_call(self, classes)
        return self._fit(X, y, sample_weight, None, incremental=True, first_call=first_call)

    def _fit(self, *args, **kwargs):
        return self._transactional(self._fit_unguarded, *args, **kwargs)

    def _fit_unguarded(self, X, y, sample_weight, validation_data, incremental, first_call=False):
        self._check_clipping()
        first_pass = not hasattr(self, "_weights") or (not self.warm_start and not incremental)
        if incremental:
            first_pass = first_call or not hasattr(self, "_weights")
        seqs = self._validate_X(X, reset=first_pass)
        y = self._validate_y(y, seqs.n_samples)
        label_kind = "multilabel" if y.ndim == 2 else "single"
        if first_pass:
            self._label_kind = label_kind
        elif label_kind != self._label_kind:
            raise ValueError(
                f"y is {label_kind} but the model was fitted on {self._label_kind} targets."
            )
        if self._multilabel:
            labels = np.arange(y.shape[1])
            if first_pass and not incremental:
                self.classes_ = labels
            elif not np.array_equal(labels, self.classes_):
                raise ValueError(
                    f"y has {y.shape[1]} labels, but the model was fitted with "
                    f"{len(self.classes_)}."
                )
        elif incremental:
            unseen = np.setdiff1d(unique_labels(y), self.classes_)
            if len(unseen):
                raise ValueError(
                    f"y contains labels {unseen.tolist()} not in classes {self.classes_.tolist()}."
                )
        elif first_pass:
            self.classes_ = unique_labels(y)
        else:
            classes = unique_labels(y)
            if not np.array_equal(classes, self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
                )
        if len(self.classes_) < 2:
            raise ValueError(
                "The classifier needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {self.classes_[0]!r}"
            )
        self.out_activation_ = self._out_activation()
        binary = len(self.classes_) == 2 and not self._multilabel
        self.n_outputs_ = 1 if binary else len(self.classes_)
        w = self._weights_for(y, sample_weight, seqs)
        self._resolved_constraints()  # fail early on a bad constraint

        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError(
                    "validation_data must be a tuple (X_val, y_val), got "
                    f"{type(validation_data).__name__}."
                )
            X_val, y_val = validation_data
            seqs_val = self._validate_X(X_val, reset=False)
            val = (seqs_val, self._validate_y(y_val, seqs_val.n_samples), None)
        elif self.early_stopping and not incremental:
            train_idx, val_idx = self._validation_split(
                seqs.n_samples, None if self._multilabel else y
            )
            val = (seqs.take(val_idx), y[val_idx], w[val_idx])
            seqs, y, w = seqs.take(train_idx), y[train_idx], w[train_idx]
        Y = self._encode_y(y)
        return self._fit_sequences(seqs, Y, w, val, first_pass, incremental)

    def _validation_score(self, weights, val):
        seqs, y_val, w_val = val
        pred = self._labels_from_proba(
            head_proba(self._logits(seqs, weights), self.out_activation_)
        )
        correct = (pred == y_val).astype(np.float64)
        if correct.ndim == 2:  # multilabel: subset accuracy, as sklearn's score
            correct = correct.min(axis=1)
        if w_val is None:
            return float(correct.mean())
        return float(np.average(correct, weights=w_val)) if w_val.sum() > 0 else 0.0

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities in the order of ``classes_``.
        """
        seqs = self._check_X_predict(X)
        return head_proba(self._logits(seqs), self.out_activation_)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably from the logits.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences, as in :meth:`fit`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        seqs = self._check_X_predict(X)
        logits = self._logits(seqs).astype(np.float64)
        if self._multilabel:
            return log_expit(logits)
        if self.out_activation_ == "logistic":
            z = logits[:, 0]
            return np.column_stack([log_expit(-z), log_expit(z)])
        return _log_softmax(logits)

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences, as in :meth:`fit`.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        return self._labels_from_proba(self.predict_proba(X))

    def _labels_from_proba(self, proba):
        if self._multilabel:
            return (proba > 0.5).astype(np.int64)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags
