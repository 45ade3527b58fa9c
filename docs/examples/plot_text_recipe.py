"""
==========================================================
The text recipe: make_text_classifier
==========================================================

:func:`skgru.make_text_classifier` is the model to fit first on a text
classification problem: a soft vote of two models. One is a
:class:`~skgru.SequenceVectorizer` (the 20,000 most frequent words, each
document cut after its first 300 tokens) into a bidirectional
:class:`~skgru.ConstrainedGRUClassifier` over a learnt embedding,
max-pooled over time, trained with early stopping; the other is TF-IDF of
words and word pairs into a linear SVM with calibrated probabilities. This
example fits it on a small generated corpus in which only word order
carries the class, where the GRU must decide the vote, and tunes it over
:func:`skgru.text_param_grid`.
"""

import os
import time
import warnings

import matplotlib.pyplot as plt
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from skgru import LossCurveDisplay, make_text_classifier, text_param_grid
from skgru.datasets import make_word_order_docs

QUICK = os.environ.get("SKGRU_DOCS_QUICK", "") not in ("", "0")

# %%
# A word-order corpus
# -------------------
# As in :ref:`the text pipeline example
# <sphx_glr_auto_examples_plot_text_classification.py>`: each document is 4
# to 9 filler words with ``alpha`` and ``beta`` inserted at random places,
# and the label is 1 when ``alpha`` comes first. Both words occur in every
# document, so word counts carry no signal.

docs, y = make_word_order_docs(400 if QUICK else 800, random_state=0)
docs_train, docs_test, y_train, y_test = train_test_split(
    docs, y, test_size=0.3, random_state=0, stratify=y
)
bow = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs_train, y_train)
bow_accuracy = bow.score(docs_test, y_test)
print(f"TF-IDF + logistic regression: test accuracy {bow_accuracy:.3f}")

# %%
# The recipe, with its defaults
# -----------------------------
# Nothing to choose but the seed. The GRU's early stopping holds out 10% of
# the training documents, stops once their accuracy has failed to improve for
# more than two epochs in a row (``n_iter_no_change=2``; at most 10 epochs),
# and keeps the weights of the best epoch. The TF-IDF model sees which
# words and word pairs occur: the pairs catch ``alpha`` and ``beta`` when
# they are neighbours, not the order of the two when they are apart. With the
# recommended weights (0.3 for the GRU, 0.7 for TF-IDF, chosen on topic
# classification), the vote here is below the GRU alone.

model = make_text_classifier(random_state=0)
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(docs_train, y_train)
sequence, words = model.named_estimators_["sequence"], model.named_estimators_["words"]
gru = sequence.named_steps["gru"]
# The members are fitted on the vote's encoded labels (``model.le_``).
y_test_encoded = model.le_.transform(y_test)
print(
    f"make_text_classifier: {gru.n_iter_} GRU epochs, {time.perf_counter() - start:.1f} s; "
    f"test accuracy {model.score(docs_test, y_test):.3f} "
    f"(GRU alone {sequence.score(docs_test, y_test_encoded):.3f}, "
    f"TF-IDF + SVM alone {words.score(docs_test, y_test_encoded):.3f})"
)

display = LossCurveDisplay.from_estimator(gru, name="make_text_classifier's GRU")
display.ax_validation_.set_ylim(0.0, 1.05)
display.ax_.set_title("Word-order corpus: loss and validation accuracy per epoch")
display.figure_.tight_layout()

# %%
# Tuning it
# ---------
# :func:`~skgru.text_param_grid` holds three weightings of the vote: the
# recommended 0.3 / 0.7, an even one and the GRU alone (1 / 0). On this
# corpus cross-validation moves the weight to the GRU.

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
# ``benchmarks/accuracy.py`` (in the source tree) runs the recipe on the 20
# Newsgroups "by date" split (11,293 training and 7,528 test documents, 20
# classes) next to TF-IDF + LinearSVC and TF-IDF + logistic regression, and
# scores the vote's two members alone; the
# :ref:`benchmark figures <sphx_glr_auto_examples_plot_benchmarks.py>`
# example draws its results and the learning curves of the recipe's runs.

plt.show()
