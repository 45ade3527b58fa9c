"""Hyper-parameter search on a dask.distributed cluster (and Ray), and streaming with dask-ml.

The dask tests start a real ``LocalCluster`` on the loopback interface: two
worker processes with one thread each, as a user would on one machine, and
check what matters for a search farmed out by joblib:

* the results equal the serial search exactly (same ``random_state``);
* numba compiles (or loads from its cache) each kernel signature at most once
  per worker process, however many fits the worker runs;
* no worker oversubscribes the cores: BLAS and numba each run one thread.

Numba's own compile events (``numba.core.event``, fired on a cache miss only)
and the dispatchers' cache counters are recorded inside each worker.

The Ray test runs when ``ray`` is installed (it is not a test dependency), the
streaming tests when ``dask_ml`` is.
"""

import os
import sys
import warnings
from collections import Counter

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skgru import ConstrainedGRUClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

GRID = {"units": [3, 5], "learning_rate_init": [1e-2, 3e-3]}
CV_KEYS = ["mean_test_score", "std_test_score", "split0_test_score", "split1_test_score"]
# Environment variables that decide thread counts in a worker. They are kept
# out of the workers' environment except as set by dask (OMP, MKL, OpenBLAS)
# and by the recipe below (numba), so the checks measure dask's behaviour and
# not whatever the shell running the tests happens to export.
THREAD_VARS = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"]


def _data(n=40, T=8, F=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F)).astype(np.float32)
    y = (X[:, :, 0].mean(axis=1) > 0).astype(int)
    return X, y


def _search():
    base = ConstrainedGRUClassifier(max_iter=3, batch_size=10, random_state=0)
    return GridSearchCV(base, GRID, cv=2, n_jobs=2, refit=False)


def _assert_same_results(a, b):
    assert [p for p in a.cv_results_["params"]] == [p for p in b.cv_results_["params"]]
    for key in CV_KEYS:
        np.testing.assert_array_equal(a.cv_results_[key], b.cv_results_[key], err_msg=key)


@pytest.fixture(scope="module")
def serial_search():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _search().set_params(n_jobs=1).fit(X, y)


# --------------------------------------------------------------------------
# Code run inside the workers (shipped by value: the workers cannot import
# this test module).


def _start_compile_recorder(dask_worker):
    """Record numba's compile events in this worker from now on."""
    from numba.core import event

    recorder = event.RecordingListener()
    event.register("numba:compile", recorder)
    dask_worker._skgru_compile_recorder = recorder
    return os.getpid()


def _compile_report(dask_worker):
    """``(kernel_compiles, all_compiles, loads)`` of this worker process.

    ``kernel_compiles`` counts numba compile events per ``(kernel, signature)``
    for skgru's ``@njit`` kernels; ``all_compiles`` counts every compile event,
    numba's own jitted implementations included (some of those, such as the
    ``hasattr`` overload, fire several events within one kernel compilation);
    ``loads`` counts, per signature of every kernel of
    :mod:`skgru._kernels._cpu`, how many times it was compiled or loaded from
    numba's disk cache.
    """
    from numba.core.registry import CPUDispatcher

    from skgru.kernels.cpu import _gru as _cpu

    kernel_compiles, all_compiles = Counter(), 0
    for _, ev in dask_worker._skgru_compile_recorder.buffer:
        if ev.is_start:
            all_compiles += 1
            disp = ev.data["dispatcher"]
            inline = disp.targetoptions.get("inline", "never") != "never"
            if disp.py_func.__module__.startswith("skgru") and not inline:
                kernel_compiles[f"{disp.py_func.__qualname__}{ev.data['args']}"] += 1
    loads = {}
    for name, obj in vars(_cpu).items():
        if isinstance(obj, CPUDispatcher) and obj.targetoptions.get("inline") != "always":
            for sig in obj.signatures:
                loads[f"{name}{sig}"] = obj._cache_hits[sig] + obj._cache_misses[sig]
    return dict(kernel_compiles), all_compiles, loads


