"""Issue 22's features with device="cuda", in Numba's CUDA simulator.

Run with the simulator step of CI (``NUMBA_ENABLE_CUDASIM=1``); skipped
otherwise. A frozen embedding trains on the CUDA kernel set through the
shared trainer; the CPU-only inference features refuse device="cuda" with a
clear error instead of running elsewhere.
"""

import os
import warnings

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    pytest.skip(
        "CUDA simulator tests need NUMBA_ENABLE_CUDASIM=1 set before Python starts",
        allow_module_level=True,
    )

from skgru import ConstrainedGRUClassifier, GRUStream  # noqa: E402
from skgru.inspection import saliency  # noqa: E402
from skgru.uncertainty import mc_dropout_predict  # noqa: E402


def _fit(device, **params):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 10, size=(12, 5))
    y = np.arange(12) % 2
    E0 = rng.normal(size=(10, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = ConstrainedGRUClassifier(
            units=3, embedding_dim=3, embedding_init=E0, max_iter=2, random_state=0,
            device=device, **params,
        ).fit(X, y)  # fmt: skip
    return clf, X, E0


def test_frozen_embedding_trains_on_the_cuda_kernel_set():
    gpu, X, E0 = _fit("cuda", embedding_trainable=False)
    cpu, _, _ = _fit("cpu", embedding_trainable=False)
    np.testing.assert_array_equal(gpu.get_weights()[0], E0)
    for a, b in zip(gpu.get_weights(), cpu.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert len(gpu._optimizer_state["ms"]) == len(gpu.get_weights()) - 1


def test_cpu_only_features_refuse_cuda():
    clf, X, _ = _fit("cuda", dropout=0.2)
    with pytest.raises(ValueError, match="CPU only"):
        clf.transform(X)
    with pytest.raises(ValueError, match="CPU only"):
        GRUStream(clf)
    with pytest.raises(ValueError, match="CPU only"):
        saliency(clf, X)
    with pytest.raises(ValueError, match="CPU only"):
        mc_dropout_predict(clf, X)
    clf.set_params(device="cpu")
    assert clf.transform(X).shape == (12, 3)
