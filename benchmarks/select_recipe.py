"""How the recommended pipelines' settings were chosen, on training data only.

Usage::

    python benchmarks/select_recipe.py sequence LABEL "CONFIG" [--datasets ...] [--seeds 0,1,2]
    python benchmarks/select_recipe.py text LABEL "CONFIG" [--epochs 6]
    python benchmarks/select_recipe.py vote "" "CONFIG" [--epochs 5]

Each run appends one JSON line to ``results/selection_sequence.jsonl`` or
``results/selection_text.jsonl``; ``benchmarks/NOTES.md`` ("Accuracy on real
data") tabulates them. CONFIG is a Python dict literal.

**sequence**: mean accuracy of 3-fold stratified CV (shuffled with the seed)
on the *training* split of each bundled UCR/UEA set, for the pipeline
``SequenceScaler(mode=scale) -> front-end -> ConstrainedGRUClassifier``.
CONFIG keys: ``"conv"`` (parameters of the front-end), ``"gru"`` (of the
classifier, over the recommended ones of this file's ``GRU``), ``"scale"``,
and ``"prep"`` (``"pad"`` or ``"resample"``: ragged series made equal-length
first). The front-end here is :class:`VariantConvolutions`, which accepts
``DilatedConvolutions``'s parameters and three that the package does not have:
``pool_kind`` (``"max"``, ``"ppv"``, ``"both"`` or ``"meanrelu"``),
``n_biases`` (biases per kernel) and ``steps`` (the output length
``pool_size="auto"`` aims at); ``pool_kind="max"`` with the other two at their
defaults is ``DilatedConvolutions(pooling="max")`` exactly, and ``"ppv"`` is
``pooling="ppv"``. ``"gru": {"pooling": "meanmax"}`` concatenates mean and
max pooling over time, a variant the package does not have; this script adds
it to the CPU kernel set for its own process only (it lost, see NOTES.md).

**text**: the GRU pipeline of ``make_text_classifier(linear=False)`` on 20
Newsgroups, trained on the earlier four fifths of each class of the
*training* split and scored after every epoch on the later fifth (the rows of
a class are in posting order, and the official test split holds later posts,
so a later slice mimics it better than a random one). CONFIG: ``"vec"``
(vectorizer parameters), ``"gru"`` (classifier parameters) and ``"svd"``
(a scale: initialise the embedding with word vectors from a truncated SVD of
the positive PMI of word co-occurrences in the training fold, scaled to that
standard deviation).

**vote**: on the same time-ordered split, the GRU pipeline's (CONFIG as
for **text**) and TF-IDF models' probabilities alone and averaged with
several weights.
"""

import argparse
import ast
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state

import skgru
from skgru.preprocessing import DilatedConvolutions, SequenceScaler
from skgru.preprocessing._convolution import _auto_dilations, _convolve, _max_pool, _mean_pool

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from accuracy import LOADERS, load, padded  # noqa: E402

# The GRU settings every sequence configuration starts from (the recipe's
# settings before this selection).
GRU = {
    "units": 32,
    "pooling": "max",
    "batch_size": 16,
    "learning_rate_init": 0.003,
    "max_iter": 200,
}


