"""What the GRU estimators share: parameters, input validation, the fit loop, prediction."""

import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ..data._sequences import _is_ragged, check_input_array, to_sequences, to_token_sequences
from ..engine._config import TrainConfig
from ..engine._devices import cpu_threads, host_blas_limit, make_trainer, predict_logits
from ..engine._predictor import predict_states
from ..model._network import init_embedding, init_params
from ..training import _constraints
from ..training._optimizers import make_optimizer

# The estimator parameters holding the constraints of the GRU weights, in
# Keras order (after the embedding, when there is one).
# The "adaptive" schedule stops dividing the learning rate below this (MLPClassifier's bound).
_MIN_ADAPTIVE_LR = 1e-6
_CONSTRAINT_PARAMS = ("kernel_constraint", "recurrent_constraint", "bias_constraint")


class _BaseGRU(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared machinery of the GRU estimators (parameters, input handling, fit loop).

    Both estimators are also transformers: :meth:`transform` gives the pooled
    GRU states the output layer reads (``get_feature_names_out`` and
    ``set_output`` come from scikit-learn's mixins).
    """

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
        "embedding_init": ["array-like", None],
        "embedding_trainable": ["boolean"],
        "data_format": [StrOptions({"channels_last", "channels_first"})],
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
        if self.data_format == "channels_first":
            X = _channels_last(X)
        elif reset:
            _warn_single_step(X)
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
        elif reset and self.embedding_init is not None:
            vocab = len(self.embedding_init)
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
            self.vocab_size_ = vocab if vocab is not None else max(2, int(seqs.values.max()) + 1)
        return seqs

    def _initial_embedding(self):
        """``embedding_init`` checked against the model (or None); sets ``vocab_size_``."""
        if self.embedding_init is None:
            return None
        if self.embedding_dim is None:
            raise ValueError(
                "embedding_init needs token input: set embedding_dim to its width "
                f"({np.shape(self.embedding_init)[-1]})."
            )
        E = np.asarray(self.embedding_init)
        if E.ndim != 2 or E.dtype.kind not in "biuf":
            raise ValueError(
                "embedding_init must be a numeric 2-D array (vocab_size, embedding_dim), got "
                f"shape {E.shape} and dtype {E.dtype}."
            )
        if E.shape[1] != self.embedding_dim:
            raise ValueError(
                f"embedding_init has {E.shape[1]} columns, but embedding_dim={self.embedding_dim}."
            )
        if self.vocab_size is not None and E.shape[0] != self.vocab_size:
            raise ValueError(
                f"embedding_init has {E.shape[0]} rows, but vocab_size={self.vocab_size}."
            )
        if not np.isfinite(E).all():
            raise ValueError("embedding_init contains NaN or infinity.")
        return np.array(E, dtype=np.dtype(self.dtype), order="C", copy=True)

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

    def _validation_split(self, n_samples, stratify):
        """``(train_idx, val_idx)``: ``validation_fraction`` held out, stratified by ``stratify``.

        A stratified split that cannot be made (a class too rare) falls back
        to a plain one, as scikit-learn's MLP does.
        """
        # sklearn.model_selection costs 30 ms of import time: only when needed.
        from sklearn.model_selection import train_test_split

        idx = np.arange(n_samples)
        rs = check_random_state(self.random_state)
        try:
            train_idx, val_idx = train_test_split(
                idx, test_size=self.validation_fraction, random_state=rs, stratify=stratify
            )
        except ValueError:
            if stratify is None:
                raise
            train_idx, val_idx = train_test_split(
                idx, test_size=self.validation_fraction, random_state=rs
            )
        if len(val_idx) < 2:
            raise ValueError(
                "The validation set is too small: it has fewer than 2 samples. "
                "Increase validation_fraction or provide more data."
            )
        return train_idx, val_idx

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
            embedding_trainable=bool(self.embedding_trainable),
        )

    def _n_threads(self):
        return cpu_threads(self.n_jobs)

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
            if self.embedding_dim is None and self.embedding_init is not None:
                self._initial_embedding()  # raises: embedding_init needs token input
            if self.embedding_dim is not None:
                n_inputs = self.embedding_dim
            else:
                n_inputs = seqs.n_features
            with host_blas_limit():
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
                E = self._initial_embedding()
                if E is None:
                    E = init_embedding(rng, self.vocab_size_, self.embedding_dim, dtype)
                params.insert(0, E)
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
        frozen = self.embedding_dim is not None and not self.embedding_trainable
        # A frozen embedding has no optimizer state (Keras: not a trainable variable).
        optimizer = self._new_optimizer(params[1:] if frozen else params)
        if state["_optimizer_state"] is not None:
            saved = state["_optimizer_state"]
            if self.embedding_dim is not None:
                saved = _match_embedding_slots(saved, optimizer)
            optimizer.set_state(saved)
            if not incremental:
                # A new fit call uses the current learning_rate_init (as
                # MLPClassifier, which builds a new optimizer for it); only
                # partial_fit continues an adapted learning rate.
                optimizer.learning_rate = float(self.learning_rate_init)
        # `params` are this fit's own arrays (fresh, or copies of the fitted
        # weights): the trainer trains them in place rather than a copy.
        trainer = make_trainer(
            self.device, params, optimizer, self._train_config(), seqs, Y, w, copy=False
        )
        n_train = seqs.n_samples
        batch_size = self._batch_size(n_train)
        # The weights kept when training stops early (validation) or is
        # interrupted: the initial ones until an epoch does better. One
        # snapshot at a time, taken only when it changes, so that a text
        # model's embedding table lives in four copies during the fit (the
        # weights, Adam's two moments, this), not six.
        best_params = trainer.get_params()
        n_iter = 0
        scheduled_lr = float(self.learning_rate_init)
        interrupted = False
        try:
            for _ in range(self.max_iter):
                t0 = time.perf_counter()
                order = rng.permutation(n_train) if self.shuffle else np.arange(n_train)
                batches = [order[i : i + batch_size] for i in range(0, n_train, batch_size)]
                loss = self._run_epoch(trainer, batches, rng, w)
                if not np.isfinite(loss) or not trainer.weights_finite():
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
                n_iter += 1
                state["t_"] += n_train
                state["loss_curve_"].append(loss)
                msg = f"Iteration {len(state['loss_curve_'])}, loss = {loss:.8f}"
                if val is not None:
                    # The validation pass must not add its arrays to the scratch's.
                    trainer.release()
                    current = trainer.get_params()
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
                    del current
                else:
                    if loss > state["best_loss_"] - self.tol:
                        state["_no_improvement_count"] += 1
                    else:
                        state["_no_improvement_count"] = 0
                    if loss < state["best_loss_"]:
                        state["best_loss_"] = loss
                        best_params = None  # dropped before its successor is read
                        best_params = trainer.get_params()
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
            if best_params is None:
                # Interrupted between dropping the best snapshot and reading
                # its successor: no step ran since, the trainer holds it.
                best_params = trainer.get_params()
            warnings.warn(
                f"Training interrupted by KeyboardInterrupt after {n_iter} complete epochs; "
                "keeping the best weights so far.",
                UserWarning,
            )
        finally:
            trainer.release()
        if val is None and not interrupted:
            # The last completed epoch's weights, which the trainer holds
            # (every epoch ends before the loop's checks).
            best_params = None
            final = trainer.take_params()
        else:
            final = best_params
        del best_params
        # The optimizer ends with this fit: its arrays are handed over, not copied.
        state["_optimizer_state"] = trainer.get_optimizer_state(copy=False)
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
        logits = predict_logits(self.device, weights, seqs, self._train_config(), fitted=predicting)
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

    # -- the GRU as a transformer --------------------------------------------------

    @property
    def _n_features_out(self):
        """Width of the pooled states: ``units``, twice that when bidirectional."""
        return self._weights[-2].shape[0]

    def transform(self, X, return_sequences=False):
        """The GRU states the output layer reads, as features for another estimator.

        With ``return_sequences=False`` these are the pooled states (per
        ``pooling``: the state after the last valid step, or the mean or
        maximum over the valid steps; the two directions concatenated when
        ``bidirectional``), bitwise the values :meth:`predict` and
        ``predict_proba`` multiply by the output layer on the CPU. So the
        fitted estimator can stand before another one in a ``Pipeline``,
        e.g. ``make_pipeline(ConstrainedGRUClassifier(), LogisticRegression())``
        (the GRU is fitted on the labels, then the second estimator on its
        states).

        Parameters
        ----------
        X : array-like or list of arrays
            Sequences, as in ``fit``.
        return_sequences : bool, default=False
            Return the top layer's state after every step instead (Keras's
            ``return_sequences=True``): an array ``(n_samples, n_timesteps,
            n_states)`` for array input, with zeros on masked (padding)
            steps, or a list of ``(T_i, n_states)`` arrays for a ragged list.
            Not available with ``set_output(transform="pandas")``.

        Returns
        -------
        states : ndarray of shape (n_samples, n_states), or see above
            ``n_states`` is ``units`` (``2 * units`` when ``bidirectional``),
            in the model's ``dtype``; a DataFrame with
            ``set_output(transform="pandas")``.
        """
        seqs = self._check_X_predict(X)
        if not return_sequences:
            return predict_states(self.device, self._weights, seqs, self._train_config(), "pooled")
        from sklearn.utils._set_output import _get_output_config

        if _get_output_config("transform", self)["dense"] != "default":
            raise ValueError(
                "transform(X, return_sequences=True) gives one state per step (3-D or a list), "
                "which has no DataFrame form; use set_output(transform='default') for it."
            )
        out = predict_states(self.device, self._weights, seqs, self._train_config(), "sequences")
        if _is_ragged(X) or (self.embedding_dim is not None and isinstance(X, (list, tuple))):
            return [out[i, :n] for i, n in enumerate(seqs.lengths)]
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        # The states come in the model's dtype, whatever the input's.
        tags.transformer_tags.preserves_dtype = [self.dtype]
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
        from ..io._interop import to_torch_state_dict

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
        from ..io._interop import from_torch_state_dict

        return from_torch_state_dict(self, state_dict)


def _match_embedding_slots(state, optimizer):
    """An optimizer state for ``optimizer``'s parameters across a change of
    ``embedding_trainable``: the embedding's slots dropped when it is frozen,
    zero slots put first when it is unfrozen (its moments start afresh)."""
    state = dict(state)
    for slot in optimizer._slots:
        arrays = list(state.get(slot, []))
        want = getattr(optimizer, slot)
        if not want or len(arrays) == len(want):
            continue
        if len(arrays) == len(want) + 1:
            arrays = arrays[1:]
        elif len(arrays) + 1 == len(want):
            arrays = [np.zeros_like(want[0])] + arrays
        state[slot] = arrays
    return state


def _channels_last(X):
    """``(n, C, T)`` arrays (and ragged ``(C, T_i)`` arrays) as ``(n, T, C)`` (``(T_i, C)``)."""
    if _is_ragged(X):
        return [np.asarray(x).T if np.ndim(x) == 2 else x for x in X]
    if hasattr(X, "iloc") or np.ndim(X) != 3:  # 2-D: univariate either way
        return X
    return np.swapaxes(np.asarray(X), 1, 2)


def _warn_single_step(X):
    """Warn when a 3-D array is one timestep of several features (aeon's misread layout)."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 3 and shape[1] == 1 and shape[2] > 1:
        warnings.warn(
            f"X has shape {tuple(shape)}: it is read as sequences of a single timestep with "
            f"{shape[2]} features each (n_samples, n_timesteps, n_features). If it is "
            "aeon's or sktime's (n_cases, n_channels, n_timepoints) layout, set "
            "data_format='channels_first' (or pass X.transpose(0, 2, 1)).",
            UserWarning,
            stacklevel=4,
        )