def _thread_report():
    """Thread counts seen by a task running in a worker."""
    import numba
    from threadpoolctl import threadpool_info

    import skgru  # noqa: F401  (load whatever skgru loads before counting)

    return {
        "pid": os.getpid(),
        "env": {k: os.environ.get(k) for k in THREAD_VARS},
        "numba": numba.get_num_threads(),
        "pools": {
            f"{p['internal_api']}:{p['filepath']}": p["num_threads"] for p in threadpool_info()
        },
    }


# --------------------------------------------------------------------------
# dask.distributed


@pytest.fixture(scope="module")
def client(serial_search):
    # The serial search first: it leaves the kernels in numba's disk cache, which
    # the workers then load instead of each compiling them again (on a cold
    # checkout, one compilation instead of three). Where the workers cannot
    # share that cache they compile, and the per-worker checks below hold too.
    pytest.importorskip("distributed")
    import cloudpickle
    import dask
    from distributed import Client, LocalCluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # The nanny writes the pre-spawn variables into this process's os.environ
    # and leaves them there; restore it so later tests see the usual one.
    saved = dict(os.environ)
    for var in THREAD_VARS:
        os.environ.pop(var, None)
    try:
        # The recipe for users: dask sets OMP/MKL/OpenBLAS to one thread per
        # worker, but not numba, whose pool would otherwise have one thread
        # per core in every worker.
        with (
            dask.config.set({"distributed.nanny.pre-spawn-environ.NUMBA_NUM_THREADS": 1}),
            warnings.catch_warnings(),
        ):
            # The scheduler's HTTP server binds the loopback address too; when
            # another cluster holds its default port it takes a free one and warns.
            warnings.filterwarnings("ignore", "Port 8787 is already in use")
            cluster = LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    client = Client(cluster)
    try:
        client.run(_start_compile_recorder)
        yield client
    finally:
        client.close()
        cluster.close()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def dask_searches(client):
    """The same search run twice on the cluster, with the compile report after each."""
    import joblib

    X, y = _data()
    searches, reports = [], []
    for _ in range(2):
        with joblib.parallel_backend("dask"):
            searches.append(_search().fit(X, y))
        reports.append(client.run(_compile_report))
    return searches, reports


def test_dask_search_equals_serial(serial_search, dask_searches):
    searches, _ = dask_searches
    for search in searches:
        _assert_same_results(search, serial_search)
        assert search.best_params_ == serial_search.best_params_


def test_dask_workers_compile_each_kernel_once(client, dask_searches):
    _, (first, second) = dask_searches
    assert len(first) == 2
    # The scheduler normally gives both workers fits; at least one must have run some.
    assert any(k.startswith("gru_forward_part") for _, _, loads in first.values() for k in loads)
    for kernel_compiles, _, loads in first.values():
        # Each kernel signature was compiled (cold numba cache) or loaded (warm
        # cache) exactly once in the worker's life.
        assert all(n == 1 for n in loads.values()), loads
        assert all(n <= 1 for n in kernel_compiles.values()), kernel_compiles
    # The second search, on warm workers, compiled and loaded nothing at all.
    assert second == first


def test_dask_workers_run_one_thread_each(client):
    reports = [
        client.submit(_thread_report, pure=False, workers=[w]).result()
        for w in client.scheduler_info()["workers"]
    ]
    assert len({r["pid"] for r in reports}) == 2
    for report in reports:
        # Set by dask's nanny (distributed.nanny.pre-spawn-environ) ...
        assert report["env"]["OMP_NUM_THREADS"] == "1"
        assert report["env"]["OPENBLAS_NUM_THREADS"] == "1"
        assert report["env"]["MKL_NUM_THREADS"] == "1"
        # ... and by the recipe in the fixture.
        assert report["env"]["NUMBA_NUM_THREADS"] == "1"
        assert report["numba"] == 1
        assert report["pools"], "threadpoolctl found no BLAS/OpenMP pool"
        assert set(report["pools"].values()) == {1}, report["pools"]


