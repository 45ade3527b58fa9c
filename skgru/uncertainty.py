"""Uncertainty of GRU predictions: Monte-Carlo dropout, temperature scaling, calibration error.

* :func:`mc_dropout_predict` runs the fitted network several times with the
  variational dropout masks training draws (Gal and Ghahramani, 2016): the
  spread of the outputs estimates the model's uncertainty.
* :class:`TemperatureScaledClassifier` divides a classifier's logits by one
  number fitted to minimise the log-loss on held-out predictions (Guo et
  al., 2017): the predicted classes do not change, the probabilities become
  less over- (or under-) confident.
* :func:`expected_calibration_error` measures the gap between confidence and
  accuracy.
"""

from numbers import Integral

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone, is_classifier
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from .engine import _stack
from .kernels.cpu._kernel_set import CPUKernelSet
from .model._network import _log_softmax, head_proba, split_params

__all__ = ["TemperatureScaledClassifier", "expected_calibration_error", "mc_dropout_predict"]


# -- Monte-Carlo dropout -------------------------------------------------------------


def _mc_logits(estimator, seqs, n_samples, rng):
    """Logits ``(n_samples, N, K)`` of ``n_samples`` passes with fresh dropout masks."""
    config = estimator._train_config()
    config.input_noise = 0.0
    weights = estimator._weights
    dtype = np.dtype(weights[-1].dtype)
    ks = CPUKernelSet(dtype, config.n_threads)
    E, blocks, Wd, bd = split_params(
        weights, config.embedding, config.num_layers, config.bidirectional
    )
    units = blocks[0][0][1].shape[0]
    n_inputs = E.shape[1] if E is not None else seqs.values.shape[2]
    N = seqs.n_samples
    out = np.empty((n_samples, N, Wd.shape[1]), dtype=dtype)
    size = ks.inference_batch_size
    with ks.session():
        for s in range(n_samples):
            for start in range(0, N, size):
                idx = np.arange(start, min(start + size, N))
                batch = ks.inference_batch(seqs, idx, dense=False)
                X = ks.embed(E, batch) if E is not None else batch.X
                # Dropout masks as training draws them (one per sequence, reused at
                # every step); no input noise.
                _, masks = _stack.draw_masks(rng, config, batch.B, batch.T, n_inputs, units, dtype)
                seq_out, final, _ = _stack.forward(
                    ks, X, batch.mask, blocks, config, training=False, masks=masks
                )
                pooled, _ = ks.pool(seq_out, final, batch.mask, config.pooling)
                out[s, idx] = ks.logits(np.ascontiguousarray(pooled), Wd, bd)
    return out


