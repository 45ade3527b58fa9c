"""The CPU kernels on several threads (``n_jobs``).

A batch is split into row ranges for the recurrence and into blocks of steps
for the big products (``skgru.kernels.cpu._stack``). The thresholds below which a
piece is not worth a thread are patched to 1 here, so that tiny inputs still
span several threads and uneven splits (a batch of 7 rows on 3 threads).

* Gradients on several threads equal the one-thread gradients to rounding
  (float64), for every layer option, ragged input, dropout masks, tokens.
* Predictions do not depend on ``n_jobs`` at all (bitwise).
* A fit is bitwise reproducible for a given ``n_jobs``; different values agree
  to rounding.
* Errors in a worker thread reach the caller; the pool survives ``fork``.
* ``n_jobs=None`` takes scikit-learn's OpenMP thread count (cores within
  ``OMP_NUM_THREADS``, threadpoolctl and joblib's worker limits), and a default
  fit is reproducible for the count it resolves to.
"""

import multiprocessing
import os
import sys
import warnings

import joblib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import skgru.kernels.cpu._kernel_set as cpu_stack
from skgru import ConstrainedGRUClassifier, ConstrainedGRURegressor
from skgru.data._sequences import to_sequences, to_token_sequences
from skgru.engine._config import TrainConfig
from skgru.engine._devices import cpu_threads, make_trainer
from skgru.kernels._threads import default_threads, run_tasks, split
from skgru.model._network import init_embedding, init_params
from skgru.training._optimizers import make_optimizer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def _split_tiny_inputs(monkeypatch):
    monkeypatch.setattr(cpu_stack, "_MIN_CHUNK_ROWS", 1)
    monkeypatch.setattr(cpu_stack, "_MIN_BLOCK_ROWS", 1)


def _ragged(rng, n, F, max_len=7):
    return [rng.normal(size=(int(rng.integers(1, max_len + 1)), F)) for _ in range(n)]


def _trainer(seqs, params, n_classes, n_threads, **cfg):
    n = seqs.n_samples
    Y = np.eye(n_classes)[np.arange(n) % n_classes]
    config = TrainConfig(n_threads=n_threads, **cfg)
    opt = make_optimizer(
        "sgd", params, learning_rate_init=0.1, momentum=0.0, nesterovs_momentum=False
    )
    return make_trainer("cpu", params, opt, config, seqs, Y, np.linspace(0.5, 2.0, n))


def _grads(seqs, params, n_threads, idx, seed, **cfg):
    trainer = _trainer(seqs, [p.copy() for p in params], 3, n_threads, **cfg)
    loss, grads, w_sum = trainer.loss_and_grads(idx, np.random.default_rng(seed))
    if cfg.get("embedding"):
        rows, grad_rows = grads[0]
        dense = np.zeros_like(params[0])
        dense[rows] = grad_rows
        grads[0] = dense
    return loss, grads


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 9),
    n_threads=st.integers(2, 4),
    reset_after=st.booleans(),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    pooling=st.sampled_from(["last", "mean", "max"]),
    recurrent_dropout=st.sampled_from([0.0, 0.3]),
    seed=st.integers(0, 2**16),
)
def test_threaded_gradients_equal_one_thread(
    n, n_threads, reset_after, num_layers, bidirectional, pooling, recurrent_dropout, seed
):
    rng = np.random.default_rng(seed)
    F, U = 3, 4
    seqs, _ = to_sequences(_ragged(rng, n, F), np.float64)
    params = init_params(rng, F, U, 3, reset_after, np.float64, num_layers, bidirectional)
    cfg = {
        "reset_after": reset_after,
        "num_layers": num_layers,
        "bidirectional": bidirectional,
        "pooling": pooling,
        "dropout": 0.2,
        "recurrent_dropout": recurrent_dropout,
        "alpha": 0.1,
    }
    idx = rng.permutation(n)
    loss1, g1 = _grads(seqs, params, 1, idx, seed, **cfg)
    lossk, gk = _grads(seqs, params, n_threads, idx, seed, **cfg)
    assert lossk == pytest.approx(loss1, rel=1e-13)
    for a, b in zip(g1, gk):
        np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-14)


