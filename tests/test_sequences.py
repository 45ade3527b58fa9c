"""Batching helpers of ``skgru.data._sequences``.

``time_major_batch(..., dense=True)`` is the prediction path for input whose
every step is valid (it skips the search for all-padding steps); it must give
exactly what the general path gives for such input, for slices and for
gathered rows.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from skgru.data._sequences import Sequences, time_major_batch


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 9),
    T=st.integers(1, 7),
    F=st.integers(1, 4),
    tokens=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_dense_batches_equal_the_general_path(n, T, F, tokens, seed):
    rng = np.random.default_rng(seed)
    if tokens:
        values = rng.integers(1, 50, size=(n, T)).astype(np.int32)
    else:
        values = rng.standard_normal((n, T, F)).astype(np.float32)
    seqs = Sequences(values, np.ones((n, T), dtype=np.uint8))
    start = int(rng.integers(0, n))
    picks = [slice(start, n), rng.permutation(n)[: int(rng.integers(1, n + 1))]]
    for idx in picks:
        X, mask = time_major_batch(seqs, idx)
        Xd, mask_d = time_major_batch(seqs, idx, dense=True)
        assert Xd.flags.c_contiguous and mask_d.flags.c_contiguous
        assert Xd.dtype == X.dtype and mask_d.dtype == mask.dtype
        np.testing.assert_array_equal(Xd, X)
        np.testing.assert_array_equal(mask_d, mask)
