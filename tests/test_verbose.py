"""verbose=1 prints one line per epoch; verbose=2 adds progress within epochs, same model."""

import re

import numpy as np
import pytest

from skgru import ConstrainedGRUClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_verbose_levels_print_and_do_not_change_the_model(capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5, 2))
    y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    kw = dict(units=4, max_iter=3, batch_size=5, random_state=0, device="cpu")
    quiet = ConstrainedGRUClassifier(verbose=0, **kw).fit(X, y)
    assert capsys.readouterr().out == ""
    ConstrainedGRUClassifier(verbose=1, **kw).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert all(re.match(r"Iteration \d+, loss = [0-9.]+, time = ", line) for line in lines)
    loud = ConstrainedGRUClassifier(verbose=2, **kw).fit(X, y)
    out = capsys.readouterr().out
    assert out.count("Iteration") == 3
    assert "batch 12/12" in out
    for a, b in zip(quiet.get_weights(), loud.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(quiet.loss_curve_, loud.loss_curve_, rtol=1e-12)
