"""Adapters making skgru's classifier an estimator of other toolkits (optional extras).

* :mod:`skgru.integrations.aeon`: ``GRUClassifier``, an aeon classifier
  (``pip install aeon``);
* :mod:`skgru.integrations.sktime`: ``GRUClassifier``, an sktime classifier
  (``pip install sktime``).

Both read the toolkits' collections of series, ``(n_cases, n_channels,
n_timepoints)`` arrays or lists of ``(n_channels, n_timepoints_i)`` series of
unequal length, turn them into skgru's ``(n, T, F)`` layout, and hold a
fitted scikit-learn estimator of plain NumPy arrays, so they pickle.
"""

from ._common import to_skgru_layout

__all__ = ["to_skgru_layout"]
