"""
===================================================
Calibrated probabilities and Monte-Carlo dropout
===================================================

A GRU's probabilities may be over- or under-confident.
:class:`skgru.uncertainty.TemperatureScaledClassifier` divides its logits by
one temperature fitted on held-out predictions (here: out-of-fold
predictions inside the training split), which keeps every predicted class
and changes the confidence. :func:`skgru.uncertainty.mc_dropout_predict`
averages passes with random variational dropout masks and measures the
model's uncertainty (mutual information). The expected calibration error
(:func:`skgru.uncertainty.expected_calibration_error`) is the mean gap
between confidence and accuracy. The figures over all seven bundled data
sets are in ``benchmarks/results/uncertainty.md``.
"""

import os

import matplotlib.pyplot as plt
import numpy as np

from skgru import ConstrainedGRUClassifier
from skgru.datasets import load_italy_power_demand
from skgru.uncertainty import (
    TemperatureScaledClassifier,
    expected_calibration_error,
    mc_dropout_predict,
)

QUICK = os.environ.get("SKGRU_DOCS_QUICK", "") not in ("", "0")
X_train, y_train = load_italy_power_demand(split="train", return_X_y=True)
X_test, y_test = load_italy_power_demand(split="test", return_X_y=True)
gru = ConstrainedGRUClassifier(
    units=16, dropout=0.2, recurrent_dropout=0.2, learning_rate_init=0.01,
    max_iter=15 if QUICK else 100, random_state=0,
)  # fmt: skip

# %%
# Temperature scaling
# -------------------

scaled = TemperatureScaledClassifier(gru, cv=3).fit(X_train, y_train)
model = scaled.estimator_  # the GRU refitted on the whole training split
p_base = model.predict_proba(X_test)
p_scaled = scaled.predict_proba(X_test)
print(f"temperature {scaled.temperature_:.2f}")
print("same predictions:", np.array_equal(scaled.predict(X_test), model.predict(X_test)))
for name, p in (("GRU", p_base), ("temperature-scaled", p_scaled)):
    ece = expected_calibration_error(y_test, p, classes=model.classes_)
    print(f"{name:>20}: ECE {ece:.3f}")

# %%
# Monte-Carlo dropout
# -------------------

mc = mc_dropout_predict(model, X_test, n_samples=10 if QUICK else 30, random_state=0)
wrong = model.classes_[mc.proba.argmax(axis=1)] != y_test
ece_mc = expected_calibration_error(y_test, mc.proba, classes=model.classes_)
print(f"{'MC dropout':>20}: ECE {ece_mc:.3f}")
mi = mc.mutual_information
print(f"mean mutual information, wrong / right: {mi[wrong].mean():.4f} / {mi[~wrong].mean():.4f}")

# %%
# Reliability diagram
# -------------------
# Accuracy against confidence in bins; a calibrated model lies on the diagonal.


def reliability(p, n_bins=10):
    conf = p.max(axis=1)
    correct = model.classes_[p.argmax(axis=1)] == y_test
    edges = np.linspace(0.5, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(conf, edges) - 1, 0, n_bins - 1)
    keep = [b for b in range(n_bins) if (idx == b).any()]
    return (
        [conf[idx == b].mean() for b in keep],
        [correct[idx == b].mean() for b in keep],
    )


fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
for name, p in (("GRU", p_base), ("temperature", p_scaled), ("MC dropout", mc.proba)):
    ax1.plot(*reliability(p), marker="o", label=name)
ax1.plot([0.5, 1], [0.5, 1], color="0.5", linestyle=":")
ax1.set_xlabel("confidence")
ax1.set_ylabel("accuracy")
ax1.legend()
ax2.hist(
    [mc.mutual_information[~wrong], mc.mutual_information[wrong]],
    bins=20, label=["right", "wrong"], density=True,
)  # fmt: skip
ax2.set_xlabel("mutual information (MC dropout)")
ax2.legend()
fig.tight_layout()
plt.show()
