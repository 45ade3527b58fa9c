"""The engine on every kernel set against the float64 NumPy oracle of the whole model.

Each case is a 2-epoch float64 ``fit`` of an estimator on one kernel set (the
``device`` parameter); its weights and predictions must equal the oracle's
(``reference.fit_reference``, ``reference.model_forward``, which share no code
with skgru) to 1e-8. The CPU kernel set runs here in every suite; the CUDA
kernel set runs where numba has a CUDA target: Numba's simulator (CI's
simulator step, ``NUMBA_ENABLE_CUDASIM=1``) or a real GPU.

The cases cover, in pairs, every level of the factors the engine composes
(layers, directions, pooling, output layer, optimizer, a weight constraint,
which dropout, embedding, ragged input): 12 fits instead of the 2,592 of the
full product, since an interaction between two factors is what a wrong
engine or kernel most often gets wrong, and the simulator is slow (a fit of
a two-layer bidirectional model there takes tens of seconds).
:func:`test_cases_cover_every_pair` checks the covering. Clipping, the L2
term, input noise and ``reset_after=False`` ride along on some cases.
"""

import contextlib
import itertools
import os
import warnings

import numpy as np
import pytest
from _cudasim import small_launch
from reference import fit_reference, model_forward, sigmoid
from sklearn.utils import check_random_state

from skgru import ConstrainedGRUClassifier, ConstrainedGRURegressor
from skgru.constraints import MaxNorm
from skgru.engine._devices import cuda_available
from skgru.model._network import init_embedding, init_params

FACTORS = {
    "num_layers": [1, 2],
    "bidirectional": [False, True],
    "pooling": ["last", "mean", "max"],
    "head": ["classifier", "multilabel", "regressor"],
    "solver": ["adam", "sgd", "rmsprop"],
    "constraint": ["max_norm", "callable"],
    "dropout": ["dropout", "recurrent_dropout"],
    "embedding": [False, True],
    "ragged": [False, True],
}

# A pairwise covering array over FACTORS (a greedy construction, then fixed).
CASES = [
    (2, True, "last", "multilabel", "rmsprop", "callable", "recurrent_dropout", True, True),
    (2, False, "mean", "classifier", "sgd", "max_norm", "dropout", False, False),
    (1, False, "max", "regressor", "adam", "callable", "dropout", False, True),
    (1, True, "mean", "regressor", "adam", "max_norm", "recurrent_dropout", True, False),
    (1, False, "last", "multilabel", "rmsprop", "max_norm", "dropout", False, False),
    (1, True, "max", "classifier", "sgd", "callable", "recurrent_dropout", True, True),
    (2, False, "max", "multilabel", "adam", "callable", "recurrent_dropout", False, False),
    (2, True, "mean", "regressor", "rmsprop", "max_norm", "dropout", True, True),
    (1, False, "max", "classifier", "rmsprop", "max_norm", "dropout", True, False),
    (2, True, "last", "classifier", "adam", "max_norm", "recurrent_dropout", False, False),
    (1, True, "last", "regressor", "sgd", "callable", "recurrent_dropout", True, False),
    (1, False, "mean", "multilabel", "sgd", "callable", "dropout", True, True),
]
CLIPS = [("clipnorm", 0.5), ("global_clipnorm", 0.4), ("clipvalue", 0.05), None]

N, T, F, U, VOCAB, DIM = 6, 4, 2, 3, 9, 3


def _kernel_sets():
    sets = ["cpu"]
    simulated = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    if simulated or cuda_available():
        sets.append("cuda")
    return sets


KERNEL_SETS = _kernel_sets()


def _scale(w):
    return 0.95 * w


def _case(i):
    case = dict(zip(FACTORS, CASES[i]))
    case.update(
        clip=CLIPS[i % len(CLIPS)],
        alpha=0.01 if i % 2 else 0.0,
        input_noise=0.1 if i % 3 == 0 else 0.0,
        reset_after=i % 4 != 3,
    )
    return case