# --------------------------------------------------------------------------
# Ray (optional)


def test_ray_search_equals_serial(serial_search):
    ray = pytest.importorskip("ray")
    import joblib
    from ray.util.joblib import register_ray

    X, y = _data()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        register_ray()
        with joblib.parallel_backend("ray"):
            search = _search().fit(X, y)
    finally:
        ray.shutdown()
    _assert_same_results(search, serial_search)


# --------------------------------------------------------------------------
# Streaming with dask-ml: partial_fit over chunks, prediction on dask arrays.
# dask-ml's wrappers take 2-D arrays (their block keys assume it), so these
# use univariate sequences ``(n_samples, n_timesteps)``; multivariate 3-D dask
# arrays go through ``map_blocks`` directly (last test).


def _univariate(n=60, T=10, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T)).astype(np.float32)
    return X, (X.mean(axis=1) > 0).astype(int)


def _assert_blockwise_equal(result, predict_proba, X, block):
    """``result`` equals ``predict_proba`` run here on the same blocks, bit for bit.

    Against one call on the whole of ``X`` it agrees to float32 rounding only:
    BLAS may round a row differently when the batch around it has another size.
    """
    blocks = [predict_proba(X[i : i + block]) for i in range(0, len(X), block)]
    np.testing.assert_array_equal(result, np.concatenate(blocks))
    np.testing.assert_allclose(result, predict_proba(X), rtol=1e-6, atol=1e-7)


def test_incremental_partial_fit_over_dask_chunks(client):
    pytest.importorskip("dask_ml")
    import dask.array as da
    from dask_ml.wrappers import Incremental

    X, y = _univariate()
    Xd = da.from_array(X, chunks=(20, -1))
    yd = da.from_array(y, chunks=20)
    params = dict(units=4, batch_size=10, random_state=0)

    model = Incremental(ConstrainedGRUClassifier(**params), shuffle_blocks=False)
    model.fit(Xd, yd, classes=[0, 1])

    # The same chunks, in the same order, by hand in this process.
    expected = ConstrainedGRUClassifier(**params)
    for start in range(0, len(X), 20):
        expected.partial_fit(X[start : start + 20], y[start : start + 20], classes=[0, 1])

    assert model.estimator_.loss_curve_ == expected.loss_curve_
    np.testing.assert_array_equal(model.estimator_.predict_proba(X), expected.predict_proba(X))
    proba = model.predict_proba(Xd)
    assert isinstance(proba, da.Array)
    np.testing.assert_array_equal(proba.compute(), expected.predict_proba(X))


def test_parallel_post_fit_predicts_on_dask_arrays(client):
    pytest.importorskip("dask_ml")
    import dask.array as da
    from dask_ml.wrappers import ParallelPostFit

    X, y = _univariate()
    model = ParallelPostFit(ConstrainedGRUClassifier(units=4, max_iter=3, random_state=0))
    model.fit(X, y)
    Xd = da.from_array(X, chunks=(16, -1))

    pred, proba = model.predict(Xd), model.predict_proba(Xd)
    assert isinstance(pred, da.Array) and isinstance(proba, da.Array)
    assert proba.shape == (len(X), 2)
    _assert_blockwise_equal(proba.compute(), model.estimator.predict_proba, X, 16)
    np.testing.assert_array_equal(pred.compute(), model.estimator.predict(X))


def test_predict_proba_on_3d_dask_array_with_map_blocks(client):
    import dask.array as da

    X, y = _data(n=30)
    est = ConstrainedGRUClassifier(units=4, max_iter=3, random_state=0).fit(X, y)
    Xd = da.from_array(X, chunks=(8, -1, -1))
    proba = Xd.map_blocks(
        est.predict_proba,
        drop_axis=[1, 2],
        new_axis=1,
        chunks=(Xd.chunks[0], (len(est.classes_),)),
        meta=np.empty((0, 0), dtype=est.predict_proba(X[:1]).dtype),
    )
    _assert_blockwise_equal(proba.compute(), est.predict_proba, X, 8)
