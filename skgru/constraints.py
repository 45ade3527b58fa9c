"""Weight constraints for :class:`skgru.ConstrainedGRUClassifier`.

A constraint is a projection applied to a weight after every optimizer step
(after gradient clipping), never at initialisation, with the same formulas as
Keras 3 (see the classes for the exact expressions). Pass one as
``kernel_constraint``, ``recurrent_constraint`` or ``bias_constraint``, either
as an instance, as a name (``"max_norm"``, ``"unit_norm"``, ``"non_neg"``,
``"min_max_norm"``), as a Keras-style dict, or as any callable ``w -> w``.

Examples
--------
>>> import numpy as np
>>> from skgru.constraints import MaxNorm, get
>>> c = get("max_norm")
>>> c
MaxNorm(max_value=2, axis=0)
>>> c.set_params(max_value=0.5) == MaxNorm(max_value=0.5)
True
>>> w = np.array([[3.0], [4.0]])
>>> np.round(c(w), 6)
array([[0.3],
       [0.4]])
"""

from .training._constraints import Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm, get

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "get"]
