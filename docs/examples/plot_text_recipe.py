"""
==========================================================
The text recipe: make_text_classifier
==========================================================

:func:`skgru.make_text_classifier` is the pipeline to fit first on a text
classification problem: a :class:`~skgru.SequenceVectorizer` (the 20,000
most frequent words, each document cut after its first 300 tokens) into a
bidirectional :class:`~skgru.ConstrainedGRUClassifier` over a learnt
embedding, max-pooled over time, trained with early stopping. This example

* fits it on a small generated corpus in which only word order carries the
  class, and tunes it over :func:`skgru.text_param_grid`, then
* draws what ``benchmarks/accuracy.py`` measured on 20 Newsgroups: test
  accuracy against TF-IDF with linear models, and the learning curves of
  the recipe's default runs, when its results file is there.
"""

import json
import os
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from skgru import LossCurveDisplay, make_text_classifier, text_param_grid

QUICK = os.environ.get("SKGRU_DOCS_QUICK", "") not in ("", "0")

# %%
# A word-order corpus
# -------------------
# As in :ref:`the text pipeline example
# <sphx_glr_auto_examples_plot_text_classification.py>`: each document is 4
# to 9 filler words with ``alpha`` and ``beta`` inserted at random places,
# and the label is 1 when ``alpha`` comes first. Both words occur in every
# document, so word counts carry no signal.


def word_order_corpus(n, seed):
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(20)]
    docs, labels = [], []
    for _ in range(n):
        words = list(rng.choice(filler, size=rng.integers(4, 10)))
        i, j = sorted(rng.choice(len(words) + 2, size=2, replace=False))
        first, second = ("alpha", "beta") if rng.random() < 0.5 else ("beta", "alpha")
        words.insert(i, first)
        words.insert(j, second)
        docs.append(" ".join(words))
        labels.append(int(first == "alpha"))
    return docs, np.array(labels)


docs, y = word_order_corpus(400 if QUICK else 800, seed=0)
docs_train, docs_test, y_train, y_test = train_test_split(
    docs, y, test_size=0.3, random_state=0, stratify=y
)
bow = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs_train, y_train)
bow_accuracy = bow.score(docs_test, y_test)
print(f"TF-IDF + logistic regression: test accuracy {bow_accuracy:.3f}")

# %%
# The recipe, with its defaults
# -----------------------------
# Nothing to choose but the seed. Early stopping holds out 10% of the
# training documents, stops once their accuracy has failed to improve for
# more than two epochs in a row (``n_iter_no_change=2``; at most 10 epochs),
# and keeps the weights of the best epoch.

model = make_text_classifier(random_state=0)
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(docs_train, y_train)
gru = model.named_steps["gru"]
accuracy = model.score(docs_test, y_test)
print(
    f"make_text_classifier: {gru.n_iter_} epochs in {time.perf_counter() - start:.1f} s; "
    f"test accuracy {accuracy:.3f}"
)

display = LossCurveDisplay.from_estimator(gru, name="make_text_classifier")
display.ax_validation_.set_ylim(0.0, 1.05)
display.ax_.set_title("Word-order corpus: loss and validation accuracy per epoch")
display.figure_.tight_layout()

# %%
# Tuning it
# ---------
# :func:`~skgru.text_param_grid` holds two learning rates (0.001 and the
# recipe's 0.003); the step names are ``"vectorize"`` and ``"gru"``.

search = GridSearchCV(make_text_classifier(random_state=0), text_param_grid(), cv=3)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(docs_train, y_train)
print("best parameters:", search.best_params_)
for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
    print(f"  {params}: mean CV accuracy {score:.3f}")
print(f"tuned: test accuracy {search.score(docs_test, y_test):.3f}")

# %%
# On 20 Newsgroups
# ----------------
# ``benchmarks/accuracy.py`` (in the source tree, not in an installed
# package) runs the recipe on the 20 Newsgroups "by date" split (11,293
# training and 7,528 test documents, 20 classes), over several seeds, next to
# TF-IDF + LinearSVC and TF-IDF + logistic regression (each tuned by
# cross-validation on the training split). Its results are read from
# ``benchmarks/results/accuracy.json``; when the file is not there, nothing
# is drawn. Set ``SKGRU_BENCH_RESULTS`` to read another folder.


