"""
=============================================================
Property-based gradient checking through the public API
=============================================================

skgru computes gradients with hand-written back-propagation through time.
This example checks them the way its test suite does, but using only the
public API: for random tiny models drawn by `Hypothesis
<https://hypothesis.readthedocs.io>`_, the analytic gradient must match
central finite differences of the loss.

Two public facts make this possible:

* with ``solver="sgd"``, ``momentum=0``, ``alpha=0`` and one batch holding all
  samples, one epoch of :meth:`~skgru.ConstrainedGRUClassifier.partial_fit`
  is exactly one step ``w <- w - learning_rate_init * grad``, so
  ``grad = (w_before - w_after) / learning_rate_init``;
* :meth:`~skgru.ConstrainedGRUClassifier.set_weights` and
  :meth:`~skgru.ConstrainedGRUClassifier.predict_log_proba` give the loss
  (mean cross-entropy) at any weights, so the finite differences need no
  access to internals.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from skgru import ConstrainedGRUClassifier

QUICK = os.environ.get("SKGRU_DOCS_QUICK", "") not in ("", "0")
LEARNING_RATE = 1e-3
EPS = 1e-6

# %%
# The two gradients
# -----------------


def mean_cross_entropy(clf, weights, X, y):
    clf.set_weights(weights)
    log_proba = clf.predict_log_proba(X)
    codes = np.searchsorted(clf.classes_, y)
    return -log_proba[np.arange(len(y)), codes].mean()


def analytic_and_numeric(n_samples, n_timesteps, n_features, units, n_classes, reset_after, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_timesteps, n_features))
    y = np.arange(n_samples) % n_classes
    clf = ConstrainedGRUClassifier(
        units=units,
        reset_after=reset_after,
        solver="sgd",
        momentum=0.0,
        nesterovs_momentum=False,
        learning_rate_init=LEARNING_RATE,
        batch_size=n_samples,
        shuffle=False,
        dtype="float64",
        random_state=seed,
    )
    classes = np.arange(n_classes)
    clf.partial_fit(X, y, classes=classes)  # creates the weights
    # Move away from the initialisation (zero biases) to a generic point.
    w0 = [w + 0.3 * rng.normal(size=w.shape) for w in clf.get_weights()]

    # Analytic: one plain SGD step from w0.
    clf.set_weights(w0)
    clf.partial_fit(X, y)
    analytic = [(a - b) / LEARNING_RATE for a, b in zip(w0, clf.get_weights())]

    # Numeric: central differences of the loss, one coordinate at a time.
    numeric = []
    for k, w in enumerate(w0):
        g = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            plus = [v.copy() for v in w0]
            minus = [v.copy() for v in w0]
            plus[k][idx] += EPS
            minus[k][idx] -= EPS
            g[idx] = (
                mean_cross_entropy(clf, plus, X, y) - mean_cross_entropy(clf, minus, X, y)
            ) / (2 * EPS)
        numeric.append(g)
    return analytic, numeric


# %%
# The property
# ------------
# For every drawn shape (from one sample, one step, one feature and one unit
# upward), both ``reset_after`` variants, two or three classes, and every
# weight tensor, the relative error must stay below ``1e-5``.

records = []


@settings(max_examples=6 if QUICK else 30, deadline=None, database=None, derandomize=True)
@given(
    n_samples=st.integers(2, 5),
    n_timesteps=st.integers(1, 4),
    n_features=st.integers(1, 3),
    units=st.integers(1, 3),
    n_classes=st.integers(2, 3),
    reset_after=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_gradients_match_finite_differences(**case):
    analytic, numeric = analytic_and_numeric(**case)
    for a, n in zip(analytic, numeric):
        error = np.abs(a - n).max() / max(np.abs(n).max(), 1e-8)
        assert error < 1e-5, (case, error)
    records.append((case, analytic, numeric))


test_gradients_match_finite_differences()
print(f"{len(records)} drawn models passed")

# %%
# What the check compared
# -----------------------
# Every gradient entry of every drawn model: the analytic value against the
# finite-difference value (they lie on the diagonal), and the distribution of
# their absolute differences.

names = ["kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
diffs = []
for k, name in enumerate(names):
    a = np.concatenate([r[1][k].ravel() for r in records])
    n = np.concatenate([r[2][k].ravel() for r in records])
    ax1.scatter(n, a, s=8, label=name)
    diffs.append(np.abs(a - n))
lim = max(np.abs(ax1.get_xlim()).max(), np.abs(ax1.get_ylim()).max())
ax1.plot([-lim, lim], [-lim, lim], color="k", linewidth=0.8)
ax1.set_xlabel("finite-difference gradient")
ax1.set_ylabel("analytic gradient (one SGD step)")
ax1.legend(fontsize=8)
all_diffs = np.concatenate(diffs)
ax2.hist(np.log10(all_diffs + 1e-16), bins=30, color="C2")
ax2.set_xlabel("log10 |analytic - finite difference|")
ax2.set_ylabel("gradient entries")
ax2.set_title(f"{all_diffs.size} entries, max {all_diffs.max():.1e}")
fig.tight_layout()
plt.show()
