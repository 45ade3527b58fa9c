"""
=====================================================
Text classification pipeline with a grid search
=====================================================

Word order matters in language, but a bag of words throws it away. This
example builds a small synthetic corpus in which **only the order of two words
decides the class**, and compares

* a bag-of-words baseline (TF-IDF + logistic regression), which cannot see
  order, with
* a :class:`~sklearn.pipeline.Pipeline` of :class:`~skgru.SequenceVectorizer`
  (text to padded token ids) and :class:`~skgru.ConstrainedGRUClassifier`
  (a trainable embedding, a GRU, and a max-norm constraint), tuned by
  :class:`~sklearn.model_selection.GridSearchCV`.
"""

import os
import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from skgru import ConstrainedGRUClassifier, SequenceVectorizer
from skgru.constraints import MaxNorm
from skgru.datasets import make_word_order_docs

QUICK = os.environ.get("SKGRU_DOCS_QUICK", "") not in ("", "0")

# %%
# A word-order corpus
# -------------------
# :func:`~skgru.datasets.make_word_order_docs`: each document is 4 to 9
# filler words with the two words ``alpha`` and ``beta`` inserted at random
# places. The label is 1 when ``alpha`` comes first. Both words occur in
# every document, so word counts carry no signal.

docs, y = make_word_order_docs(400 if QUICK else 800, random_state=0)
docs_train, docs_test, y_train, y_test = train_test_split(
    docs, y, test_size=0.3, random_state=0, stratify=y
)
for doc, label in zip(docs_train[:4], y_train[:4]):
    print(label, "|", doc)

# %%
# Bag-of-words baseline
# ---------------------

bow = make_pipeline(TfidfVectorizer(), LogisticRegression())
bow.fit(docs_train, y_train)
bow_accuracy = bow.score(docs_test, y_test)
print(f"TF-IDF + logistic regression: test accuracy {bow_accuracy:.3f}")

# %%
# GRU pipeline and grid search
# ----------------------------
# :class:`~skgru.SequenceVectorizer` maps each word to an id (``0`` is
# padding, ``1`` an unknown word). With ``embedding_dim`` set, the classifier
# learns a vector per id and masks the padding. The grid tunes the number of
# units and a max-norm constraint on the input kernel; constraint objects are
# ordinary parameter values.

pipe = make_pipeline(
    SequenceVectorizer(),
    ConstrainedGRUClassifier(
        embedding_dim=8,
        learning_rate_init=0.02,
        max_iter=25 if QUICK else 40,
        random_state=0,
    ),
)
grid = {
    "constrainedgruclassifier__units": [8] if QUICK else [8, 16],
    "constrainedgruclassifier__kernel_constraint": [None, MaxNorm(3.0)],
}
search = GridSearchCV(pipe, grid, cv=2 if QUICK else 3, n_jobs=1)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(docs_train, y_train)

print("best parameters:", search.best_params_)
gru_accuracy = search.score(docs_test, y_test)
print(f"SequenceVectorizer + GRU: test accuracy {gru_accuracy:.3f}")

# %%
# Results
# -------
# The grid search results for each candidate, and the test accuracy of both
# models. The GRU reads the words in order and solves the task; the bag of
# words stays near chance.

results = search.cv_results_
labels = [
    f"units={p['constrainedgruclassifier__units']}\n"
    f"{p['constrainedgruclassifier__kernel_constraint']}"
    for p in results["params"]
]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), width_ratios=[2, 1])
ax1.bar(
    range(len(labels)),
    results["mean_test_score"],
    yerr=results["std_test_score"],
    color="C0",
)
ax1.set_xticks(range(len(labels)), labels, fontsize=8)
ax1.set_ylim(0.4, 1.0)
ax1.set_ylabel("mean CV accuracy")
ax1.set_title("Grid search candidates")
ax2.bar(["bag of words", "GRU"], [bow_accuracy, gru_accuracy], color=["C7", "C2"])
ax2.axhline(0.5, color="k", linestyle=":", linewidth=1)
ax2.set_ylim(0.0, 1.0)
ax2.set_ylabel("test accuracy")
ax2.set_title("Held-out test set")
fig.tight_layout()
plt.show()
