"""Transformers that prepare sequences for a recurrent model.

Each one reads every input format of :class:`~skgru.ConstrainedGRUClassifier`
(a 3-D array ``(n_samples, n_timesteps, n_features)``, a 2-D array of
univariate sequences, a ragged list of ``(T_i, n_features)`` or ``(T_i,)``
arrays) and returns the same kind, so they chain in a
:class:`~sklearn.pipeline.Pipeline` before the classifier:

* :class:`SequenceScaler`: z-normalisation per sequence or per channel;
* :class:`WindowStacker`: windows of consecutive steps stacked as features;
* :class:`SequenceResampler`: fewer steps by a factor, or a fixed length;
* :class:`DilatedConvolutions`: a fixed convolutional front-end (dilated
  shape detectors, pooled as proportions of positive values or maxima)
  that shortens long series;
* :func:`stack_windows`: the plain function behind the demo's windows.
"""

from ._convolution import DilatedConvolutions
from ._resampling import SequenceResampler
from ._scaling import SequenceScaler
from ._windows import WindowStacker, stack_windows

__all__ = [
    "DilatedConvolutions",
    "SequenceResampler",
    "SequenceScaler",
    "WindowStacker",
    "stack_windows",
]
