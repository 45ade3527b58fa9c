"""The estimators: parameters, validation, the fit loop and prediction."""

import time
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import cpu_count
from scipy.special import log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.utils import check_random_state, compute_sample_weight
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call,
    check_classification_targets,
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from . import _constraints
from ._backend import TrainConfig, get_backend
from ._network import _log_softmax, head_proba, init_embedding, init_params
from ._optimizers import make_optimizer
from ._sequences import _is_ragged, check_input_array, to_sequences, to_token_sequences

__all__ = ["ConstrainedGRUClassifier"]

# The estimator parameters holding the constraints of the GRU weights, in
# Keras order (after the embedding, when there is one).
# The "adaptive" schedule stops dividing the learning rate below this (MLPClassifier's bound).
_MIN_ADAPTIVE_LR = 1e-6
_CONSTRAINT_PARAMS = ("kernel_constraint", "recurrent_constraint", "bias_constraint")


class _BaseGRU(BaseEstimator):
    """Shared machinery of the GRU estimators (parameters, input handling, fit loop)."""

    _parameter_constraints: dict = {
        "units": [Interval(Integral, 1, None, closed="left")],
        "reset_after": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "recurrent_dropout": [Interval(Real, 0, 1, closed="left")],
        "input_noise": [Interval(Real, 0, None, closed="left")],
        "kernel_constraint": "no_validation",
        "recurrent_constraint": "no_validation",
        "bias_constraint": "no_validation",
        "clipnorm": [None, Interval(Real, 0, None, closed="neither")],
        "clipvalue": [None, Interval(Real, 0, None, closed="neither")],
        "global_clipnorm": [None, Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"adam", "sgd", "rmsprop"})],
        "learning_rate": [StrOptions({"constant", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "warm_start": ["boolean"],
        "dtype": [StrOptions({"float32", "float64"})],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
        "embedding_dim": [None, Interval(Integral, 1, None, closed="left")],
        "vocab_size": [None, Interval(Integral, 2, None, closed="left")],
        "embedding_constraint": "no_validation",
        "sparse_embeddings": ["boolean"],
        "pooling": [StrOptions({"last", "mean", "max"})],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "bidirectional": ["boolean"],
    }

    # -- input handling ---------------------------------------------------------

    def _validate_X(self, X, reset):
        """Validate ``X`` and return :class:`Sequences` in the model dtype.

        ``n_features_in_`` follows scikit-learn: for 2-D input it is the number
        of columns (the sequence length, which is then fixed); for 3-D and
        ragged input it is the number of features per step.
        """
        dtype = np.dtype(self.dtype)
        if self.embedding_dim is not None:
            return self._validate_tokens(X, reset)
        if _is_ragged(X):
            seqs, kind = to_sequences(X, dtype)
            self._check_step_features(seqs.n_features, reset, kind)
            return seqs
        # Finiteness is checked by to_sequences, which names the sample and step.
        if type(X) is np.ndarray and X.ndim == 3 and X.dtype.kind == "f" and len(X) > 0:
            # What check_array does for a real 3-D array (a dtype cast), without
            # its container detection (about 0.2 ms, a visible part of
            # predicting a small batch).
            seqs, kind = to_sequences(X.astype(dtype, copy=False), dtype, array_validated=True)
            self._check_step_features(seqs.n_features, reset, kind)
            return seqs
        if check_input_array(X) == 3:
            from sklearn.utils.validation import check_array

            X = check_array(X, dtype=dtype, allow_nd=True, ensure_all_finite=False)
            seqs, kind = to_sequences(X, dtype, array_validated=True)
            self._check_step_features(seqs.n_features, reset, kind)
            return seqs
        # 2-D: scikit-learn's own validation (feature names, n_features_in_).
        if not reset and getattr(self, "_input_kind", "2d") != "2d":
            from sklearn.utils.validation import check_array

            X = check_array(X, dtype=dtype, ensure_all_finite=False)
            seqs, kind = to_sequences(X, dtype, array_validated=True)
            self._check_step_features(seqs.n_features, reset, kind)
            return seqs
        X = validate_data(self, X=X, reset=reset, dtype=dtype, ensure_all_finite=False)
        seqs, kind = to_sequences(X, dtype, array_validated=True)
        if reset:
            self._input_kind = "2d"
            self.n_step_features_ = 1
        return seqs

    def _validate_tokens(self, X, reset):
        """Token-id input (``embedding_dim`` set): 2-D int array or list of 1-D id lists."""
        vocab = None if reset else self.vocab_size_
        if reset and self.vocab_size is not None:
            vocab = self.vocab_size
        if isinstance(X, (list, tuple)) or (isinstance(X, np.ndarray) and X.dtype == object):
            seqs = to_token_sequences(X, vocab)
            self._check_step_features(1, reset, "ragged")
        else:
            X = validate_data(self, X=X, reset=reset, dtype=None, ensure_all_finite=True)
            seqs = to_token_sequences(np.asarray(X), vocab)
            if reset:
                self._input_kind = "2d"
                self.n_step_features_ = 1
        if reset:
            self.vocab_size_ = (
                self.vocab_size
                if self.vocab_size is not None
                else max(2, int(seqs.values.max()) + 1)
            )
        return seqs

    def _check_step_features(self, n_features, reset, kind):
        if reset:
            self._input_kind = kind
            self.n_features_in_ = n_features
            self.n_step_features_ = n_features
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return
        expected = self.n_step_features_
        if n_features != expected:
            hint = " (a 2-D X is read as univariate sequences)" if kind == "2d" else ""
            raise ValueError(
                f"X has {n_features} features per timestep{hint}, but {type(self).__name__} "
                f"is expecting {expected} features per timestep as input."
            )

    def _check_X_predict(self, X):
        if "_weights" not in self.__dict__:  # skips check_is_fitted's tag lookups when fitted
            check_is_fitted(self, "_weights")
        return self._validate_X(X, reset=False)

    # -- training ---------------------------------------------------------------

    def _transactional(self, fit, *args, **kwargs):
        """Run ``fit``, restoring every attribute if it raises.

        Validation resets ``classes_`` and ``n_features_in_`` before training;
        without this a failed refit would leave them describing weights the
        estimator does not have (and predict could read past the kernel).
        """
        saved = dict(self.__dict__)
        try:
            return fit(*args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` larger than sample size. It is going to be clipped.",
                UserWarning,
            )
        return max(1, min(self.batch_size, n_samples))

    def _resolved_constraints(self):
        """One constraint (or None) per weight, Keras order."""
        block = [_constraints.get(getattr(self, n), name=n) for n in _CONSTRAINT_PARAMS]
        out = block * (self.num_layers * (2 if self.bidirectional else 1))
        out += [None, None]  # dense head
        if self.embedding_dim is not None:
            name = "embedding_constraint"
            out.insert(0, _constraints.get(self.embedding_constraint, name=name))
        return out

    def _check_clipping(self):
        given = [
            name
            for name in ("clipnorm", "clipvalue", "global_clipnorm")
            if getattr(self, name) is not None
        ]
        if len(given) > 1:
            raise ValueError(
                f"Only one of clipnorm, clipvalue and global_clipnorm can be set, got {given}."
            )

    def _train_config(self):
        return TrainConfig(
            reset_after=self.reset_after,
            out_activation=self._out_activation(),
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            input_noise=self.input_noise,
            alpha=self.alpha,
            clipnorm=self.clipnorm,
            clipvalue=self.clipvalue,
            global_clipnorm=self.global_clipnorm,
            constraints=self._resolved_constraints(),
            embedding=self.embedding_dim is not None,
            sparse_embeddings=self.sparse_embeddings,
            pooling=self.pooling,
            num_layers=self.num_layers,
            bidirectional=self.bidirectional,
            n_threads=self._n_threads(),
        )

    def _n_threads(self):
        # Threads in this process only: a joblib context (e.g. the dask
        # backend) says how many workers a search may use, not how many
        # threads one fit may start here, so it is not consulted.
        if self.n_jobs is None:
            return 1
        if self.n_jobs == 0:
            raise ValueError("n_jobs == 0 has no meaning; use None, a positive int or -1.")
        if self.n_jobs < 0:
            return max(1, cpu_count() + 1 + self.n_jobs)
        return self.n_jobs

    def _new_optimizer(self, params):
        return make_optimizer(
            self.solver,
            params,
            learning_rate_init=self.learning_rate_init,
            momentum=self.momentum,
            nesterovs_momentum=self.nesterovs_momentum,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
        )

    def _fit_sequences(self, seqs, Y, w, val, first_pass, incremental):
        """The epoch loop (MLPClassifier's, with Keras-style best-weight restore).

        Works on local state and commits it to ``self`` only at the end, so an
        exception leaves a previously fitted model unchanged.
        """
        rs = check_random_state(self.random_state)
        rng = np.random.default_rng(rs.randint(np.iinfo(np.int32).max))
        dtype = np.dtype(self.dtype)
        if first_pass:
            if self.embedding_dim is not None:
                n_inputs = self.embedding_dim
            else:
                n_inputs = seqs.n_features
            params = init_params(
                rng,
                n_inputs,
                self.units,
                Y.shape[1],
                self.reset_after,
                dtype,
                self.num_layers,
                self.bidirectional,
            )
            if self.embedding_dim is not None:
                params.insert(0, init_embedding(rng, self.vocab_size_, self.embedding_dim, dtype))
            state = {
                "loss_curve_": [],
                "t_": 0,
                "best_loss_": np.inf,
                "validation_scores_": [] if val is not None else None,
                "best_validation_score_": -np.inf if val is not None else None,
                "_no_improvement_count": 0,
                "_optimizer_state": None,
            }
        else:
            params = [p.astype(dtype, copy=True) for p in self._weights]
            state = {
                "loss_curve_": list(self.loss_curve_),
                "t_": self.t_,
                "best_loss_": self.best_loss_ if self.best_loss_ is not None else np.inf,
                "validation_scores_": (
                    list(self.validation_scores_)
                    if val is not None and self.validation_scores_ is not None
                    else ([] if val is not None else None)
                ),
                "best_validation_score_": (
                    self.best_validation_score_
                    if val is not None and self.best_validation_score_ is not None
                    else (-np.inf if val is not None else None)
                ),
                "_no_improvement_count": self._no_improvement_count,
                "_optimizer_state": self._optimizer_state,
            }
        optimizer = self._new_optimizer(params)
        if state["_optimizer_state"] is not None:
            optimizer.set_state(state["_optimizer_state"])
            if not incremental:
                # A new fit call uses the current learning_rate_init (as
                # MLPClassifier, which builds a new optimizer for it); only
                # partial_fit continues an adapted learning rate.
                optimizer.learning_rate = float(self.learning_rate_init)
        backend = get_backend(self.device)
        trainer = backend.make_trainer(params, optimizer, self._train_config(), seqs, Y, w)
        n_train = seqs.n_samples
        batch_size = self._batch_size(n_train)
        best_params = trainer.get_params()
        last_good = best_params
        n_iter = 0
        scheduled_lr = float(self.learning_rate_init)
        interrupted = False
        try:
            for _ in range(self.max_iter):
                t0 = time.perf_counter()
                order = rng.permutation(n_train) if self.shuffle else np.arange(n_train)
                batches = [order[i : i + batch_size] for i in range(0, n_train, batch_size)]
                loss = self._run_epoch(trainer, batches, rng, w)
                current = trainer.get_params()
                if not np.isfinite(loss) or not all(np.isfinite(p).all() for p in current):
                    what = (
                        f"the loss became {loss}"
                        if not np.isfinite(loss)
                        else "the weights became NaN or infinite"
                    )
                    raise ValueError(
                        f"Training diverged: {what} at epoch "
                        f"{len(state['loss_curve_']) + 1}. Lower learning_rate_init or set "
                        "clipnorm / global_clipnorm. The estimator's weights were not changed."
                    )
                last_good = current
                n_iter += 1
                state["t_"] += n_train
                state["loss_curve_"].append(loss)
                msg = f"Iteration {len(state['loss_curve_'])}, loss = {loss:.8f}"
                if val is not None:
                    score = self._validation_score(current, val)
                    state["validation_scores_"].append(score)
                    msg += f", validation score = {score:.6f}"
                    if score < state["best_validation_score_"] + self.tol:
                        state["_no_improvement_count"] += 1
                    else:
                        state["_no_improvement_count"] = 0
                    if score > state["best_validation_score_"]:
                        state["best_validation_score_"] = score
                        best_params = current
                else:
                    if loss > state["best_loss_"] - self.tol:
                        state["_no_improvement_count"] += 1
                    else:
                        state["_no_improvement_count"] = 0
                    if loss < state["best_loss_"]:
                        state["best_loss_"] = loss
                        best_params = current
                if self.verbose:
                    print(f"{msg}, time = {time.perf_counter() - t0:.3f}s")
                if incremental:
                    break
                if (
                    state["_no_improvement_count"] > self.n_iter_no_change
                    and self.learning_rate == "adaptive"
                    and scheduled_lr > _MIN_ADAPTIVE_LR
                ):
                    # MLPClassifier's "adaptive" schedule: a plateau divides the
                    # rate by 5, and training stops only once it is spent.
                    scheduled_lr /= 5.0
                    optimizer.scale_learning_rate(0.2)
                    state["_no_improvement_count"] = 0
                    if self.verbose:
                        print(f"No improvement; learning rate set to {scheduled_lr:g}.")
                    continue
                if state["_no_improvement_count"] > self.n_iter_no_change:
                    if val is not None:
                        why = (
                            f"Validation score did not improve more than tol={self.tol} for "
                            f"{self.n_iter_no_change} consecutive epochs."
                        )
                    else:
                        why = (
                            f"Training loss did not improve more than tol={self.tol} for "
                            f"{self.n_iter_no_change} consecutive epochs."
                        )
                    if self.verbose:
                        print(why + " Stopping.")
                    break
            else:
                if not incremental:
                    warnings.warn(
                        f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                        "and the optimization hasn't converged yet.",
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            interrupted = True
            warnings.warn(
                f"Training interrupted by KeyboardInterrupt after {n_iter} complete epochs; "
                "keeping the best weights so far.",
                UserWarning,
            )
        if val is not None or interrupted:
            final = best_params
        else:
            final = last_good
        state["_optimizer_state"] = trainer.get_optimizer_state()
        if val is None:
            state["best_validation_score_"] = None
            state["validation_scores_"] = None
        else:
            state["best_loss_"] = None
        # Commit.
        self._weights = [np.ascontiguousarray(p) for p in final]
        self.n_iter_ = n_iter
        self.loss_ = state["loss_curve_"][-1] if state["loss_curve_"] else np.nan
        for key, value in state.items():
            setattr(self, key, value)
        return self

    def _run_epoch(self, trainer, batches, rng, w):
        """One epoch; with ``verbose >= 2`` in about ten parts, printing progress.

        The parts see the same batches in the same order, so the weights do
        not depend on ``verbose``; the epoch loss is the parts' weighted mean.
        """
        if self.verbose < 2 or len(batches) < 2:
            return trainer.run_epoch(batches, rng)
        step = max(1, len(batches) // 10)
        total = weight = 0.0
        for start in range(0, len(batches), step):
            part = batches[start : start + step]
            part_w = float(sum(w[idx].sum() for idx in part))
            total += trainer.run_epoch(part, rng) * part_w
            weight += part_w
            done = min(start + step, len(batches))
            print(f"  batch {done}/{len(batches)}, loss = {total / weight:.8f}", flush=True)
        return total / weight

    # -- weights ------------------------------------------------------------------

    def get_weights(self):
        """Return the weights as NumPy arrays in Keras order.

        Returns
        -------
        weights : list of ndarray
            ``[kernel (F, 3U), recurrent_kernel (U, 3U), bias, dense_kernel
            (U, n_outputs), dense_bias (n_outputs,)]``, preceded by the
            embedding matrix ``(vocab_size_, embedding_dim)`` when
            ``embedding_dim`` is set; ``bias`` is ``(2, 3U)`` (input bias,
            recurrent bias) when ``reset_after=True`` and ``(3U,)`` otherwise.
            Gate blocks are ordered ``[z | r | h]`` as in Keras.
        """
        check_is_fitted(self, "_weights")
        return [p.copy() for p in self._weights]

    @property
    def _has_embedding(self):
        return self.embedding_dim is not None

    def set_weights(self, weights):
        """Set the weights from NumPy arrays in Keras order (see :meth:`get_weights`).

        Parameters
        ----------
        weights : list of array-like
            Arrays of the same shapes as :meth:`get_weights` returns. They are
            copied and cast to the model dtype.

        Returns
        -------
        self : object
        """
        check_is_fitted(self, "_weights")
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(
                f"set_weights expected {len(self._weights)} arrays, got {len(weights)}."
            )
        new = []
        for i, (old, w) in enumerate(zip(self._weights, weights)):
            w = np.asarray(w)
            if w.dtype.kind not in "biuf":
                raise TypeError(f"Weight {i} has dtype {w.dtype}; numeric values are required.")
            if w.shape != old.shape:
                raise ValueError(
                    f"Weight {i} has shape {w.shape}, but the model expects {old.shape}."
                )
            if not np.isfinite(w).all():
                raise ValueError(f"Weight {i} contains NaN or infinity.")
            new.append(np.array(w, dtype=old.dtype, order="C", copy=True))
        self._weights = new
        return self

    def _logits(self, seqs, weights=None):
        predicting = weights is None
        weights = self._weights if predicting else weights
        from ._backend import cuda_available

        # device="cuda" predicts on the GPU when there is one (a pickled model
        # predicts on the CPU anywhere else); other settings use the CPU.
        device = "auto" if self.device == "cuda" and cuda_available() else "cpu"
        logits = get_backend(device).predict_logits(
            weights, seqs, self._train_config(), fitted=predicting
        )
        if predicting and not np.isfinite(logits).all():
            # Finite weights can still overflow (a diverged run's last update
            # is never evaluated); refuse rather than return NaN or inf.
            i = int(np.flatnonzero(~np.isfinite(logits).all(axis=1))[0])
            raise ValueError(
                f"The model's output for sample {i} is not finite: its weights overflow in "
                f"{logits.dtype} arithmetic, so training diverged. Refit with a lower "
                "learning_rate_init, or with clipnorm / global_clipnorm."
            )
        return logits

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        return tags

    # -- interoperability (thin wrappers; the mapping lives in _interop.py) ------

    def to_torch_state_dict(self, *, as_tensors=False):
        """Weights under PyTorch ``nn.GRU`` / ``nn.Linear`` names (gate order r, z, n).

        Needs ``reset_after=True`` and one unidirectional layer. The keys are
        ``"weight_ih_l0" (3U, F)``, ``"weight_hh_l0" (3U, U)``, ``"bias_ih_l0"
        (3U,)``, ``"bias_hh_l0" (3U,)`` (they load into ``nn.GRU(F, U,
        batch_first=True)``), the head ``"fc.weight" (n_outputs, U)``,
        ``"fc.bias" (n_outputs,)`` (an ``nn.Linear(U, n_outputs)`` on the last
        state) and, with an embedding, ``"embedding.weight"``.

        Parameters
        ----------
        as_tensors : bool, default=False
            Return ``torch.Tensor`` values (needs torch) instead of NumPy arrays.

        Returns
        -------
        state_dict : dict of str to ndarray or torch.Tensor
        """
        from ._interop import to_torch_state_dict

        return to_torch_state_dict(self, as_tensors=as_tensors)

    def from_torch_state_dict(self, state_dict):
        """Set the weights from a PyTorch-named state dict (see :meth:`to_torch_state_dict`).

        Parameters
        ----------
        state_dict : mapping of str to array-like or torch.Tensor

        Returns
        -------
        self : object
        """
        from ._interop import from_torch_state_dict

        return from_torch_state_dict(self, state_dict)


class ConstrainedGRUClassifier(ClassifierMixin, _BaseGRU):
    """GRU classifier with weight, noise and gradient constraints.

    One GRU layer (Cho et al. 2014; the equations of Keras and PyTorch, see
    the "GRU equations" page) reads each sequence, and a dense layer on its
    last state gives class probabilities (logistic for two classes, softmax
    otherwise). Training minimises the (sample- and class-weighted) mean
    cross-entropy with Adam, SGD or RMSprop. Weight constraints are projected
    after every optimizer step, as in Keras.

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
        Where training runs; ``"auto"`` uses CUDA when numba sees a GPU.
    n_jobs : int or None, default=None
        Threads for the CPU kernels in ``fit`` and ``predict``: each batch is
        split into row ranges that run through the recurrence on separate
        threads, and the large products into blocks of steps. ``None`` means
        1; ``-1`` means all processors (``-2`` all but one, and so on).
        Predictions do not depend on ``n_jobs``; a fit is
        bitwise reproducible for a given ``n_jobs``, and different values
        change the last bits of the weights (sums are split differently).
        Inside ``GridSearchCV(n_jobs=k)`` keep ``k * n_jobs`` at most the
        number of cores.
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
            # sklearn.model_selection costs 30 ms of import time: only when needed.
            from sklearn.model_selection import train_test_split

            idx = np.arange(seqs.n_samples)
            stratify = None if self._multilabel else y
            rs = check_random_state(self.random_state)
            try:
                train_idx, val_idx = train_test_split(
                    idx, test_size=self.validation_fraction, random_state=rs, stratify=stratify
                )
            except ValueError:
                train_idx, val_idx = train_test_split(
                    idx, test_size=self.validation_fraction, random_state=rs
                )
            if len(val_idx) < 2:
                raise ValueError(
                    "The validation set is too small: it has fewer than 2 samples. "
                    "Increase validation_fraction or provide more data."
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