def mc_dropout_predict(estimator, X, *, n_samples=30, random_state=None, return_samples=False):
    """Monte-Carlo dropout: predictions averaged over random dropout masks.

    Each of ``n_samples`` passes draws new variational dropout masks, as
    training does (``dropout`` on every layer's input and
    ``recurrent_dropout`` on the recurrent state, one mask per sequence
    reused at every step, inverted scaling), and runs the network with them.
    Gaussian ``input_noise`` is not applied. The model must have been fitted
    with ``dropout > 0`` or ``recurrent_dropout > 0``. Runs on the CPU.

    Parameters
    ----------
    estimator : fitted ConstrainedGRUClassifier or ConstrainedGRURegressor
    X : array-like or list of arrays
        Sequences, as ``predict`` accepts them.
    n_samples : int, default=30
        Number of passes.
    random_state : int, RandomState instance or None, default=None
        Seeds the masks.
    return_samples : bool, default=False
        Also return every pass's output.

    Returns
    -------
    result : Bunch
        Classifier: ``proba`` (the mean probabilities, ``(n, n_classes)``),
        ``entropy`` (of the mean, the total predictive uncertainty, in nats)
        and ``mutual_information`` (entropy of the mean minus the mean
        entropy of the passes: the part due to the model's uncertainty,
        BALD's score). Regressor: ``mean`` and ``std`` of the predictions
        (``(n,)`` or ``(n, n_outputs)``). ``samples`` (the passes' outputs,
        passes first) when ``return_samples``.

    Examples
    --------
    >>> import numpy as np
    >>> from skgru import ConstrainedGRUClassifier
    >>> from skgru.uncertainty import mc_dropout_predict
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 6, 2))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = ConstrainedGRUClassifier(units=8, dropout=0.2, recurrent_dropout=0.2,
    ...                                max_iter=20, random_state=0).fit(X, y)
    >>> result = mc_dropout_predict(clf, X[:5], n_samples=20, random_state=0)
    >>> result.proba.shape, result.mutual_information.shape
    ((5, 2), (5,))
    """
    check_is_fitted(estimator, "_weights")
    if estimator.device == "cuda":
        raise ValueError(
            "mc_dropout_predict runs on the CPU only; set the estimator's device to 'cpu' "
            "(its fitted weights are NumPy arrays)."
        )
    if not (0 < estimator.dropout < 1 or 0 < estimator.recurrent_dropout < 1):
        raise ValueError(
            "Monte-Carlo dropout needs a model fitted with dropout or recurrent_dropout in "
            f"(0, 1); this one has dropout={estimator.dropout}, "
            f"recurrent_dropout={estimator.recurrent_dropout}."
        )
    if not isinstance(n_samples, Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    seqs = estimator._check_X_predict(X)
    rng = np.random.default_rng(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    logits = _mc_logits(estimator, seqs, int(n_samples), rng).astype(np.float64)
    if not is_classifier(estimator):
        preds = logits[..., 0] if estimator._y_ndim == 1 else logits
        result = Bunch(mean=preds.mean(axis=0), std=preds.std(axis=0))
        if return_samples:
            result.samples = preds
        return result
    act = estimator.out_activation_
    samples = np.stack([head_proba(z, act) for z in logits])
    mean = samples.mean(axis=0)

    def entropy(p):
        if act == "logistic" and estimator._multilabel:  # one Bernoulli per label
            q = np.clip(p, 1e-300, 1)
            r = np.clip(1 - p, 1e-300, 1)
            return -(p * np.log(q) + (1 - p) * np.log(r)).sum(axis=-1)
        return -(p * np.log(np.clip(p, 1e-300, 1))).sum(axis=-1)

    total = entropy(mean)
    result = Bunch(
        proba=mean,
        entropy=total,
        mutual_information=np.maximum(total - entropy(samples).mean(axis=0), 0.0),
    )
    if return_samples:
        result.samples = samples
    return result


# -- calibration error ---------------------------------------------------------------


def expected_calibration_error(y_true, y_prob, *, n_bins=15, classes=None, sample_weight=None):
    """Expected calibration error of the top-class confidence (Guo et al., 2017).

    The predictions are grouped by their confidence (the largest
    probability) into ``n_bins`` equal-width bins on [0, 1]; the error is
    the (weighted) mean over samples of ``|accuracy(bin) - confidence(bin)|``
    of their bin.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_prob : array-like of shape (n_samples, n_classes)
        Predicted probabilities, columns in the order of ``classes``.
    n_bins : int, default=15
    classes : array-like of shape (n_classes,) or None, default=None
        The labels of the columns; ``None`` means ``0, 1, ...``.
    sample_weight : array-like of shape (n_samples,) or None, default=None

    Returns
    -------
    ece : float
        In [0, 1]; 0 is perfect calibration.

    Examples
    --------
    >>> from skgru.uncertainty import expected_calibration_error
    >>> proba = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]]  # the third is wrong
    >>> round(expected_calibration_error([0, 1, 1, 0], proba), 3)  # (0.1+0.2+0.6+0.3) / 4
    0.3
    """
    y_prob = np.asarray(y_prob, dtype=np.float64)
    y_true = np.asarray(y_true)
    if y_prob.ndim != 2 or len(y_prob) != len(y_true):
        raise ValueError("y_prob must be (n_samples, n_classes) with one row per label.")
    if not isinstance(n_bins, Integral) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}.")
    classes = np.arange(y_prob.shape[1]) if classes is None else np.asarray(classes)
    w = _check_sample_weight(sample_weight, y_prob)
    confidence = y_prob.max(axis=1)
    correct = (classes[y_prob.argmax(axis=1)] == y_true).astype(np.float64)
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    total = w.sum()
    ece = 0.0
    for b in np.unique(bins):
        m = bins == b
        wb = w[m].sum()
        if wb > 0:
            gap = np.average(correct[m], weights=w[m]) - np.average(confidence[m], weights=w[m])
            ece += wb / total * abs(gap)
    return float(ece)


# -- temperature scaling -------------------------------------------------------------


def _scaled_log_proba(log_proba, temperature):
    """Log-probabilities of ``softmax(logits / T)`` from log-probabilities.

    A row of log-probabilities is the logits less a constant, so softmax of
    it over ``T`` is softmax of the logits over ``T``, exactly; for two
    classes that is the sigmoid of the log-odds over ``T``.
    """
    return _log_softmax(np.asarray(log_proba, dtype=np.float64) / temperature)


def _fit_temperature(log_proba, codes, w):
    """The temperature minimising the weighted log-loss of ``log_proba / T``."""
    rows = np.arange(len(codes))

    def nll(log_beta):
        lp = _log_softmax(log_proba * np.exp(log_beta))
        return -np.average(lp[rows, codes], weights=w)

    # The log-loss is convex in 1 / T; searched over T in [e^-6, e^6].
    res = minimize_scalar(nll, bounds=(-6.0, 6.0), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(-res.x))


class TemperatureScaledClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """A classifier whose probabilities are temperature-scaled on held-out predictions.

    ``predict_proba`` is ``softmax(logits / temperature_)`` (for two classes,
    the sigmoid of the log-odds over ``temperature_``): the predicted classes
    are the estimator's, the probabilities are calibrated. The logits are
    recovered exactly from ``predict_log_proba`` (which skgru's classifiers
    compute in float64 from the logits, so very confident predictions lose
    nothing to rounding, unlike a logarithm of ``predict_proba``).

    The temperature is fitted by minimising the log-loss of held-out
    predictions: out-of-fold predictions of ``cv`` clones (then the estimator
    is refitted on all the data, as ``CalibratedClassifierCV(ensemble=False)``
    does), or, for an estimator wrapped in ``sklearn.frozen.FrozenEstimator``,
    the given data themselves (a separate validation set).

    Parameters
    ----------
    estimator : classifier with ``predict_log_proba``
        E.g. a :class:`~skgru.ConstrainedGRUClassifier`, or a fitted one in
        ``FrozenEstimator`` to calibrate on validation data.
    cv : int, cross-validation generator or iterable, default=5
        Splits for the out-of-fold predictions (stratified for an int).
        Ignored for a ``FrozenEstimator``.

    Attributes
    ----------
    estimator_ : classifier
        The fitted (or frozen) estimator.
    temperature_ : float
        The fitted temperature (above 1: the estimator was over-confident).
    classes_ : ndarray of shape (n_classes,)

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from sklearn.frozen import FrozenEstimator
    >>> from skgru import ConstrainedGRUClassifier
    >>> from skgru.uncertainty import TemperatureScaledClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(90, 6, 2))
    >>> y = np.digitize(X[:, :, 0].sum(axis=1), [-1, 1])
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     clf = ConstrainedGRUClassifier(units=8, max_iter=30, random_state=0)
    ...     clf = clf.fit(X[:60], y[:60])
    >>> scaled = TemperatureScaledClassifier(FrozenEstimator(clf)).fit(X[60:], y[60:])
    >>> bool(scaled.temperature_ > 0)
    True
    >>> bool((scaled.predict(X) == clf.predict(X)).all())
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_log_proba"])],
        "cv": ["cv_object"],
    }

    def __init__(self, estimator, *, cv=5):
        self.estimator = estimator
        self.cv = cv

    def fit(self, X, y, sample_weight=None):
        """Fit the estimator (unless frozen) and the temperature.

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences, as the estimator accepts them.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the estimator's fit and of the temperature's log-loss.

        Returns
        -------
        self : TemperatureScaledClassifier
        """
        self._validate_params()
        from sklearn.frozen import FrozenEstimator
        from sklearn.model_selection import check_cv, cross_val_predict

        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(
                "Temperature scaling needs single-label targets (a 1-D y); multilabel "
                "outputs are independent logistic units."
            )
        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        if isinstance(self.estimator, FrozenEstimator):
            self.estimator_ = self.estimator
            log_proba = self.estimator_.predict_log_proba(X)
        else:
            cv = check_cv(self.cv, y, classifier=True)
            log_proba = cross_val_predict(
                clone(self.estimator), X, y, cv=cv, method="predict_log_proba", params=fit_params
            )
            self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        self.classes_ = self.estimator_.classes_
        codes = np.searchsorted(self.classes_, y)
        if (codes >= len(self.classes_)).any() or (self.classes_[codes] != y).any():
            raise ValueError("y has labels the estimator was not fitted on.")
        w = _check_sample_weight(sample_weight, log_proba)
        self.temperature_ = _fit_temperature(np.asarray(log_proba, np.float64), codes, w)
        return self

    def predict_log_proba(self, X):
        """Log of the temperature-scaled probabilities, ``(n_samples, n_classes)``."""
        check_is_fitted(self, "temperature_")
        return _scaled_log_proba(self.estimator_.predict_log_proba(X), self.temperature_)

    def predict_proba(self, X):
        """Temperature-scaled class probabilities, ``(n_samples, n_classes)``."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X):
        """The estimator's predicted classes (scaling by a temperature does not change them)."""
        check_is_fitted(self, "temperature_")
        return self.classes_[np.argmax(self.estimator_.predict_log_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.estimator.__sklearn_tags__()
        tags.input_tags = inner.input_tags
        return tags
