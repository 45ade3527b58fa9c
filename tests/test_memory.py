"""How many copies of its weights a fit holds, counted by tracemalloc.

NumPy reports its allocations to tracemalloc, so the traced peak of a fit is
the most array memory it held at once. A text model with a large vocabulary
and a few short documents makes that peak a count of embedding-table copies:
everything else (the batch, the gates, the GRU's own weights) is a small
fraction of one table.
"""

import tracemalloc
import warnings

import numpy as np
import pytest

import skgru.engine._trainer
from skgru import ConstrainedGRUClassifier
from skgru.engine._devices import make_trainer
from skgru.training._optimizers import make_optimizer

VOCAB, DIM = 20000, 32


def _docs(n=8, T=5):
    rng = np.random.default_rng(0)
    return rng.integers(1, VOCAB, size=(n, T)), np.arange(n) % 2


def _peak_in_tables(**params):
    X, y = _docs()
    kw = dict(
        embedding_dim=DIM, vocab_size=VOCAB, units=4, batch_size=4, max_iter=3,
        n_iter_no_change=10, random_state=0, device="cpu", dtype="float32",
    )  # fmt: skip
    clf = ConstrainedGRUClassifier(**{**kw, **params})
    table = VOCAB * DIM * 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Loading the compiled kernels allocates Python objects several
        # tables large: not part of the count.
        ConstrainedGRUClassifier(**{**kw, **params, "vocab_size": 50}).fit(X % 50, y)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / table, clf


def test_text_fit_holds_the_embedding_in_at_most_four_copies():
    # The trained table, Adam's two moments and the best epoch's snapshot
    # (kept for an interruption). A copy for the trainer, one kept by the
    # loop between epochs and the final read made it six.
    peak, clf = _peak_in_tables()
    assert peak < 4.5, f"{peak:.2f} tables"
    assert clf.n_iter_ == 3


def test_text_fit_with_validation_holds_at_most_five_copies():
    # Validation scores a snapshot of the epoch's weights while the best
    # one is kept (the scratch arrays are released first).
    peak, _ = _peak_in_tables(early_stopping=True, validation_fraction=0.25)
    assert peak < 5.5, f"{peak:.2f} tables"


@pytest.mark.parametrize("copy", [True, False])
def test_trainer_trains_the_given_arrays_only_when_told(copy):
    X, y = _docs()
    clf = ConstrainedGRUClassifier(
        embedding_dim=DIM, vocab_size=VOCAB, units=4, max_iter=1, random_state=0, device="cpu"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    params = [p.copy() for p in clf.get_weights()]
    before = [p.copy() for p in params]
    opt = make_optimizer(
        "adam", params, learning_rate_init=0.01, momentum=0.9, nesterovs_momentum=True
    )
    from skgru.data._sequences import to_token_sequences

    seqs = to_token_sequences(X, VOCAB)
    trainer = make_trainer(
        "cpu", params, opt, clf._train_config(), seqs, clf._encode_y(y), np.ones(len(y)),
        copy=copy,
    )  # fmt: skip
    trainer.step(np.arange(len(y)), np.random.default_rng(0))
    live = trainer.take_params()
    assert all((a is b) != copy for a, b in zip(live, params))
    moved = [not np.array_equal(a, b) for a, b in zip(params, before)]
    assert any(moved) != copy
    assert any(not np.array_equal(a, b) for a, b in zip(live, before))


def test_final_weights_are_the_last_epochs_without_validation(monkeypatch):
    # The fit hands over the trainer's own arrays at the end: they must be
    # the weights after the last completed epoch, which a copy taken right
    # after each epoch shows. The reported losses grow, so the best epoch is
    # the first and the last epoch's weights are not the best ones.
    original = skgru.engine._trainer.Trainer.run_epoch
    after_epoch = []

    def run_epoch(self, batches, rng):
        loss = original(self, batches, rng)
        after_epoch.append(self.get_params())
        return loss + 10.0 * len(after_epoch)

    monkeypatch.setattr(skgru.engine._trainer.Trainer, "run_epoch", run_epoch)
    _, clf = _peak_in_tables()  # a warm-up fit, then the measured one
    assert clf.n_iter_ == 3 and len(after_epoch) == 6
    assert np.argmin(clf.loss_curve_) == 0
    for p, q in zip(clf.get_weights(), after_epoch[-1]):
        np.testing.assert_array_equal(p, q)
    assert any(not np.array_equal(p, q) for p, q in zip(clf.get_weights(), after_epoch[-3]))