def _data(case, seed):
    """Padded values (or ids) and mask, and what the estimator reads (ragged lists or arrays)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, N) if case["ragged"] else np.full(N, T)
    lengths[0] = T
    mask = np.arange(T)[None, :] < lengths[:, None]
    if case["embedding"]:
        x = np.where(mask, rng.integers(1, VOCAB, size=(N, T)), 0)
        X = [x[i, : lengths[i]] for i in range(N)] if case["ragged"] else x
    else:
        x = np.where(mask[:, :, None], rng.normal(size=(N, T, F)), 0.0)
        X = [x[i, : lengths[i]] for i in range(N)] if case["ragged"] else x
    labels = np.arange(N) % 3
    if case["head"] == "classifier":
        y, Y = labels, np.eye(3)[labels]
    elif case["head"] == "multilabel":
        y = np.stack([labels == 0, labels != 1, labels == 2], axis=1).astype(int)
        Y = y.astype(float)
    else:
        y = labels + 0.5
        Y = y[:, None]
    return x, mask, X, y, Y


def _estimator(case, device):
    kw = dict(
        units=U, num_layers=case["num_layers"], bidirectional=case["bidirectional"],
        pooling=case["pooling"], solver=case["solver"], reset_after=case["reset_after"],
        kernel_constraint=MaxNorm(0.6) if case["constraint"] == "max_norm" else _scale,
        recurrent_constraint=_scale if case["constraint"] == "callable" else None,
        alpha=case["alpha"], input_noise=case["input_noise"], max_iter=2, batch_size=4,
        learning_rate_init=0.05, dtype="float64", random_state=3, device=device,
        **{case["dropout"]: 0.3},
    )  # fmt: skip
    if case["clip"] is not None:
        kw[case["clip"][0]] = case["clip"][1]
    if case["embedding"]:
        kw.update(embedding_dim=DIM, vocab_size=VOCAB)
    cls = ConstrainedGRURegressor if case["head"] == "regressor" else ConstrainedGRUClassifier
    return cls(**kw)


def _oracle(case, x, mask, Y):
    """The oracle's fit from the estimator's seed: same initial weights, same draws."""
    rng = np.random.default_rng(check_random_state(3).randint(np.iinfo(np.int32).max))
    n_inputs = DIM if case["embedding"] else F
    params = init_params(
        rng, n_inputs, U, Y.shape[1], case["reset_after"], np.float64,
        case["num_layers"], case["bidirectional"],
    )  # fmt: skip
    if case["embedding"]:
        params.insert(0, init_embedding(rng, VOCAB, DIM, np.float64))
    blocks = case["num_layers"] * (2 if case["bidirectional"] else 1)
    k = 1 if case["embedding"] else 0
    kernel = ("max_norm", 0.6, 0) if case["constraint"] == "max_norm" else _scale
    recurrent = _scale if case["constraint"] == "callable" else None
    constraints = [None] * k + [kernel, recurrent, None] * blocks + [None, None]
    out_activation = {"classifier": "softmax", "multilabel": "logistic", "regressor": "identity"}
    cfg = {
        "embedding": case["embedding"], "num_layers": case["num_layers"],
        "bidirectional": case["bidirectional"], "reset_after": case["reset_after"],
        "pooling": case["pooling"], "out_activation": out_activation[case["head"]],
        "alpha": case["alpha"], "input_noise": case["input_noise"],
        "dropout": 0.3 if case["dropout"] == "dropout" else 0.0,
        "recurrent_dropout": 0.3 if case["dropout"] == "recurrent_dropout" else 0.0,
        "clip": case["clip"], "solver": case["solver"], "lr": 0.05, "momentum": 0.9,
        "nesterov": True, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8,
        "sparse_embeddings": True, "constraints": constraints,
    }  # fmt: skip
    w = np.ones(N)
    final = fit_reference(params, x, mask, Y, w, cfg, rng, epochs=2, batch_size=4)
    logits, _ = model_forward(final, x, mask, cfg)
    if case["head"] == "classifier":
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        pred = e / e.sum(axis=1, keepdims=True)
    elif case["head"] == "multilabel":
        pred = sigmoid(logits)
    else:
        pred = logits[:, 0]
    return final, pred


def test_cases_cover_every_pair():
    names = list(FACTORS)
    for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
        seen = {(case[i], case[j]) for case in CASES}
        missing = set(itertools.product(FACTORS[a], FACTORS[b])) - seen
        assert not missing, f"{a} x {b} never meets {sorted(missing, key=str)}"


@pytest.mark.parametrize("i", range(len(CASES)))
@pytest.mark.parametrize("device", KERNEL_SETS)
def test_fit_matches_oracle(device, i):
    case = _case(i)
    x, mask, X, y, Y = _data(case, seed=i)
    est = _estimator(case, device)
    simulated = device == "cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    with small_launch() if simulated else contextlib.nullcontext():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning after two epochs
            est.fit(X, y)
        got = est.predict(X) if case["head"] == "regressor" else est.predict_proba(X)
    weights, pred = _oracle(case, x, mask, Y)
    for got_w, want in zip(est.get_weights(), weights):
        np.testing.assert_allclose(got_w, want, rtol=0, atol=1e-8)
    np.testing.assert_allclose(got, pred, rtol=0, atol=1e-8)
