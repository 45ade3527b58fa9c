"""
==========================================================
Long time series: OSULeaf with the recommended pipeline
==========================================================

OSULeaf (from the UCR archive, bundled with skgru) holds the outlines of
leaves of six tree species, each unrolled into a series of 427 steps: 200
training and 242 test series. This example

* explains why a plain GRU struggles with series this long,
* fits the recommended pipeline, :func:`skgru.make_sequence_classifier`, on
  the training split and scores it on the test split,
* shows what its convolutional front-end,
  :class:`~skgru.preprocessing.DilatedConvolutions`, hands to the GRU,
* draws the learning curve with :class:`~skgru.LossCurveDisplay`.
"""

import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skgru import LossCurveDisplay, make_sequence_classifier
from skgru.datasets import load_osuleaf

QUICK = os.environ.get("SKGRU_DOCS_QUICK", "") not in ("", "0")

# %%
# The data
# --------

X_train, y_train = load_osuleaf(split="train", return_X_y=True)
X_test, y_test = load_osuleaf(split="test", return_X_y=True)
print(X_train.shape, X_test.shape, np.unique(y_train))

fig, ax = plt.subplots(figsize=(8, 3))
for i, label in enumerate(np.unique(y_train)[:3]):
    for x in X_train[y_train == label][:2]:
        ax.plot(x[:, 0], color=f"C{i}", alpha=0.7)
    ax.plot([], [], color=f"C{i}", label=f"species {label}")
ax.set_xlabel("time step (position along the outline)")
ax.set_ylabel("distance (normalised)")
ax.legend(fontsize=8)
ax.set_title("Two training series of three of the six species")
fig.tight_layout()

# %%
# Why a plain GRU struggles here
# ------------------------------
# A GRU reads a series one step at a time. On 427 steps that is slow (the
# steps are sequential, in training and in prediction), and it is hard to
# learn: the gradient that teaches the network about an early part of the
# outline passes through hundreds of recurrent steps and fades on the way.
# Above all, what tells the species apart are *local shapes* (the lobes and
# notches of the outline, of various widths, anywhere along it), and a GRU on
# raw values must piece each shape together from many steps of recurrence,
# from only 200 training series. The UCR archive reports 0.521 for 1-NN with
# the Euclidean distance and 0.612 for 1-NN DTW on this split; plain GRUs on
# windows of the z-normalised series did better than that but stayed 10-20
# points below the same GRU behind the front-end below
# (``benchmarks/NOTES.md`` in the source tree records those attempts).
#
# The recommended pipeline
# ------------------------
# :func:`~skgru.make_sequence_classifier` puts a fixed front-end before the
# GRU (see :ref:`preprocessing`): :class:`~skgru.preprocessing.SequenceScaler`
# z-normalises each series, :class:`~skgru.preprocessing.DilatedConvolutions`
# convolves it with MiniRocket's 84 shape kernels at six dilations (1 to 32
# steps between taps) and pools the responses to about 80 steps, each step
# giving the proportion of its block where a response is above a bias drawn
# from the training data. Nothing in the front-end is learnt by gradient
# descent; the GRU (128 units, dropout 0.2 on its inputs, max-pooling over
# time) learns which shapes matter and in which order they come.
#
# In the quick mode of the documentation build (``SKGRU_DOCS_QUICK=1``) the
# GRU trains for 5 epochs only: **the accuracy printed then means nothing**.
# Without it, the recipe trains with its defaults (up to 200 epochs, a minute
# or two on a laptop).

extra = {"max_iter": 5} if QUICK else {}
model = make_sequence_classifier(random_state=0, **extra)
print(model)

start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X_train, y_train)
elapsed = time.perf_counter() - start
accuracy = model.score(X_test, y_test)
gru = model.named_steps["gru"]
print(f"{gru.n_iter_} epochs in {elapsed:.1f} s; test accuracy {accuracy:.3f}")
if QUICK:
    print("(quick mode: 5 epochs, this accuracy means nothing)")

# %%
# What the GRU sees
# -----------------
# The front-end turns one series of 427 values into 72 steps of 504 features
# (84 kernels at 6 dilations). Below, one test series (after scaling) and
# the front-end's output for two kernels at each dilation: each row is one
# detector, each column one pooled step (6 input steps). A kernel at a small
# dilation lights up at sharp, narrow features; at a large one it responds
# to the broad shape of the outline.

conv = model.named_steps["conv"]
scaled = model.named_steps["scale"].transform(X_test[:1])
Z = conv.transform(scaled)[0]  # (pooled steps, n_dilations * n_kernels)
n_kernels = conv.kernels_.shape[1]
rows, labels = [], []
for i, dilation in enumerate(conv.dilations_):
    for j in (0, n_kernels // 2):
        rows.append(i * n_kernels + j)
        labels.append(f"kernel {conv.kernels_[i, j]}, dilation {dilation}")
print(f"front-end output: {Z.shape}; dilations {conv.dilations_}; pool size {conv.pool_size_}")

fig, (ax1, ax2) = plt.subplots(
    2, 1, figsize=(8, 6), sharex=True, height_ratios=[1, 2], layout="constrained"
)
ax1.plot(scaled[0, :, 0], color="k")
ax1.set_ylabel("scaled value")
ax1.set_title(f"Test series 0 (species {y_test[0]})")
image = ax2.imshow(
    Z[:, rows].T,
    aspect="auto",
    cmap="viridis",
    interpolation="nearest",
    extent=[0, Z.shape[0] * conv.pool_size_, len(rows) - 0.5, -0.5],
)
ax2.set_yticks(range(len(rows)), labels, fontsize=7)
ax2.set_xlabel("time step of the input")
ax2.set_title(f"DilatedConvolutions output: {len(rows)} of the {Z.shape[1]} channels")
fig.colorbar(image, ax=ax2, label="standardised response")

# %%
# Learning curve
# --------------
# The training loss per epoch of the GRU in the pipeline (the recipe uses no
# validation split, so there is no validation curve).

display = LossCurveDisplay.from_estimator(gru, name="make_sequence_classifier")
display.ax_.set_yscale("log")
display.ax_.set_title("OSULeaf: training loss per epoch")
display.figure_.tight_layout()

# %%
# Against the peers
# -----------------
# ``benchmarks/accuracy.py`` (in the source tree) runs this recipe, with its
# defaults and tuned over :func:`~skgru.sequence_param_grid` by 3-fold
# cross-validation on the training split, next to 1-NN Euclidean, 1-NN DTW
# and MiniRocket on every bundled data set, over several seeds; the
# :ref:`benchmark figures <sphx_glr_auto_examples_plot_benchmarks.py>`
# example draws its results.

plt.show()
