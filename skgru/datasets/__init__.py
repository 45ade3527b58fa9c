"""Small real time-series classification datasets bundled with skgru.

Each loader returns the standard train or test split of one problem from the
UCR/UEA time series classification archive as a :class:`sklearn.utils.Bunch`
(or ``(data, target)`` with ``return_X_y=True``).

- :func:`load_gunpoint`: univariate, length 150, 2 classes.
- :func:`load_italy_power_demand`: univariate, length 24, 2 classes.
- :func:`load_basic_motions`: 6 channels, length 100, 4 classes.
- :func:`load_pickup_gesture_wiimote_z`: univariate, variable length, 10 classes.
- :func:`load_arrowhead`: univariate, length 251, 3 classes.
- :func:`load_osuleaf`: univariate, length 427, 6 classes.
- :func:`load_acsf1`: univariate, length 1460, 10 classes.

and one generator, :func:`make_word_order_docs`: short documents whose class
is the order of two words, which no bag-of-words model can learn.
"""

from ._base import (
    load_acsf1,
    load_arrowhead,
    load_basic_motions,
    load_gunpoint,
    load_italy_power_demand,
    load_osuleaf,
    load_pickup_gesture_wiimote_z,
)
from ._generators import make_word_order_docs

__all__ = [
    "load_acsf1",
    "load_arrowhead",
    "load_basic_motions",
    "load_gunpoint",
    "load_italy_power_demand",
    "load_osuleaf",
    "load_pickup_gesture_wiimote_z",
    "make_word_order_docs",
]