def test_threaded_token_gradients_equal_one_thread():
    rng = np.random.default_rng(3)
    X = [rng.integers(1, 12, size=int(rng.integers(1, 8))) for _ in range(7)]
    seqs = to_token_sequences(X, 12)
    params = init_params(rng, 4, 5, 3, True, np.float64)
    params.insert(0, init_embedding(rng, 12, 4, np.float64))
    idx = np.arange(7)
    loss1, g1 = _grads(seqs, params, 1, idx, 0, embedding=True)
    loss3, g3 = _grads(seqs, params, 3, idx, 0, embedding=True)
    assert loss3 == pytest.approx(loss1, rel=1e-13)
    for a, b in zip(g1, g3):
        np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-14)


def test_the_split_really_spans_several_threads(monkeypatch):
    """Guard for the tests above: the kernels are called once per row range."""
    from skgru.kernels.cpu import _gru as _cpu

    calls = []
    original = _cpu.gru_forward_part

    def counting(*args):
        calls.append(args[-2:])  # the rows of a forward piece
        original(*args)

    monkeypatch.setattr(_cpu, "gru_forward_part", counting)
    rng = np.random.default_rng(0)
    seqs, _ = to_sequences(_ragged(rng, 7, 2), np.float64)
    params = init_params(rng, 2, 3, 3, True, np.float64)
    _grads(seqs, params, 3, np.arange(7), 0)
    assert sorted(calls) == [(0, 2), (2, 4), (4, 7)]


def _fit(n_jobs, X, y, cls=ConstrainedGRUClassifier, **kw):
    params = {"units": 5, "max_iter": 4, "batch_size": 16, "random_state": 0, "device": "cpu"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(**{**params, **kw}, n_jobs=n_jobs).fit(X, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_reproducible_for_given_n_jobs_and_close_across(dtype):
    rng = np.random.default_rng(1)
    X = _ragged(rng, 40, 2, max_len=9)
    y = np.arange(40) % 3
    kw = {"dtype": dtype, "dropout": 0.1, "recurrent_dropout": 0.1}
    a = _fit(2, X, y, **kw).get_weights()
    b = _fit(2, X, y, **kw).get_weights()
    one = _fit(1, X, y, **kw).get_weights()
    for p, q, r in zip(a, b, one):
        np.testing.assert_array_equal(p, q)
        tol = 1e-4 if dtype == "float32" else 1e-10
        np.testing.assert_allclose(p, r, rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"num_layers": 2, "bidirectional": True, "pooling": "mean"},
        {"reset_after": False, "pooling": "max"},
    ],
)
def test_predictions_do_not_depend_on_n_jobs(kw):
    rng = np.random.default_rng(2)
    X = _ragged(rng, 37, 2, max_len=11)
    y = np.arange(37) % 3
    clf = _fit(1, X, y, **kw)
    ref = clf.predict_proba(X)
    for n_jobs in (2, 3, -1):
        np.testing.assert_array_equal(clf.set_params(n_jobs=n_jobs).predict_proba(X), ref)


def test_regressor_takes_n_jobs():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(24, 5, 1))
    y = X.sum(axis=(1, 2))
    a = _fit(2, X, y, cls=ConstrainedGRURegressor)
    b = _fit(1, X, y, cls=ConstrainedGRURegressor)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-4, atol=1e-5)


def test_n_jobs_zero_is_an_error():
    X = np.zeros((4, 3, 1))
    with pytest.raises(ValueError, match="n_jobs == 0"):
        ConstrainedGRUClassifier(n_jobs=0, max_iter=1, device="cpu").fit(X, [0, 1, 0, 1])


def test_run_tasks_reraises_worker_errors_after_all_finish():
    done = []

    def task(i):
        if i == 2:
            raise KeyError("from a worker")
        done.append(i)

    with pytest.raises(KeyError, match="from a worker"):
        run_tasks(task, [(i,) for i in range(4)])
    assert sorted(done) == [0, 1, 3]


