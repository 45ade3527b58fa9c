"""
==================================================
Time-series classification on GunPoint
==================================================

GunPoint (from the UCR archive, bundled with skgru) records the x position of
an actor's hand while either drawing a gun from a holster and pointing it, or
pointing a finger: 50 training and 150 test series of length 150. This
example

* loads it with :func:`skgru.datasets.load_gunpoint`,
* builds a pipeline that shortens the series and trains a
  :class:`~skgru.ConstrainedGRUClassifier` with early stopping,
* compares the test accuracy with the published baselines, and
* plots the training curves with :class:`~skgru.LossCurveDisplay`.
"""

import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skgru import ConstrainedGRUClassifier, LossCurveDisplay
from skgru.datasets import load_gunpoint

QUICK = os.environ.get("SKGRU_DOCS_QUICK", "") not in ("", "0")

# %%
# The data
# --------

train = load_gunpoint(split="train")
test = load_gunpoint(split="test")
print(train.data.shape, test.data.shape, train.target_names)

fig, ax = plt.subplots(figsize=(7, 3))
for label, color in zip(train.target_names, ["C0", "C3"]):
    for x in train.data[train.target == label][:5]:
        ax.plot(x[:, 0], color=color, alpha=0.6)
    ax.plot([], [], color=color, label=f"class {label}")
ax.set_xlabel("time step")
ax.set_ylabel("hand position (normalised)")
ax.legend()
ax.set_title("Five training series of each class")
fig.tight_layout()

# %%
# A pipeline
# ----------
# A GRU reads a sequence one step at a time, and 150 steps of a slowly moving
# signal carry little more than 30 steps of averages. Averaging over windows
# of 5 steps (a :class:`~sklearn.preprocessing.FunctionTransformer` on the
# 3-D array) makes training faster and easier. Early stopping holds out 20% of
# the training series, stops when their accuracy has not improved for
# ``n_iter_no_change`` epochs, and restores the weights of the best epoch.
# With only 10 validation series the accuracy moves in steps of 0.1, so the
# patience is long.
#
# ``global_clipnorm=1.0`` rescales each step's gradient to a norm of at most
# 1. With this learning rate, an unclipped run of the same model shows a
# sudden spike in its loss curve late in training (an exploding gradient);
# clipping removes it (see :ref:`constraints`).


def window_mean(X, width=5):
    if isinstance(X, list):  # ragged: one (T_i, F) array per sequence
        return [window_mean(x[None], width)[0] for x in X]
    n, T, F = X.shape
    T = T - T % width
    return X[:, :T].reshape(n, T // width, width, F).mean(axis=2)


clf = ConstrainedGRUClassifier(
    units=16,
    learning_rate_init=0.01,
    batch_size=10,
    max_iter=60 if QUICK else 150,
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=50,
    global_clipnorm=1.0,
    random_state=0,
)
model = make_pipeline(FunctionTransformer(window_mean), clf)

start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(train.data, train.target)
elapsed = time.perf_counter() - start
accuracy = model.score(test.data, test.target)
print(f"{clf.n_iter_} epochs in {elapsed:.1f} s; test accuracy {accuracy:.3f}")

# %%
# Against the published baselines
# -------------------------------
# The UCR archive reports, for the same train/test split, 0.913 for the
# 1-nearest-neighbour classifier with Euclidean distance and 0.927 for a
# multilayer perceptron.

baselines = {"1-NN Euclidean": 0.913, "MLP": 0.927, "skgru GRU": accuracy}
for name, value in baselines.items():
    print(f"{name:>15}: {value:.3f}")

# %%
# Training curves
# ---------------
# :meth:`LossCurveDisplay.from_estimator <skgru.LossCurveDisplay.from_estimator>`
# draws the training loss per epoch and, on the right axis, the accuracy on
# the held-out 20%.

display = LossCurveDisplay.from_estimator(clf, name="GRU")
display.ax_.set_title("GunPoint: loss and validation accuracy per epoch")
display.ax_validation_.set_ylim(0.0, 1.05)
display.figure_.tight_layout()

# %%
# Sequences of different lengths
# -------------------------------
# The classifier also accepts a list of arrays of different lengths, padding
# and masking them internally, and ``window_mean`` above passes such lists
# through. Here every test series is cut to a given fraction of its length
# (give or take 10 steps, so each list is ragged) to see how much of the
# motion the model needs.

rng = np.random.default_rng(0)
fractions = [0.25, 0.5, 0.75, 0.9, 1.0]
accuracies = []
for fraction in fractions:
    cut = []
    for x in test.data:
        n = len(x) if fraction == 1.0 else int(fraction * len(x)) + rng.integers(-10, 11)
        cut.append(x[:n])
    accuracies.append(model.score(cut, test.target))
    print(f"first {fraction:.0%} of each series: accuracy {accuracies[-1]:.3f}")

fig, ax = plt.subplots(figsize=(5, 3))
ax.plot([f * 100 for f in fractions], accuracies, marker="o", color="C2")
ax.axhline(0.5, color="k", linestyle=":", linewidth=1)
ax.set_ylim(0, 1.05)
ax.set_xlabel("observed part of each test series (%)")
ax.set_ylabel("test accuracy")
ax.set_title("Accuracy on truncated (ragged) test series")
fig.tight_layout()
plt.show()

# %%
# The model was trained on complete series, and its accuracy reaches the
# full-length value only when (nearly) the whole motion is seen. A model meant
# to classify early would be trained on prefixes, which a ragged training
# list makes easy: ``model.fit([x[:n] for x, n in ...], y)``.
