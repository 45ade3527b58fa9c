"""
===============================================
Step-by-step prediction and the GRU as features
===============================================

:class:`skgru.GRUStream` carries a fitted model's GRU states from one call
to the next: feed it the newest step of each live series and it returns the
probabilities of the whole prefix so far, bitwise those of
:meth:`~skgru.ConstrainedGRUClassifier.predict_proba` on the prefix (on the
CPU), without reading the prefix again. Here, the probability that a
GunPoint recording is a "gun" movement, as the recording arrives.

The same fitted model is also a transformer: ``transform`` gives the pooled
GRU states its output layer reads, as features for another estimator.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skgru import ConstrainedGRUClassifier, GRUStream
from skgru.datasets import load_gunpoint

QUICK = os.environ.get("SKGRU_DOCS_QUICK", "") not in ("", "0")
X_train, y_train = load_gunpoint(split="train", return_X_y=True)
X_test, y_test = load_gunpoint(split="test", return_X_y=True)
clf = ConstrainedGRUClassifier(
    units=16, pooling="mean", learning_rate_init=0.01, max_iter=20 if QUICK else 150,
    random_state=0,
).fit(X_train, y_train)  # fmt: skip

# %%
# Streaming six series, one step per call
# ---------------------------------------

streams = X_test[:6]
stream = GRUStream(clf, n_streams=len(streams))
curves = np.stack([stream.predict_proba(streams[:, t])[:, 0] for t in range(streams.shape[1])])
exact = all(
    np.array_equal(curves[t], clf.predict_proba(streams[:, : t + 1])[:, 0])
    for t in range(0, streams.shape[1], 10)
)
print("equal to predict_proba of the prefixes:", exact)

fig, ax = plt.subplots(figsize=(7, 3.2))
for i in range(len(streams)):
    ax.plot(curves[:, i], color="C0" if y_test[i] == clf.classes_[0] else "C3")
ax.set_xlabel("steps received")
ax.set_ylabel(f"P(class {clf.classes_[0]})")
ax.set_title("blue: true class 1, red: true class 2")
fig.tight_layout()

# %%
# The GRU as a feature extractor
# ------------------------------
# In a pipeline the GRU is fitted on the labels, then the next estimator on
# its states (here a logistic regression, which can then be tuned on its own).

features = make_pipeline(
    ConstrainedGRUClassifier(
        units=16, pooling="mean", learning_rate_init=0.01, max_iter=20 if QUICK else 150,
        random_state=0,
    ),
    LogisticRegression(C=0.5),
).fit(X_train, y_train)  # fmt: skip
print("GRU states ->", features[0].transform(X_test).shape, "features")
print("test accuracy, GRU head:", clf.score(X_test, y_test))
print("test accuracy, logistic regression on the GRU states:", features.score(X_test, y_test))
plt.show()
