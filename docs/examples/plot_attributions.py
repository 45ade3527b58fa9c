"""
=======================================================
Which steps made the prediction: gradient attributions
=======================================================

:func:`skgru.inspection.integrated_gradients` attributes a prediction to
every step and channel of the input sequence: the attributions of a series
add up to the change of the class probability from a baseline (here, a flat
zero series) to the series itself. :func:`skgru.inspection.saliency` is the
plain gradient. Both come from the estimator's own back-propagation kernels,
so they follow the exact GRU equations (and are checked against finite
differences in the test suite).

ItalyPowerDemand's series are 24 hourly values of a day's electricity
demand in Italy; the two classes are days from October to March and days
from April to September.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from skgru import ConstrainedGRUClassifier
from skgru.datasets import load_italy_power_demand
from skgru.inspection import AttributionDisplay, integrated_gradients, saliency

QUICK = os.environ.get("SKGRU_DOCS_QUICK", "") not in ("", "0")
X_train, y_train = load_italy_power_demand(split="train", return_X_y=True)
X_test, y_test = load_italy_power_demand(split="test", return_X_y=True)

# float64 keeps the completeness gap of integrated gradients at rounding level.
clf = ConstrainedGRUClassifier(
    units=16, learning_rate_init=0.01, max_iter=20 if QUICK else 100, dtype="float64",
    random_state=0,
).fit(X_train, y_train)  # fmt: skip
print("test accuracy:", clf.score(X_test, y_test))

# %%
# Completeness
# ------------
# ``delta`` is the gap between the sum of a series' attributions and the
# change of its output: the error of the quadrature along the path. A
# confident model's output can jump within a short stretch of the path from
# the flat baseline to the series, which few nodes miss; ``delta`` says when
# more are needed.

for n_steps in (50, 400):
    result = integrated_gradients(clf, X_test[:20], n_steps=n_steps)
    print(f"{n_steps} nodes: largest |delta| over 20 series", float(np.abs(result.delta).max()))

# %%
# One series of each class
# ------------------------
# Red steps raise the probability of the predicted class, blue ones lower it.

for label in np.unique(y_test):
    i = int(np.flatnonzero(y_test == label)[0])
    display = AttributionDisplay.from_estimator(clf, X_test[i], n_steps=400)
    display.ax_values_.set_title(f"class {label}: {display.title}")

# %%
# Saliency against integrated gradients
# -------------------------------------
# The gradient says how sensitive the output is at the series; integrated
# gradients accumulate it along the path from the baseline, weighted by how
# far each value is from the baseline.

i = 0
grad = saliency(clf, X_test[i : i + 1]).attributions[0, :, 0]
ig = result.attributions[i, :, 0]
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(grad / np.abs(grad).max(), label="saliency (scaled)")
ax.plot(ig / np.abs(ig).max(), label="integrated gradients (scaled)")
ax.set_xlabel("hour")
ax.legend()
fig.tight_layout()
plt.show()
