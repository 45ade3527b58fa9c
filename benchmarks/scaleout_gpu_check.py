"""GPU in a dask cluster: a ``device="cuda"`` grid search on two workers sharing one GPU.

Usage (on a machine with a CUDA GPU and the ``cuda`` extra)::

    python benchmarks/scaleout_gpu_check.py [OUTPUT.json]

Two dask workers (one thread each) are both given ``CUDA_VISIBLE_DEVICES=0``
and share the card. The script runs a 4-candidate, 2-fold search with
``device="cuda"`` serially in this process and then on the cluster (twice: the
first pays the CUDA kernel compilation in each worker), checks that the
``cv_results_`` scores are identical, and reports the GPU memory numba still
holds in each process after the fits (live allocations, bytes) next to
``nvidia-smi``'s per-process figure (which includes the CUDA context).

Results: ``benchmarks/results/scaleout_gpu.json`` (or OUTPUT.json); the
markdown of ``bench_scaleout.py`` quotes it.
"""

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.simplefilter("ignore")


def data(n=64, T=30, F=4):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, T, F)).astype(np.float32)
    return X, (X[:, -8:, 0].mean(axis=1) > 0).astype(int)


def search(n_jobs):
    from sklearn.model_selection import GridSearchCV

    from skgru import ConstrainedGRUClassifier

    est = ConstrainedGRUClassifier(device="cuda", max_iter=5, batch_size=16, random_state=0)
    grid = {"units": [8, 16], "learning_rate_init": [1e-2, 3e-3]}
    return GridSearchCV(est, grid, cv=2, n_jobs=n_jobs, refit=False)


def worker_gpu_report():
    """GPU memory that numba holds in this process, after a garbage collection."""
    import gc

    from numba import cuda

    gc.collect()
    ctx = cuda.current_context()
    ctx.deallocations.clear()
    mm = ctx.memory_manager
    allocs = getattr(mm, "allocations", {})
    held = 0
    for ptr in list(allocs.values()):
        held += getattr(ptr, "size", 0) or 0
    free, total = ctx.get_memory_info()
    return {
        "pid": os.getpid(),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "device": cuda.get_current_device().name.decode()
        if isinstance(cuda.get_current_device().name, bytes)
        else str(cuda.get_current_device().name),
        "numba_live_allocations": len(allocs),
        "numba_live_bytes": int(held),
        "device_free_MiB": free // 2**20,
        "device_total_MiB": total // 2**20,
    }


def main():
    import dask
    import joblib
    from distributed import Client, LocalCluster

    X, y = data()
    out = {}
    t = time.perf_counter()
    serial = search(1).fit(X, y)
    out["serial_first_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    serial = search(1).fit(X, y)
    out["serial_warm_s"] = round(time.perf_counter() - t, 2)
    out["driver_after_fit"] = worker_gpu_report()

    cfg = {
        "distributed.nanny.pre-spawn-environ.NUMBA_NUM_THREADS": 1,
        "distributed.nanny.pre-spawn-environ.CUDA_VISIBLE_DEVICES": "0",
    }
    with dask.config.set(cfg):
        cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,
        )
    client = Client(cluster)
    try:
        times = []
        for _ in range(2):
            t = time.perf_counter()
            with joblib.parallel_backend("dask"):
                res = search(2).fit(X, y)
            times.append(round(time.perf_counter() - t, 2))
        out["dask_s"] = times
        keys = ["mean_test_score", "std_test_score", "split0_test_score", "split1_test_score"]
        out["identical_to_serial_gpu"] = all(
            np.array_equal(res.cv_results_[k], serial.cv_results_[k]) for k in keys
        )
        out["max_abs_diff"] = max(
            float(np.abs(res.cv_results_[k] - serial.cv_results_[k]).max()) for k in keys
        )
        out["workers_after_fits"] = list(client.run(worker_gpu_report).values())
        out["nvidia_smi_apps"] = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv"],
            capture_output=True,
            text=True,
        ).stdout
    finally:
        client.close()
        cluster.close()
    print(json.dumps(out, indent=1))
    default = Path(__file__).resolve().parent / "results" / "scaleout_gpu.json"
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