class VariantConvolutions(DilatedConvolutions):
    """``DilatedConvolutions`` with the pooling variants and extra biases that were tried."""

    def __init__(
        self,
        dilations="auto",
        max_dilations=6,
        n_kernels=84,
        pool_size="auto",
        random_state=None,
        pool_kind="max",
        n_biases=1,
        steps=80.0,
    ):
        super().__init__(
            dilations=dilations,
            max_dilations=max_dilations,
            n_kernels=n_kernels,
            pool_size=pool_size,
            random_state=random_state,
        )
        self.pool_kind = pool_kind
        self.n_biases = n_biases
        self.steps = steps

    def _responses(self, values, i):
        n, T, _ = values.shape
        chunk = max(1, (1 << 18) // max(1, T * self.kernels_.shape[1]))
        out = []
        for s in range(0, n, chunk):
            z = _convolve(
                values[s : s + chunk], self.dilations_[i], self.kernels_[i], self.channel_masks_[i]
            )
            parts = []
            for b in range(self.n_biases):
                above = z - self.biases_[i, :, b]
                if self.pool_kind in ("max", "both"):
                    parts.append(_max_pool(np.maximum(above, 0.0), self.pool_size_))
                if self.pool_kind in ("ppv", "both"):
                    parts.append(_mean_pool((above > 0).astype(np.float64), self.pool_size_))
                if self.pool_kind == "meanrelu":
                    parts.append(_mean_pool(np.maximum(above, 0.0), self.pool_size_))
            out.append(np.concatenate(parts, axis=2))
        return np.concatenate(out)

    def _fit_values(self, values, lengths):
        # DilatedConvolutions._fit_values with n_biases quantiles per kernel,
        # drawn in the same order (so n_biases=1 draws the same biases).
        rng = check_random_state(self.random_state)
        n, T, F = values.shape
        L = np.full(n, T) if lengths is None else np.asarray(lengths)
        median = float(np.median(L))
        if isinstance(self.dilations, str):
            self.dilations_ = _auto_dilations(median, self.max_dilations)
        else:
            self.dilations_ = tuple(int(v) for v in self.dilations)
        if isinstance(self.pool_size, str):
            self.pool_size_ = max(1, int(np.ceil(median / self.steps)))
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
        sample = rng.choice(n, size=min(n, 200), replace=False)
        levels = rng.uniform(0.1, 0.9, size=(n_dil, k, self.n_biases))
        self.biases_ = np.zeros((n_dil, k, self.n_biases))
        for i in range(n_dil):
            resp = np.concatenate(
                [
                    _convolve(
                        values[m : m + 1, : L[m]], self.dilations_[i], self.kernels_[i], masks[i]
                    )[0]
                    for m in sample
                ]
            )
            for j in range(k):
                self.biases_[i, j] = np.quantile(resp[:, j], levels[i, j])
        steps = np.concatenate([self._pooled(values[m : m + 1, : L[m]])[0] for m in range(n)])
        self.n_output_features_ = steps.shape[1]
        std = steps.std(axis=0)
        self.mean_ = steps.mean(axis=0)
        self.scale_ = np.where(std < 1e-8, 1.0, std)


def _enable_meanmax():
    """Concatenated mean and max pooling over time, for this process only (a variant that lost)."""
    from sklearn.utils._param_validation import StrOptions

    import skgru.estimators._base as base
    from skgru.kernels.cpu._kernel_set import CPUKernelSet

    if getattr(CPUKernelSet, "_meanmax", False):
        return
    CPUKernelSet._meanmax = True
    pool, pool_backward, init_params = (
        CPUKernelSet.pool,
        CPUKernelSet.pool_backward,
        base.init_params,
    )

    def pool_mm(self, out, final, mask, pooling):
        if pooling != "meanmax":
            return pool(self, out, final, mask, pooling)
        a, aux_a = pool(self, out, final, mask, "mean")
        b, aux_b = pool(self, out, final, mask, "max")
        return np.concatenate([a, b], axis=-1), (aux_a, aux_b, a.shape[-1])

    def pool_backward_mm(self, d, mask, pooling, aux, T):
        if pooling != "meanmax":
            return pool_backward(self, d, mask, pooling, aux, T)
        aux_a, aux_b, H = aux
        da, _ = pool_backward(self, np.ascontiguousarray(d[:, :H]), mask, "mean", aux_a, T)
        db, _ = pool_backward(self, np.ascontiguousarray(d[:, H:]), mask, "max", aux_b, T)
        return (da + db).astype(d.dtype), None

    def init_params_mm(rng, n_features, units, n_outputs, reset_after, dtype, *args, **kw):
        params = init_params(rng, n_features, units, n_outputs, reset_after, dtype, *args, **kw)
        Wd = params[-2]
        limit = np.sqrt(6.0 / (2 * Wd.shape[0] + Wd.shape[1]))
        extra = rng.uniform(-limit, limit, Wd.shape).astype(Wd.dtype)
        params[-2] = np.concatenate([Wd, extra], axis=0)
        return params

    CPUKernelSet.pool, CPUKernelSet.pool_backward = pool_mm, pool_backward_mm
    base.init_params = init_params_mm
    for klass in skgru.ConstrainedGRUClassifier.__mro__:
        constraints = klass.__dict__.get("_parameter_constraints")
        if constraints and "pooling" in constraints:
            constraints["pooling"] = [StrOptions({"last", "mean", "max", "meanmax"})]


def _sequence_fold(name, cfg, seed, fold):
    warnings.simplefilter("ignore", ConvergenceWarning)
    if cfg.get("gru", {}).get("pooling") == "meanmax":
        _enable_meanmax()
    Xtr, ytr, _, _ = load(name)
    if cfg.get("prep") == "pad" and not isinstance(Xtr, np.ndarray):
        Xtr = padded(Xtr)
    elif cfg.get("prep") == "resample" and not isinstance(Xtr, np.ndarray):
        from skgru.preprocessing import SequenceResampler

        n_steps = int(max(len(x) for x in Xtr))
        Xtr = SequenceResampler(n_steps=n_steps, method="linear").fit_transform(Xtr)
    cv = StratifiedKFold(3, shuffle=True, random_state=seed)
    train, held = list(cv.split(np.zeros(len(ytr)), ytr))[fold]
    take = (lambda X, i: X[i]) if isinstance(Xtr, np.ndarray) else (lambda X, i: [X[j] for j in i])
    pipe = Pipeline(
        [
            ("scale", SequenceScaler(mode=cfg.get("scale", "sequence"))),
            ("conv", VariantConvolutions(random_state=seed, **cfg.get("conv", {}))),
            (
                "gru",
                skgru.ConstrainedGRUClassifier(
                    random_state=seed, device="cpu", **{**GRU, **cfg.get("gru", {})}
                ),
            ),
        ]
    )
    t = time.perf_counter()
    pipe.fit(take(Xtr, train), ytr[train])
    return float(pipe.score(take(Xtr, held), ytr[held])), time.perf_counter() - t


def select_sequence(label, cfg, names, seeds, n_jobs):
    jobs = [(n, s, f) for n in names for s in seeds for f in range(3)]
    out = Parallel(n_jobs=n_jobs)(delayed(_sequence_fold)(n, cfg, s, f) for n, s, f in jobs)
    scores = {}
    for (n, _, _), (acc, _) in zip(jobs, out):
        scores.setdefault(n, []).append(acc)
    cv = {n: round(float(np.mean(v)), 4) for n, v in scores.items()}
    return {
        "label": label,
        "cfg": cfg,
        "seeds": seeds,
        "cv": cv,
        "mean": round(float(np.mean(list(cv.values()))), 4),
    }


def time_ordered_split(y, late=0.2):
    """Per class, the earlier rows train and the later ``late`` fraction is held out."""
    y = np.asarray(y)
    train, held = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = int(round(len(idx) * (1 - late)))
        train += list(idx[:k])
        held += list(idx[k:])
    return np.array(train), np.array(held)


def ppmi_svd_vectors(X, vocab_size, dim, window=5, scale=0.05):
    """Word vectors from a token-id matrix: co-occurrence within ``window`` -> PPMI -> SVD."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import svds

    rows, cols = [], []
    for offset in range(1, window + 1):
        a, b = X[:, :-offset].ravel(), X[:, offset:].ravel()
        keep = (a > 1) & (b > 1)  # no padding (0) or out-of-vocabulary (1) ids
        rows += [a[keep], b[keep]]
        cols += [b[keep], a[keep]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    C = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(vocab_size, vocab_size)).tocsr().tocoo()
    total = C.sum()
    row_sums = np.asarray(C.tocsr().sum(axis=1)).ravel()
    context = row_sums**0.75
    context /= context.sum()
    pmi = np.log(C.data / total) - np.log(row_sums[C.row] / total) - np.log(context[C.col])
    keep = pmi > 0
    M = sp.csr_matrix((pmi[keep], (C.row[keep], C.col[keep])), shape=C.shape)
    U, S, _ = svds(M, k=dim)
    E = U * np.sqrt(S)
    return E * (scale / (E[2:].std() + 1e-12))


def _text_split():
    from text_data import load_newsgroups

    docs, y, _, _ = load_newsgroups()
    train, held = time_ordered_split(y)
    return [docs[i] for i in train], y[train], [docs[i] for i in held], y[held]


def _text_gru(cfg, epochs, D1, y1):
    import skgru.estimators._base as base

    pipe = skgru.make_text_classifier(
        random_state=0,
        linear=False,
        vectorizer_params=cfg.get("vec"),
        **{"early_stopping": False, "max_iter": epochs, "device": "cpu", "n_jobs": 2},
        **cfg.get("gru", {}),
    )
    vec, gru = pipe[0], pipe[1]
    X1 = vec.fit_transform(D1)
    if cfg.get("svd"):
        E = ppmi_svd_vectors(X1, len(vec.vocabulary_) + 2, gru.embedding_dim, scale=cfg["svd"])
        base.init_embedding = lambda rng, v, d, dtype: E.astype(dtype)
    return pipe, vec, gru, X1


def select_text(label, cfg, epochs):
    warnings.simplefilter("ignore", ConvergenceWarning)
    D1, y1, D2, y2 = _text_split()
    t = time.perf_counter()
    _, vec, gru, X1 = _text_gru(cfg, epochs, D1, y1)
    gru.fit(X1, y1, validation_data=(vec.transform(D2), y2))
    return {
        "label": label,
        "cfg": cfg,
        "held_out_accuracy_per_epoch": [round(v, 4) for v in gru.validation_scores_],
        "seconds": round(time.perf_counter() - t),
    }


def select_vote(cfg, epochs):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    warnings.simplefilter("ignore", ConvergenceWarning)
    D1, y1, D2, y2 = _text_split()
    pipe, vec, gru, X1 = _text_gru(cfg, epochs, D1, y1)
    P_gru = gru.fit(X1, y1).predict_proba(vec.transform(D2))
    classes = gru.classes_

    def accuracy(P):
        return float(np.mean(classes[P.argmax(1)] == y2))

    linear = {
        "TF-IDF + LogisticRegression(C=30)": LogisticRegression(C=30.0, max_iter=2000),
        "TF-IDF + calibrated LinearSVC(C=1)": CalibratedClassifierCV(LinearSVC(), cv=3),
    }
    acc = {"GRU alone": accuracy(P_gru)}
    for name, clf in linear.items():
        tfidf = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2))
        P = Pipeline([("tfidf", tfidf), ("clf", clf)]).fit(D1, y1).predict_proba(D2)
        acc[name] = accuracy(P)
        for w in (0.2, 0.3, 0.4, 0.5):
            acc[f"vote {w:.1f} GRU + {1 - w:.1f} {name}"] = accuracy(w * P_gru + (1 - w) * P)
            geometric = w * np.log(P_gru + 1e-9) + (1 - w) * np.log(P + 1e-9)
            acc[f"geometric vote {w:.1f} GRU + {1 - w:.1f} {name}"] = accuracy(geometric)
    return {"label": "vote", "cfg": cfg, "epochs": epochs, "held_out_accuracy": acc}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["sequence", "text", "vote"])
    parser.add_argument("label", nargs="?", default="")
    parser.add_argument("config", nargs="?", default="{}")
    parser.add_argument("--datasets", default=",".join(LOADERS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args(argv)
    cfg = ast.literal_eval(args.config)
    if args.part == "sequence":
        seeds = [int(s) for s in args.seeds.split(",")]
        record = select_sequence(args.label, cfg, args.datasets.split(","), seeds, args.n_jobs)
        path = HERE / "results" / "selection_sequence.jsonl"
    elif args.part == "text":
        record = select_text(args.label, cfg, args.epochs)
        path = HERE / "results" / "selection_text.jsonl"
    else:
        record = select_vote(cfg, args.epochs)
        path = HERE / "results" / "selection_text.jsonl"
    print(json.dumps(record), flush=True)
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
