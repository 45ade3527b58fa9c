"""Generated data sets that only a model of order can solve."""

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_word_order_docs"]


def make_word_order_docs(n_samples=500, *, random_state=None):
    """Documents whose class is the order of two words.

    Each document is 4 to 9 filler words ``w0`` ... ``w19`` with ``alpha``
    and ``beta`` inserted at random places; its label is 1 when ``alpha``
    comes first. Both words occur once in every document, so word counts
    carry no signal: a bag-of-words model stays at chance, a sequence model
    can reach 1.0.

    Parameters
    ----------
    n_samples : int, default=500
        Number of documents.
    random_state : int, RandomState instance or None, default=None
        Seeds the documents and labels.

    Returns
    -------
    docs : list of str of length n_samples
        The documents, words separated by single spaces.
    y : ndarray of shape (n_samples,)
        The labels, 0 or 1.

    Examples
    --------
    >>> from skgru.datasets import make_word_order_docs
    >>> docs, y = make_word_order_docs(3, random_state=0)
    >>> [d.split().count("alpha") for d in docs]
    [1, 1, 1]
    >>> first = [d.split().index("alpha") < d.split().index("beta") for d in docs]
    >>> bool((y == first).all())
    True
    """
    rng = check_random_state(random_state)
    filler = np.array([f"w{i}" for i in range(20)])
    docs, y = [], np.empty(n_samples, dtype=np.int64)
    for k in range(n_samples):
        words = list(filler[rng.randint(0, 20, size=rng.randint(4, 10))])
        i, j = np.sort(rng.choice(len(words) + 2, size=2, replace=False))
        y[k] = rng.rand() < 0.5
        first, second = ("alpha", "beta") if y[k] else ("beta", "alpha")
        words.insert(i, first)
        words.insert(j, second)
        docs.append(" ".join(words))
    return docs, y