def accuracy_file():
    if os.environ.get("SKGRU_BENCH_RESULTS"):
        return Path(os.environ["SKGRU_BENCH_RESULTS"]) / "accuracy.json"
    try:
        here = Path(__file__).resolve().parent  # docs/examples
    except NameError:  # run interactively
        here = Path.cwd()
    for parent in [here, *here.parents]:
        if (parent / "benchmarks" / "results").is_dir():
            return parent / "benchmarks" / "results" / "accuracy.json"
    return Path("benchmarks") / "results" / "accuracy.json"


def load_newsgroups_results(path):
    if not path.is_file():
        print(f"{path} is not there: run benchmarks/accuracy.py first; no figures drawn.")
        return None, {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        print(f"{path} is not readable JSON; no figures drawn.")
        return None, {}
    results = data.get("results", {}).get("20 Newsgroups")
    if not results:
        print(f"{path} holds no 20 Newsgroups results; no figures drawn.")
        return None, {}
    return results, data.get("meta", {})


ORDER = ["TF-IDF + LinearSVC", "TF-IDF + LogisticRegression", "skgru (defaults)", "skgru (tuned)"]
COLORS = {"TF-IDF + LinearSVC": "C7", "TF-IDF + LogisticRegression": "C8"}


def plot_newsgroups_accuracy(results, meta):
    methods = [m for m in ORDER if m in results] + sorted(set(results) - set(ORDER))
    means = [results[m]["summary"]["mean"] for m in methods]
    stds = [results[m]["summary"]["std"] for m in methods]
    colors = [COLORS.get(m, "C2" if m == "skgru (tuned)" else "C3") for m in methods]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(methods, means, xerr=stds, color=colors, capsize=3)
    for i, (m, v) in enumerate(zip(methods, means)):
        n = results[m]["summary"]["n"]
        ax.text(v, i, f"  {v:.3f}" + (f" (n={n})" if n > 1 else ""), va="center", fontsize=8)
    ax.set_xlim(0.0, 1.1)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy (mean ± sd over seeds)")
    ax.set_title(f"20 Newsgroups ({meta.get('machine', 'machine unknown')})", fontsize=9)
    fig.tight_layout()
    for m, v in zip(methods, means):
        print(f"{m:>28}: {v:.3f}")


def plot_newsgroups_curves(results):
    runs = results.get("skgru (defaults)", {})
    losses = runs.get("loss_curves") or []
    validation = runs.get("validation_curves") or []
    if not losses:
        print("no learning curves of the default runs in the results; none drawn.")
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    for k, curve in enumerate(losses):
        ax1.plot(np.arange(1, len(curve) + 1), curve, marker="o", label=f"seed {k}")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax1.set_title("Training loss per epoch")
    ax1.legend(fontsize=8)
    for k, curve in enumerate(validation):
        ax2.plot(np.arange(1, len(curve) + 1), curve, marker="o", label=f"seed {k}")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation accuracy")
    ax2.set_title("Early stopping's held-out 10%")
    if validation:
        ax2.legend(fontsize=8)
    fig.suptitle("make_text_classifier on 20 Newsgroups, default runs", fontsize=10)
    fig.tight_layout()


# %%
# The bars are the mean test accuracy over the seeds (the TF-IDF models are
# deterministic: one run). The curves show, per seed, the training loss and
# the validation accuracy after each epoch; training stops three epochs
# after the best validation accuracy (or after the tenth epoch) and keeps the
# best epoch's weights. The validation documents are a random 10% of the
# training split, while the test split holds later posts than the training
# split: the validation accuracy is no estimate of the test accuracy.

newsgroups, meta = load_newsgroups_results(accuracy_file())
if newsgroups is not None:
    plot_newsgroups_accuracy(newsgroups, meta)
    plot_newsgroups_curves(newsgroups)
plt.show()
