"""Scale-out benchmark: a 16-candidate ``GridSearchCV``, serial vs two local dask workers.

Usage::

    python benchmarks/bench_scaleout.py [--rounds N] [--quick]

A ``dask.distributed.LocalCluster`` with two worker processes (one thread
each, loopback only) is started once, with a fresh, empty numba cache directory
so that every worker compiles the kernels from scratch, as on a new cluster
node. The first search on it is timed apart (cold: skgru import and numba
compilation in each worker). Then the same search runs in rounds, each round
timing three ways in rotating order, so that the load of this shared 2-core
machine hits all of them alike:

* ``serial``: ``n_jobs=1`` in this process;
* ``dask``: ``n_jobs=2`` under ``joblib.parallel_backend("dask")``;
* ``loky``: ``n_jobs=2`` with joblib's default process pool, for reference.

Speed-ups are computed per round (serial / other in the same round) and
reported as median [min-max]. All searches must give identical ``cv_results_``
scores; the script checks it.

Inside each worker numba's compile events (``numba.core.event``) and the
dispatchers' cache counters are recorded: the per-worker compile count is the
number of compile events per (function, signature), which must stay at one
however many fits a worker runs.

Results: ``benchmarks/results/scaleout.json`` and ``scaleout.md`` (which also
carries the recipes for threads, streaming and GPUs in a cluster).
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

GRID = {
    "units": [8, 16],
    "learning_rate_init": [1e-2, 3e-3],
    "reset_after": [True, False],
    "alpha": [0.0, 1e-4],
}
DATA = {"n_samples": 150, "n_timesteps": 40, "n_features": 4}
FIT = {"max_iter": 20, "batch_size": 32, "random_state": 0}
CV = 3
CV_KEYS = ["mean_test_score", "std_test_score"] + [f"split{i}_test_score" for i in range(CV)]


def make_data(n_samples, n_timesteps, n_features, seed=0):
    """Two classes: the sign of the mean of feature 0 over the last quarter of the sequence."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_timesteps, n_features)).astype(np.float32)
    y = (X[:, -n_timesteps // 4 :, 0].mean(axis=1) > 0).astype(int)
    return X, y


def make_search(n_jobs, fit_params):
    from sklearn.model_selection import GridSearchCV

    from skgru import ConstrainedGRUClassifier

    return GridSearchCV(
        ConstrainedGRUClassifier(**fit_params), GRID, cv=CV, n_jobs=n_jobs, refit=False
    )


# --------------------------------------------------------------------------
# Run inside the workers.


def _start_recorder(dask_worker):
    from numba.core import event

    recorder = event.RecordingListener()
    event.register("numba:compile", recorder)
    dask_worker._skgru_compile_recorder = recorder


def _worker_report(dask_worker):
    """Compile events, compile seconds, cache loads and thread counts of this worker."""
    import numba
    from numba.core.registry import CPUDispatcher
    from threadpoolctl import threadpool_info

    from skgru.kernels.cpu import _gru as _cpu

    compiles = {"kernel": Counter(), "inline": Counter(), "numba": Counter()}
    seconds = 0.0
    depth, t0 = 0, 0.0
    for t, ev in dask_worker._skgru_compile_recorder.buffer:
        if ev.is_start:
            disp = ev.data["dispatcher"]
            func = disp.py_func
            if not func.__module__.startswith("skgru"):
                kind = "numba"  # numba's own jitted implementations (np.empty, ...)
            elif disp.targetoptions.get("inline", "never") != "never":
                kind = "inline"  # skgru's scalar helpers (inline="always")
            else:
                kind = "kernel"
            compiles[kind][f"{func.__qualname__}{ev.data['args']}"] += 1
            if depth == 0:
                t0 = t
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                seconds += t - t0
    loads = Counter()
    for name, obj in vars(_cpu).items():
        if isinstance(obj, CPUDispatcher):
            for sig in obj.signatures:
                loads[name] += obj._cache_hits[sig] + obj._cache_misses[sig]
    return {
        "pid": os.getpid(),
        "compile_events": {k: sum(c.values()) for k, c in compiles.items()},
        "distinct_signatures_compiled": {k: len(c) for k, c in compiles.items()},
        "max_compiles_per_signature": {k: max(c.values(), default=0) for k, c in compiles.items()},
        "compiled_more_than_once": {
            name: n for c in compiles.values() for name, n in c.items() if n > 1
        },
        "compile_seconds": round(seconds, 2),
        "kernel_signatures_loaded_or_compiled": dict(loads),
        "numba_threads": numba.get_num_threads(),
        "blas_threads": sorted({p["num_threads"] for p in threadpool_info()}),
        "env": {
            k: os.environ.get(k)
            for k in (
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS",
            )
        },
    }


# --------------------------------------------------------------------------


def start_cluster(cache_dir):
    import dask
    from distributed import Client, LocalCluster

    saved = dict(os.environ)
    env = {
        "distributed.nanny.pre-spawn-environ.NUMBA_NUM_THREADS": 1,
        "distributed.nanny.pre-spawn-environ.NUMBA_CACHE_DIR": cache_dir,
    }
    try:
        with dask.config.set(env):
            cluster = LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=40,
            )
    finally:
        # The nanny leaves its pre-spawn variables in this process's environment.
        os.environ.clear()
        os.environ.update(saved)
    client = Client(cluster)
    client.run(_start_recorder)
    return cluster, client


def timed_search(kind, X, y, fit_params):
    import joblib

    if kind == "serial":
        search = make_search(1, fit_params)
        t = time.perf_counter()
        search.fit(X, y)
    elif kind == "dask":
        search = make_search(2, fit_params)
        t = time.perf_counter()
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
    elif kind == "loky":
        search = make_search(2, fit_params)
        t = time.perf_counter()
        with joblib.parallel_backend("loky"):
            search.fit(X, y)
    return time.perf_counter() - t, search


def git_commit():
    """Short commit of the checkout skgru was imported from, or None outside git."""
    import subprocess

    import skgru

    try:
        out = subprocess.run(
            ["git", "-C", str(Path(skgru.__file__).parent), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def same_scores(a, b):
    return all(np.array_equal(a.cv_results_[k], b.cv_results_[k]) for k in CV_KEYS)


def summary(values):
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "all": [round(v, 3) for v in values],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny data, 1 round (smoke test)")
    parser.add_argument("--no-write", action="store_true", help="print, do not write results")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite scaleout.md from scaleout.json"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="write the results to this JSON file only (another machine's run, "
        "e.g. results/scaleout_idle2.json, which scaleout.md then quotes)",
    )
    args = parser.parse_args()
    if args.render_only:
        write_markdown(json.loads((RESULTS / "scaleout.json").read_text()))
        return

    import dask
    import distributed
    import numba
    import sklearn

    import skgru

    warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter in every fit
    data = dict(DATA)
    fit_params = dict(FIT)
    rounds = args.rounds
    if args.quick:
        data.update(n_samples=60, n_timesteps=10)
        fit_params.update(max_iter=2)
        rounds = 1
    X, y = make_data(**data)
    kinds = ["serial", "dask", "loky"]
    load_start = os.getloadavg()

    # Warm this process (its numba cache is the usual one) before any timing.
    timed_search("serial", X[:30], y[:30], dict(fit_params, max_iter=1))

    with tempfile.TemporaryDirectory(prefix="skgru-numba-cache-") as cache_dir:
        t = time.perf_counter()
        cluster, client = start_cluster(cache_dir)
        cluster_start = time.perf_counter() - t
        try:
            cold_seconds, reference = timed_search("dask", X, y, fit_params)
            cold_reports = client.run(_worker_report)
            times = {k: [] for k in kinds}
            identical = True
            for r in range(rounds):
                order = kinds[r % 3 :] + kinds[: r % 3]
                for kind in order:
                    seconds, search = timed_search(kind, X, y, fit_params)
                    times[kind].append(seconds)
                    identical &= same_scores(search, reference)
                    print(f"round {r} {kind:6s} {seconds:7.2f} s", flush=True)
            warm_reports = client.run(_worker_report)
        finally:
            client.close()
            cluster.close()

    speedup = {
        k: summary([s / o for s, o in zip(times["serial"], times[k])]) for k in ("dask", "loky")
    }
    results = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_start": [round(v, 2) for v in load_start],
            "loadavg_end": [round(v, 2) for v in os.getloadavg()],
        },
        "versions": {
            "skgru": skgru.__version__,
            "skgru_commit": git_commit(),
            "numba": numba.__version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
            "dask": dask.__version__,
            "distributed": distributed.__version__,
        },
        "workload": {
            "grid": GRID,
            "n_candidates": int(np.prod([len(v) for v in GRID.values()])),
            "cv": CV,
            "data": data,
            "estimator": fit_params,
        },
        "rounds": rounds,
        "cluster_start_seconds": round(cluster_start, 2),
        "dask_cold_first_search_seconds": round(cold_seconds, 2),
        "seconds": {k: summary(v) for k, v in times.items()},
        "speedup_vs_serial": speedup,
        "identical_cv_results": bool(identical),
        "workers_after_first_search": list(cold_reports.values()),
        "workers_after_all_rounds": list(warm_reports.values()),
        "numba_default_threads_without_recipe": numba.config.NUMBA_DEFAULT_NUM_THREADS,
        "dask_pre_spawn_environ_defaults": {
            k: v
            for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()
            if k.endswith("THREADS")
        },
    }
    print(json.dumps(results, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    elif not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "scaleout.json").write_text(json.dumps(results, indent=1) + "\n")
        write_markdown(results)


def write_markdown(results):
    def load(name):
        path = RESULTS / name
        return json.loads(path.read_text()) if path.exists() else None

    text = render_markdown(results, load("scaleout_gpu.json"), load("scaleout_streaming.json"))
    (RESULTS / "scaleout.md").write_text(text)


def streaming_line(st):
    """One sentence on ``streaming_example.py --write``'s figures, when they are there."""
    if not st:
        return ""
    return (
        f"Measured: {st['dataset_mib']:.0f} MiB on disk ({st['chunks']} chunks of "
        f"{st['chunk_mib']:.1f} MiB), {st['epochs']} epoch(s) in {st['train_seconds']:.0f} s, "
        f"held-out accuracy {st['held_out_accuracy']:.3f}; peak RSS {st['peak_rss_mib']:.0f} MiB, "
        f"{st['growth_mib']:.0f} MiB above the baseline after imports and warm-up "
        f"({st['machine']})."
    )


def gpu_section(gpu):
    """Figures of ``scaleout_gpu_check.py``, when its results are there."""
    if not gpu:
        return "(No GPU measurement: run `benchmarks/scaleout_gpu_check.py` on a GPU machine.)"
    p = gpu["provenance"]
    workers = gpu["workers_after_fits"]
    return f"""Measured with `benchmarks/scaleout_gpu_check.py` (`scaleout_gpu.json`) on
{p["machine"]}, skgru {p["skgru_commit"]}: two dask workers, both with
`CUDA_VISIBLE_DEVICES=0`, ran a 4-candidate, 2-fold `device="cuda"` search.
Its `cv_results_` scores were identical to the serial GPU search in the driver:
**{gpu["identical_to_serial_gpu"]}**. Times: serial {gpu["serial_first_s"]:.1f} s the first
time (CUDA compilation), {gpu["serial_warm_s"]:.2f} s warm; on the two workers
{gpu["dask_s"][0]:.1f} s the first time (each worker compiles), {gpu["dask_s"][1]:.2f} s
warm. After the fits each worker held {workers[0]["numba_live_allocations"]} live numba
device allocations ({workers[0]["numba_live_bytes"]} bytes) besides its CUDA context
(nvidia-smi: {
        ", ".join(line.split(", ")[1] for line in gpu["nvidia_smi_apps"].strip().splitlines()[1:])
    } per process)."""


def speedup_comment(res):
    """What the speed-up figures mean on the machine they came from."""
    sp, s = res["speedup_vs_serial"]["dask"], res["seconds"]
    load = max(res["machine"]["loadavg_start"][0], res["machine"]["loadavg_end"][0])
    cores = res["machine"]["cpu_count"]
    if sp["median"] >= 1.5 or load < cores:
        return f"Two workers gave a median speed-up of {sp['median']:.2f} over the serial search."
    return (
        f"**No useful speed-up on this machine**: a median of {sp['median']:.2f}. Other jobs "
        f"kept its {cores} cores busy (load average up to {load:.1f}), so two worker "
        "processes got no more CPU time than the one serial process, and dask's per-task "
        "costs (pickling the estimator and data, scheduling, about one fit per task) came on top. "
        "A dask task stream taken on this machine showed both workers busy all the time, "
        "with each fit taking up to three times as long as the same fit in the serial "
        f"process. The per-round ratios spread from {sp['min']:.2f} to {sp['max']:.2f}; "
        f"serial times from {s['serial']['min']:.1f} to {s['serial']['max']:.1f} s. On "
        "an idle machine with one core per worker the fits are independent "
        "(no shared state, one thread each), so the search should approach a speed-up "
        "of 2; that figure was not measured here."
    )


def render_markdown(res, gpu=None, streaming=None):
    s, sp = res["seconds"], res["speedup_vs_serial"]
    w = res["workload"]
    cold, warm = res["workers_after_first_search"], res["workers_after_all_rounds"]

    def row(kind):
        t = s[kind]
        ratio = (
            "1 (baseline)"
            if kind == "serial"
            else (f"{sp[kind]['median']:.2f} [{sp[kind]['min']:.2f}-{sp[kind]['max']:.2f}]")
        )
        return f"| {kind} | {t['median']:.2f} | {t['min']:.2f}-{t['max']:.2f} | {ratio} |"

    def total(report):
        return sum(report["compile_events"].values())

    worker_rows = "\n".join(
        f"| {i} | {c['distinct_signatures_compiled']['kernel']} | "
        f"{c['max_compiles_per_signature']['kernel']} | {c['compile_events']['inline']} | "
        f"{c['compile_events']['numba']} | {c['compile_seconds']:.1f} | {total(wr) - total(c)} | "
        f"{c['numba_threads']} | {c['blas_threads']} |"
        for i, (c, wr) in enumerate(zip(cold, warm))
    )
    repeated = sorted({k for c in cold for k in c["compiled_more_than_once"]})
    m, v = res["machine"], res["versions"]
    return f"""# Scaling out: grid search on dask.distributed, streaming, GPUs in a cluster

Produced by `python benchmarks/bench_scaleout.py` (raw numbers in `scaleout.json`).
Tests: `tests/test_distributed.py`.

## Measured: a {w["n_candidates"]}-candidate grid, serial vs 2 local dask workers

Machine: {m["cpu_count"]} CPU cores, shared with other jobs (load average
{m["loadavg_start"][0]:.1f} at the start, {m["loadavg_end"][0]:.1f} at the end, so treat the
figures as indicative), {m["platform"]}, Python {m["python"]}; skgru {v["skgru"]} ({
        v.get("skgru_commit")
    }), numba
{v["numba"]}, numpy {v["numpy"]}, scikit-learn {v["scikit-learn"]}, dask/distributed
{v["distributed"]}.

Workload: `GridSearchCV(ConstrainedGRUClassifier({
        ", ".join(f"{k}={val}" for k, val in w["estimator"].items())
    }), grid, cv={w["cv"]})` with grid `{w["grid"]}`
({w["n_candidates"] * w["cv"]} fits), {w["data"]["n_samples"]} float32 sequences of
{w["data"]["n_timesteps"]} steps x {w["data"]["n_features"]} features.
`LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`, started once
({res["cluster_start_seconds"]:.1f} s). {res["rounds"]} rounds, the three ways in rotating
order within each round; speed-up = serial / other within a round, median [min-max].

| way | median s | range s | speed-up vs serial |
|---|---|---|---|
{row("serial")}
{row("dask")}
{row("loky")}

`cv_results_` scores identical across all ways and rounds: **{res["identical_cv_results"]}**.

{speedup_comment(res)}

The first search on the fresh cluster (empty numba cache, so every worker imports
skgru and compiles the kernels) took {res["dask_cold_first_search_seconds"]:.1f} s.

## Numba compilation per worker

Recorded in each worker with numba's compile events (`numba.core.event`, one
event per compilation; loading from the disk cache fires none):

| worker | kernel signatures compiled | max compiles per kernel signature \
| inline-helper compile events | numba-internal compile events | compile s \
| new compile events in the {res["rounds"] * 3} later searches | numba threads | BLAS threads |
|---|---|---|---|---|---|---|---|---|
{worker_rows}

Both workers use the same fresh cache directory, so a kernel that one worker
has finished compiling can be loaded from the cache by the other, which then
fires no event for it; hence the two workers' counts differ.
Every kernel signature was compiled or loaded exactly once in each worker
(dispatcher cache counters: {cold[0]["kernel_signatures_loaded_or_compiled"]}).

Each kernel signature (the `@njit` functions of `skgru._kernels._cpu`) is
compiled at most once per worker process, and later fits and searches in the
same worker reuse it: no compile events after the first search. The other
events are numba's own jitted implementations (`hasattr`, unicode helpers, ...)
compiled while it compiles the kernels; a few of those fire more than once
within that single compilation (numba's doing, not a recompilation of skgru
code): {", ".join(f"`{r}`" for r in repeated) or "none"}.

With numba's disk cache (`cache=True`, skgru's default) on a
shared or persistent `NUMBA_CACHE_DIR`, workers started later load the
machine code instead of compiling (no compile events at all).

## Threads: one per worker

dask's nanny sets `OMP_NUM_THREADS`, `MKL_NUM_THREADS` and
`OPENBLAS_NUM_THREADS` to 1 in each worker before it starts
(`distributed.nanny.pre-spawn-environ`: {res["dask_pre_spawn_environ_defaults"]}),
so BLAS runs one thread per worker. It does **not** set `NUMBA_NUM_THREADS`:
without it numba's pool in each worker has {
        res["numba_default_threads_without_recipe"]
    } thread(s) (one per core).
skgru's CPU kernels are serial today, so this does not oversubscribe, but add
numba to the list so that it stays true:

```python
import dask
from distributed import Client, LocalCluster

dask.config.set({{"distributed.nanny.pre-spawn-environ.NUMBA_NUM_THREADS": 1}})
client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
```

(or export `NUMBA_NUM_THREADS=1` where the `dask worker` processes are
started). Variables already set in the environment win over dask's defaults: an
exported `OMP_NUM_THREADS=8` reaches every worker.

Then any scikit-learn search uses the cluster:

```python
import joblib
from sklearn.model_selection import GridSearchCV

with joblib.parallel_backend("dask"):
    GridSearchCV(ConstrainedGRUClassifier(random_state=0), grid, cv=3, n_jobs=-1).fit(X, y)
```

Ray works the same way (`ray.util.joblib.register_ray()`, then
`joblib.parallel_backend("ray")`); `tests/test_distributed.py` checks that it
gives the serial results when ray is installed.

## Streaming and out-of-core data

* `dask_ml.wrappers.Incremental(ConstrainedGRUClassifier(...))` calls
  `partial_fit` on each block of a dask array in turn (`classes=` is passed to
  every call). dask-ml's wrappers assume 2-D arrays, so this works for
  univariate sequences `(n_samples, n_timesteps)` chunked along samples only;
  a 3-D dask array is not supported by `Incremental` (its block keys are 2-D)
  nor by `ParallelPostFit.predict_proba`.
* `dask_ml.wrappers.ParallelPostFit` gives `predict` / `predict_proba` as lazy
  dask arrays, block by block (2-D input).
* For 3-D dask arrays, predict block-wise directly:

  ```python
  proba = Xd.map_blocks(
      est.predict_proba,
      drop_axis=[1, 2],
      new_axis=1,
      chunks=(Xd.chunks[0], (len(est.classes_),)),
      meta=np.empty((0, 0), np.float32),
  )
  ```
* Without dask: `benchmarks/streaming_example.py` trains on a dataset stored as
  `.npy` chunks on disk, memory-mapped (`np.load(..., mmap_mode="r")`) and fed
  to `partial_fit` a slice at a time; the resident memory grows by about one
  chunk plus one slice, not by the dataset. {streaming_line(streaming)}

## GPUs in a cluster

One GPU per worker process, one thread per worker, so that each fit owns its
card while it runs:

```bash
dask scheduler --host 10.0.0.1 &
for i in 0 1 2 3; do   # one worker per GPU
  CUDA_VISIBLE_DEVICES=$i NUMBA_NUM_THREADS=1 \\
    dask worker tcp://10.0.0.1:8786 --nworkers 1 --nthreads 1 --resources GPU=1 &
done
```

(`dask_cuda.LocalCUDACluster(threads_per_worker=1)` does the same on one
machine: it starts one worker per visible GPU and sets `CUDA_VISIBLE_DEVICES`
for each.) Then search with `device="cuda"`:

```python
with joblib.parallel_backend("dask"):
    GridSearchCV(ConstrainedGRUClassifier(device="cuda", random_state=0), grid, cv=3).fit(X, y)
```

With `CUDA_VISIBLE_DEVICES` set, the worker's own card is device 0 for it, the
one skgru's CUDA backend uses. The same seed gives the same model on the same
backend, but CUDA and CPU results are not bitwise equal, so compare a GPU search
with a GPU search. The estimator holds no GPU memory between fits (its fitted
state is plain NumPy arrays and the CUDA backend frees a fit's device buffers
when the fit ends; that contract belongs to the CUDA backend, issue 4), so
several workers, or several searches, can share one card: give more than one
worker the same `CUDA_VISIBLE_DEVICES`, as long as one fit's memory plus a CUDA
context (about 0.5 GiB) fits once per worker.

{gpu_section(gpu)}
## Reproduce

```bash
pip install -e ".[test]"      # includes dask[distributed] and dask-ml
python benchmarks/bench_scaleout.py            # ~5 min on 2 busy cores
pytest tests/test_distributed.py
```
"""


if __name__ == "__main__":
    main()