def test_run_tasks_prefers_the_callers_error_and_survives_many_callers():
    import threading

    def task(i):
        if i == 0:
            raise ValueError("from the caller")
        if i == 1:
            raise KeyError("from a worker")

    with pytest.raises(ValueError, match="from the caller"):
        run_tasks(task, [(i,) for i in range(3)])

    # More callers than workers, each with more tasks than there are workers:
    # every caller runs its own first task, so all finish.
    out = np.zeros((6, 5), dtype=int)

    def fill(row, col):
        out[row, col] = row * 10 + col

    callers = [
        threading.Thread(target=run_tasks, args=(fill, [(r, c) for c in range(5)]))
        for r in range(6)
    ]
    for t in callers:
        t.start()
    for t in callers:
        t.join(60)
    assert not any(t.is_alive() for t in callers)
    np.testing.assert_array_equal(out, np.arange(6)[:, None] * 10 + np.arange(5))


def test_split_bounds():
    assert split(7, 3) == [0, 2, 4, 7]
    assert split(2, 5) == [0, 1, 2]
    assert split(0, 3) == [0, 0]


def _fit_in_child(queue):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(32, 6, 2))
    y = np.arange(32) % 2
    clf = _fit(2, X, y)
    queue.put(clf.predict_proba(X[:3]).tolist())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork start method")
def test_pool_survives_fork():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(32, 6, 2))
    y = np.arange(32) % 2
    expected = _fit(2, X, y).predict_proba(X[:3])  # the parent's pool now has threads
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        proc = ctx.Process(target=_fit_in_child, args=(queue,))
        proc.start()
    proc.join(120)
    assert proc.exitcode == 0
    # The fixture's patched thresholds are inherited by the forked child.
    np.testing.assert_array_equal(np.array(queue.get(timeout=5)), expected)


def test_concurrent_fits_share_the_pool():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(6)
    X = rng.normal(size=(48, 6, 2))
    y = np.arange(48) % 3
    serial = [_fit(2, X, y, random_state=s).get_weights() for s in range(3)]
    with ThreadPoolExecutor(3) as ex:
        threaded = list(ex.map(lambda s: _fit(2, X, y, random_state=s).get_weights(), range(3)))
    for a, b in zip(serial, threaded):
        for p, q in zip(a, b):
            np.testing.assert_array_equal(p, q)


def test_blas_threads_restores_the_counts_even_on_error():
    from skgru.kernels._threads import _blas_libraries, blas_threads

    shared, local = _blas_libraries()
    libs = shared + local
    before = [lib.get_num_threads() for lib in libs]
    with pytest.raises(RuntimeError):
        with blas_threads(1):
            assert all(lib.get_num_threads() == 1 for lib in libs)
            raise RuntimeError
    assert [lib.get_num_threads() for lib in libs] == before


