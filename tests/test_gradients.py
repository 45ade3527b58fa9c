"""End-to-end gradient checks through the estimator, in float64.

The judge is the independent NumPy oracle in ``reference.py``: predictions are
compared with ``predict_proba_reference`` and one full-batch plain-SGD step of
``ConstrainedGRUClassifier`` must move every weight by ``learning_rate_init``
times the central finite-difference gradient of the oracle's loss (the mean,
sample-weighted cross-entropy plus scikit-learn's L2 term). The backend's
``Trainer.loss_and_grads`` (CPU kernel set) is compared with the oracle's analytic gradients.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import (
    gru_forward,
    gru_loss_and_grads,
    numerical_gradient,
    predict_proba_reference,
    sigmoid,
)

from skgru import ConstrainedGRUClassifier
from skgru.data._sequences import time_major_batch, to_sequences
from skgru.engine._config import TrainConfig
from skgru.engine._devices import make_trainer
from skgru.model._network import draw_regularisers
from skgru.training._optimizers import make_optimizer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

U = 3
F = 2
LABELS = {2: np.array([3, 7]), 3: np.array(["a", "b", "c"])}


# -- data and weights ------------------------------------------------------------


def _ragged(rng, n, F, lengths=(1, 6)):
    return [rng.normal(size=(int(rng.integers(lengths[0], lengths[1] + 1)), F)) for _ in range(n)]


def _pad(X_list):
    T = max(len(x) for x in X_list)
    F = X_list[0].shape[1]
    x = np.zeros((len(X_list), T, F))
    mask = np.zeros((len(X_list), T), dtype=bool)
    for i, a in enumerate(X_list):
        x[i, : len(a)] = a
        mask[i, : len(a)] = True
    return x, mask


def _as_oracle_input(X):
    """Batch-major ``(x, mask)`` for the oracle from any accepted estimator input."""
    if isinstance(X, list):
        return _pad([np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in X])
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 2:
        X = X[:, :, None]
    return X, np.ones(X.shape[:2], dtype=bool)


def _labels(rng, n, n_classes):
    codes = np.arange(n) % n_classes  # every class present
    rng.shuffle(codes)
    return LABELS[n_classes][codes], codes


def _random_weights(rng, F, U, n_out, reset_after, scale=0.5):
    return [
        rng.normal(scale=scale, size=(F, 3 * U)),
        rng.normal(scale=scale, size=(U, 3 * U)),
        rng.normal(scale=0.3, size=(2, 3 * U) if reset_after else (3 * U,)),
        rng.normal(scale=0.8, size=(U, n_out)),
        rng.normal(scale=0.3, size=(n_out,)),
    ]


def _target(codes, n_classes):
    if n_classes == 2:
        return codes.astype(np.float64)
    return np.eye(n_classes)[codes]


def _sgd_estimator(n, reset_after, lr=0.05, **kw):
    return ConstrainedGRUClassifier(
        units=U,
        reset_after=reset_after,
        dtype="float64",
        device="cpu",
        solver="sgd",
        momentum=0.0,
        nesterovs_momentum=False,
        learning_rate_init=lr,
        batch_size=n,
        shuffle=False,
        max_iter=1,
        warm_start=True,
        random_state=0,
        **kw,
    )


# -- (a) predict_proba against the oracle ------------------------------------------


def _pooled_proba_reference(x, mask, weights, reset_after, pooling):
    """``predict_proba_reference`` for "last"; mean / max pooling composed from the oracle."""
    W, R, b, Wd, bd = weights
    if pooling == "last":
        return predict_proba_reference(x, mask, W, R, b, Wd, bd, reset_after=reset_after)
    h_seq, _ = gru_forward(x, W, R, b, mask=mask, reset_after=reset_after)
    valid = mask[:, :, None]
    if pooling == "mean":
        pooled = np.where(valid, h_seq, 0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    else:
        pooled = np.where(valid, h_seq, -np.inf).max(axis=1)
    logits = pooled @ Wd + bd
    if logits.shape[1] == 1:
        p = sigmoid(logits[:, 0])
        return np.column_stack([1 - p, p])
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("kind", ["ragged", "3d", "2d"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("reset_after", [True, False])
def test_predict_proba_matches_oracle(reset_after, n_classes, kind, pooling):
    rng = np.random.default_rng(100 * n_classes + 7 * reset_after + len(kind))
    n = 9
    if kind == "ragged":
        X = _ragged(rng, n, F)
    elif kind == "3d":
        X = rng.normal(size=(n, 5, F))
    else:
        X = rng.normal(size=(n, 5))
    y, _ = _labels(rng, n, n_classes)
    est = ConstrainedGRUClassifier(
        units=U,
        reset_after=reset_after,
        dtype="float64",
        device="cpu",
        max_iter=1,
        random_state=0,
        pooling=pooling,
    ).fit(X, y)
    n_out = 1 if n_classes == 2 else n_classes
    n_in = 1 if kind == "2d" else F
    weights = _random_weights(rng, n_in, U, n_out, reset_after, scale=0.8)
    est.set_weights(weights)
    got = est.get_weights()
    for a, b in zip(got, weights):
        np.testing.assert_array_equal(a, b)

    # New data of the same kind, different lengths from the training data.
    rng2 = np.random.default_rng(5)
    if kind == "ragged":
        X_test = _ragged(rng2, 11, F, lengths=(1, 8))
    elif kind == "3d":
        X_test = rng2.normal(size=(11, 5, F))
    else:
        X_test = rng2.normal(size=(11, 5))
    x, mask = _as_oracle_input(X_test)
    expected = _pooled_proba_reference(x, mask, got, reset_after, pooling)
    proba = est.predict_proba(X_test)
    assert proba.dtype == np.float64
    assert proba.shape == (11, n_classes)
    np.testing.assert_allclose(proba, expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        est.predict_log_proba(X_test), np.log(expected), rtol=1e-8, atol=1e-10
    )
    np.testing.assert_array_equal(est.predict(X_test), est.classes_[np.argmax(expected, axis=1)])


# -- (b) one plain SGD step == lr * finite-difference gradient of the oracle loss ---


def _weight_variant(rng, codes, n_classes, variant):
    """Return (sample_weight for fit, estimator kwargs, oracle per-sample weights)."""
    n = len(codes)
    labels = LABELS[n_classes]
    sw = None
    kwargs = {}
    w = np.ones(n)
    if variant in ("sample_weight", "both"):
        sw = rng.uniform(0.2, 2.0, size=n)
        sw[0] = 0.0  # a zero weight is allowed and drops the sample from the loss
        w = w * sw
    if variant in ("class_weight", "both"):
        cw = {lab: float(v) for lab, v in zip(labels, [0.5, 2.5, 1.5][:n_classes])}
        kwargs["class_weight"] = cw
        w = w * np.array([cw[lab] for lab in labels[codes]])
    if variant == "balanced":
        kwargs["class_weight"] = "balanced"
        counts = np.bincount(codes, minlength=n_classes)
        w = w * (n / (n_classes * counts))[codes]
    return sw, kwargs, w


def _oracle_loss_fn(x, mask, weights, Y, w, reset_after, alpha):
    def loss():
        return gru_loss_and_grads(
            x, mask, *weights, Y, sample_weight=w, reset_after=reset_after, alpha=alpha
        )[0]

    return loss


@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("variant", ["none", "sample_weight", "class_weight", "both", "balanced"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("reset_after", [True, False])
def test_sgd_step_is_lr_times_fd_gradient(reset_after, n_classes, variant, alpha):
    rng = np.random.default_rng(1000 + 10 * n_classes + reset_after)
    n = 8
    lr = 0.05
    X = _ragged(rng, n, F)
    y, codes = _labels(rng, n, n_classes)
    sw, kwargs, w = _weight_variant(rng, codes, n_classes, variant)
    est = _sgd_estimator(n, reset_after, lr=lr, alpha=alpha, **kwargs)
    est.fit(X, y, sample_weight=sw)
    n_out = 1 if n_classes == 2 else n_classes
    w0 = _random_weights(rng, F, U, n_out, reset_after)
    est.set_weights(w0)
    t_before = est.t_
    est.fit(X, y, sample_weight=sw)
    assert est.n_iter_ == 1
    assert est.t_ == t_before + n
    w1 = est.get_weights()

    x, mask = _pad(X)
    Y = _target(codes, n_classes)
    params = [p.copy() for p in w0]
    loss_fn = _oracle_loss_fn(x, mask, params, Y, w, reset_after, alpha)
    # The epoch loss reported is the loss at the start of the (single) step.
    np.testing.assert_allclose(est.loss_curve_[-1], loss_fn(), rtol=1e-10)
    for i, (p, before, after) in enumerate(zip(params, w0, w1)):
        fd = numerical_gradient(loss_fn, p, eps=1e-6)
        np.testing.assert_array_equal(p, before)  # restored exactly
        step = (before - after) / lr
        np.testing.assert_allclose(step, fd, rtol=1e-4, atol=1e-8, err_msg=f"weight {i}")


@pytest.mark.parametrize("reset_after", [True, False])
def test_sgd_step_with_2d_and_3d_input(reset_after):
    """Same check on dense (unmasked) 2-D and 3-D input, 3 classes, alpha > 0."""
    rng = np.random.default_rng(77 + reset_after)
    n, lr, alpha = 7, 0.1, 0.2
    for X in (rng.normal(size=(n, 4)), rng.normal(size=(n, 4, F))):
        y, codes = _labels(rng, n, 3)
        est = _sgd_estimator(n, reset_after, lr=lr, alpha=alpha).fit(X, y)
        n_in = 1 if X.ndim == 2 else F
        w0 = _random_weights(rng, n_in, U, 3, reset_after)
        est.set_weights(w0)
        w1 = est.fit(X, y).get_weights()
        x, mask = _as_oracle_input(X)
        params = [p.copy() for p in w0]
        loss_fn = _oracle_loss_fn(x, mask, params, np.eye(3)[codes], None, reset_after, alpha)
        for i, (p, before, after) in enumerate(zip(params, w0, w1)):
            fd = numerical_gradient(loss_fn, p)
            np.testing.assert_allclose(
                (before - after) / lr, fd, rtol=1e-4, atol=1e-8, err_msg=f"weight {i}"
            )


# -- Trainer.loss_and_grads against the oracle's analytic gradients ------------


def _trainer(X_list, codes, n_classes, weights, reset_after, sample_weight=None, **cfg):
    seqs, _ = to_sequences(X_list, np.float64)
    Y = _target(codes, n_classes)
    Y = Y[:, None] if n_classes == 2 else Y
    w = np.ones(len(codes)) if sample_weight is None else sample_weight
    config = TrainConfig(
        reset_after=reset_after,
        out_activation="logistic" if n_classes == 2 else "softmax",
        **cfg,
    )
    params = [np.array(p, dtype=np.float64) for p in weights]
    opt = make_optimizer(
        "sgd", params, learning_rate_init=0.1, momentum=0.0, nesterovs_momentum=False
    )
    return make_trainer("cpu", params, opt, config, seqs, Y, w), seqs


GRAD_NAMES = ("dW", "dR", "db", "dWd", "dbd")


@pytest.mark.parametrize("alpha", [0.0, 0.7])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("reset_after", [True, False])
def test_trainer_loss_and_grads_match_oracle(reset_after, n_classes, alpha):
    rng = np.random.default_rng(7 + n_classes + 2 * reset_after)
    n = 10
    X = _ragged(rng, n, F, lengths=(1, 7))
    _, codes = _labels(rng, n, n_classes)
    n_out = 1 if n_classes == 2 else n_classes
    weights = _random_weights(rng, F, U, n_out, reset_after)
    sw = rng.uniform(0.1, 3.0, size=n)
    trainer, _ = _trainer(X, codes, n_classes, weights, reset_after, sample_weight=sw, alpha=alpha)
    x, mask = _pad(X)
    Y = _target(codes, n_classes)
    for idx in (np.arange(n), np.array([7, 2, 5]), np.array([4])):
        loss, grads, w_sum = trainer.loss_and_grads(idx, np.random.default_rng(0))
        ref_loss, ref = gru_loss_and_grads(
            x[idx],
            mask[idx],
            *weights,
            Y[idx],
            sample_weight=sw[idx],
            reset_after=reset_after,
            alpha=alpha,
        )
        assert w_sum == pytest.approx(sw[idx].sum(), rel=1e-14)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-10)
        assert len(grads) == 5
        for g, name, p in zip(grads, GRAD_NAMES, weights):
            assert g.shape == p.shape, name
            assert g.dtype == np.float64, name
            np.testing.assert_allclose(g, ref[name], rtol=1e-8, atol=1e-12, err_msg=name)
    # The trainer does not modify its parameters when computing gradients.
    for a, b in zip(trainer.get_params(), weights):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("reset_after", [True, False])
def test_trainer_grads_with_dropout_masks(reset_after):
    """With dropout and recurrent dropout, the gradients are those of the masked model.

    The masks are re-drawn with the same generator state (``draw_regularisers``):
    the input mask multiplies ``x`` at every step, and the recurrent mask
    ``h_prev`` before the recurrent products, which the oracle expresses per
    sequence through ``diag(rmask[b]) @ R``.
    """
    rng = np.random.default_rng(3)
    n, n_classes = 6, 3
    X = _ragged(rng, n, F, lengths=(2, 6))
    _, codes = _labels(rng, n, n_classes)
    weights = _random_weights(rng, F, U, n_classes, reset_after)
    trainer, seqs = _trainer(
        X, codes, n_classes, weights, reset_after, dropout=0.4, recurrent_dropout=0.5
    )
    idx = np.arange(n)
    loss, grads, _ = trainer.loss_and_grads(idx, np.random.default_rng(42))

    Xtm, _ = time_major_batch(seqs, idx)
    T = Xtm.shape[0]
    noise, input_mask, rmask = draw_regularisers(
        np.random.default_rng(42),
        n,
        T,
        F,
        U,
        dropout=0.4,
        recurrent_dropout=0.5,
        input_noise=0.0,
        dtype=np.float64,
    )
    assert noise is None and input_mask is not None and rmask is not None
    assert (rmask == 0).any() and (input_mask == 0).any()
    x, mask = _pad(X)
    x = x * input_mask[:, None, :]
    Y = np.eye(n_classes)[codes]
    W, R, b, Wd, bd = weights
    total = 0.0
    acc = {k: 0.0 for k in GRAD_NAMES}
    for i in range(n):
        Ri = rmask[i][:, None] * R
        li, gi = gru_loss_and_grads(
            x[i : i + 1], mask[i : i + 1], W, Ri, b, Wd, bd, Y[i : i + 1], reset_after=reset_after
        )
        total += li / n  # per-sequence means with equal weights average to the batch mean
        gi["dR"] = rmask[i][:, None] * gi["dR"]
        for k in GRAD_NAMES:
            acc[k] = acc[k] + gi[k] / n
    np.testing.assert_allclose(loss, total, rtol=1e-10)
    for g, name in zip(grads, GRAD_NAMES):
        np.testing.assert_allclose(g, acc[name], rtol=1e-8, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("pooling", ["mean", "max"])
@pytest.mark.parametrize("reset_after", [True, False])
def test_trainer_pooled_grads_finite_differences(reset_after, pooling):
    """Mean / max pooling: trainer gradients equal central differences of an oracle loss."""
    rng = np.random.default_rng(11)
    n, n_classes = 7, 3
    X = _ragged(rng, n, F, lengths=(1, 6))
    _, codes = _labels(rng, n, n_classes)
    weights = _random_weights(rng, F, U, n_classes, reset_after)
    trainer, _ = _trainer(X, codes, n_classes, weights, reset_after, pooling=pooling)
    loss, grads, _ = trainer.loss_and_grads(np.arange(n), np.random.default_rng(0))
    x, mask = _pad(X)
    Y = np.eye(n_classes)[codes]
    params = [p.copy() for p in weights]

    def oracle_loss():
        proba = _pooled_proba_reference(x, mask, params, reset_after, pooling)
        return float(-(Y * np.log(proba)).sum(axis=1).mean())

    np.testing.assert_allclose(loss, oracle_loss(), rtol=1e-10)
    for i, (g, p) in enumerate(zip(grads, params)):
        np.testing.assert_allclose(
            g, numerical_gradient(oracle_loss, p), rtol=1e-5, atol=1e-8, err_msg=f"weight {i}"
        )


def test_pooled_reference_last_is_predict_proba_reference():
    """Guard for the test helper: its "last" branch is the oracle itself."""
    rng = np.random.default_rng(0)
    x, mask = _pad(_ragged(rng, 5, F))
    w = _random_weights(rng, F, U, 3, True)
    np.testing.assert_array_equal(
        _pooled_proba_reference(x, mask, w, True, "last"),
        predict_proba_reference(x, mask, *w, reset_after=True),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(
    rows=st.integers(1, 40),
    cols=st.integers(1, 12),
    scale=st.sampled_from([1e-3, 1.0, 30.0, 1e4]),
    seed=st.integers(0, 2**31 - 1),
)
@settings(max_examples=30, deadline=None)
def test_head_softmax_is_scipys_bitwise(dtype, rows, cols, scale, seed):
    """The head's softmax and log-softmax give scipy.special's bits."""
    from scipy.special import log_softmax, softmax

    from skgru.model._network import _log_softmax, _softmax

    x = (np.random.default_rng(seed).standard_normal((rows, cols)) * scale).astype(dtype)
    np.testing.assert_array_equal(_softmax(x), softmax(x, axis=1))
    np.testing.assert_array_equal(_log_softmax(x), log_softmax(x, axis=1))