def test_blas_threads_limit_every_thread_and_restore_after_the_last_block():
    """A fit in a second Python thread is held to one BLAS thread too.

    threadpoolctl's OpenBLAS setter obeys only the first thread that used it
    (here the main thread, made so on purpose); the limit must still apply in
    other threads, and overlapping blocks must restore the counts only when
    the last of them leaves.
    """
    import threading

    from threadpoolctl import threadpool_limits

    from skgru.kernels._threads import _blas_libraries, blas_threads

    shared, local = _blas_libraries()
    if not shared + local:
        pytest.skip("no BLAS library found by threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):  # the main thread controls
        for lib in shared:  # 2 threads, whichever thread threadpoolctl obeys
            lib._real_set_num_threads(2)
        counts = lambda libs: [lib.get_num_threads() for lib in libs]  # noqa: E731
        before = counts(shared + local)
        seen = {}
        a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

        def block_a():
            with blas_threads(1):
                seen["a"] = counts(shared + local)
                a_in.set()
                b_in.wait(30)
            a_out.set()

        def block_b():
            a_in.wait(30)
            with blas_threads(1):
                b_in.set()
                a_out.wait(30)
                seen["b after a left"] = counts(shared + local)

        threads = [threading.Thread(target=block_a), threading.Thread(target=block_b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        after = counts(shared + local)
    assert seen["a"] == [1] * len(before)
    assert seen["b after a left"] == [1] * len(before)
    assert after == before


def test_weight_initialisation_runs_on_one_blas_thread(monkeypatch):
    """A fit's QR initialisation runs under the kernels' BLAS limit.

    On all of OpenBLAS's threads it left them spinning for about 0.1 s,
    halving the speed of the first training steps on a 2-core machine.
    """
    from threadpoolctl import threadpool_limits

    import skgru.estimators._base as base
    from skgru.kernels._threads import BLAS_THREADS, _blas_libraries

    shared, local = _blas_libraries()
    if not shared + local or BLAS_THREADS is None:
        pytest.skip("no BLAS library found by threadpoolctl, or SKGRU_BLAS_THREADS=0")
    seen = []
    real = base.init_params

    def spy(*args, **kwargs):
        seen.append([lib.get_num_threads() for lib in shared + local])
        return real(*args, **kwargs)

    monkeypatch.setattr(base, "init_params", spy)
    X = np.random.default_rng(0).standard_normal((16, 5, 3)).astype(np.float32)
    with threadpool_limits(limits=2, user_api="blas"):
        for lib in shared:
            lib._real_set_num_threads(2)
        outside = [lib.get_num_threads() for lib in shared + local]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ConstrainedGRUClassifier(units=4, max_iter=1, random_state=0).fit(X, np.arange(16) % 2)
        after = [lib.get_num_threads() for lib in shared + local]
    assert outside == [2] * len(outside)
    assert seen == [[BLAS_THREADS] * len(outside)]
    assert after == outside


# --------------------------------------------------------------------------- #
# The default thread count (n_jobs=None)
# --------------------------------------------------------------------------- #


def test_default_threads_are_scikit_learns_openmp_count():
    from threadpoolctl import threadpool_limits

    # Counted independently of scikit-learn's helper, by its documented
    # rule: OMP_NUM_THREADS when the process started with it (it may exceed
    # the cores), else the physical cores.
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    expected = int(env) if env.isdigit() else joblib.cpu_count(only_physical_cores=True)
    assert cpu_threads(None) == expected >= 1
    with threadpool_limits(limits=1):
        assert cpu_threads(None) == 1
    assert cpu_threads(None) == expected
    assert cpu_threads(3) == 3
    assert cpu_threads(-1) == joblib.cpu_count()


@pytest.mark.parametrize("env, expected", [("1", 1), ("3", 3), (None, "cores")])
def test_default_threads_without_the_scikit_learn_helper(monkeypatch, env, expected):
    monkeypatch.setitem(sys.modules, "sklearn.utils._openmp_helpers", None)
    if env is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        expected = joblib.cpu_count(only_physical_cores=True)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", env)
    assert default_threads() == expected


def test_joblib_workers_default_to_their_share_of_the_cores():
    # loky gives each of k workers OMP_NUM_THREADS = cores // k (unless the
    # variable is set already), so a GridSearchCV(n_jobs=2) of default
    # estimators runs 2 x (cores // 2) threads, not 2 x cores.
    env = os.environ.get("OMP_NUM_THREADS")
    expected = int(env) if env else max(joblib.cpu_count() // 2, 1)
    got = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_default_n_threads)() for _ in range(2)
    )
    assert got == [expected, expected]


def _default_n_threads():
    return ConstrainedGRUClassifier()._n_threads()


def test_default_fit_is_reproducible_for_its_thread_count():
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(5)
    X = _ragged(rng, 30, 2, max_len=9)
    y = np.arange(30) % 3
    a = _fit(None, X, y).get_weights()
    b = _fit(None, X, y).get_weights()
    same_count = _fit(cpu_threads(None), X, y).get_weights()
    with threadpool_limits(limits=1):
        limited = _fit(None, X, y).get_weights()
    one = _fit(1, X, y).get_weights()
    for p, q, r, s, t in zip(a, b, same_count, limited, one):
        np.testing.assert_array_equal(p, q)
        np.testing.assert_array_equal(p, r)
        np.testing.assert_array_equal(s, t)
