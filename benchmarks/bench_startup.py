"""Start-up and process-parallel figures for skgru on the CPU.

Usage::

    python benchmarks/bench_startup.py [--repeats N] [--grids tiny,small]

Measures, each in fresh processes (wall clock from ``subprocess`` start to exit):

* warm: ``import skgru`` + a tiny first ``fit`` (numeric and token input) with
  the numba cache already filled (target <= 2 s);
* cold: the same with an empty ``NUMBA_CACHE_DIR`` (everything compiles);
* GridSearchCV(n_jobs=2) on a cold cache (must not crash; the cache it leaves
  is reused) and then warm;
* GridSearchCV(n_jobs=2) against n_jobs=1 of a default estimator (``n_jobs=None``:
  every core in the main process, ``cores // 2`` threads in each joblib worker),
  interleaved, on a tiny grid (fits of a few hundred ms, where the workers'
  start-up dominates) and a small one (fits of a few seconds); each process
  runs the search twice, and the second search reuses joblib's workers.

Results: ``benchmarks/results/cpu_startup.json`` and ``cpu_startup.md``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

TINY_FIT = """
import time
t0 = time.perf_counter()
import numpy as np
from skgru import ConstrainedGRUClassifier
t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
X = rng.standard_normal((16, 10, 3)).astype(np.float32)
y = np.arange(16) % 2
ConstrainedGRUClassifier(units=8, max_iter=2, random_state=0).fit(X, y).predict(X)
t_fit = time.perf_counter() - t0
ids = rng.integers(0, 30, size=(16, 10))
ConstrainedGRUClassifier(units=8, embedding_dim=4, max_iter=2, random_state=0).fit(ids, y)
print(t_import, t_fit, time.perf_counter() - t0)
"""

# What any scikit-learn + numba package pays before its own code runs.
FLOOR = """
import time
t0 = time.perf_counter()
import numpy, scipy.special, sklearn.base, sklearn.utils.validation, numba
print(time.perf_counter() - t0)
"""

# The same, plus the first call of a trivial cached ``@njit`` function (the
# cache filled by a previous process): numba initialises its compiler and JIT
# linker on the first call of any compiled function, cached or not.
PROBE_MODULE = """
from numba import njit


@njit(cache=True)
def probe(x):
    return x + 1.0
"""

FLOOR_CALL = """
import sys, time
t0 = time.perf_counter()
import numpy, scipy.special, sklearn.base, sklearn.utils.validation, numba
t_import = time.perf_counter() - t0
sys.path.insert(0, PROBE_DIR)
import skgru_numba_probe
skgru_numba_probe.probe(1.0)
print(t_import, time.perf_counter() - t0)
"""

GRID = """
import time, warnings
import numpy as np
from sklearn.model_selection import GridSearchCV
from skgru import ConstrainedGRUClassifier
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
X = rng.standard_normal((N_SAMPLES, N_STEPS, 4)).astype(np.float32)
y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
grid = {"units": [8, 16], "learning_rate_init": [1e-3, 1e-2]}
times = []
for _ in range(SEARCHES):  # the second search reuses joblib's worker processes
    t0 = time.perf_counter()
    gs = GridSearchCV(ConstrainedGRUClassifier(max_iter=EPOCHS, batch_size=16, random_state=0),
                      grid, cv=3, n_jobs=N_JOBS).fit(X, y)
    times.append(time.perf_counter() - t0)
print(*times, gs.best_score_)
"""

# The grids of the n_jobs comparison: 4 candidates x 3 folds + refit of a
# default estimator (n_jobs=None: all cores within the joblib workers' limit).
GRIDS = {
    "tiny": {"N_SAMPLES": 240, "N_STEPS": 30, "EPOCHS": 30},
    "small": {"N_SAMPLES": 600, "N_STEPS": 100, "EPOCHS": 30},
}


def grid_code(n_jobs, grid="tiny", searches=1):
    code = GRID.replace("N_JOBS", str(n_jobs)).replace("SEARCHES", str(searches))
    for k, v in GRIDS[grid].items():
        code = code.replace(k, str(v))
    return code


def run(code, env):
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return wall, [float(v) for v in p.stdout.split()]


def _drop_bytecode():
    """Remove skgru's own ``.pyc`` files (numba's cache files next to them stay)."""
    for f in (HERE.parent / "skgru").rglob("__pycache__/*.pyc"):
        f.unlink(missing_ok=True)


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--grids", default=",".join(GRIDS), help="grids of the n_jobs comparison")
    ap.add_argument("--out", default=str(RESULTS / "cpu_startup"))
    args = ap.parse_args()
    base_env = dict(os.environ)
    base_env.pop("NUMBA_CACHE_DIR", None)
    # A warm process reads Python's bytecode cache as well as numba's. This
    # machine sets PYTHONDONTWRITEBYTECODE=1, and an editable install has no
    # .pyc files, so every process compiled skgru's 19 modules from source
    # (60-90 ms) where a user's second process reads them: let the cold run
    # write them (skgru/__pycache__, git-ignored), and remove them before
    # each cold run so that it starts from the source, as a first run does.
    base_env.pop("PYTHONDONTWRITEBYTECODE", None)
    res = {"command": " ".join(["python", "benchmarks/bench_startup.py", *sys.argv[1:]])}
    res["date"] = time.strftime("%Y-%m-%d %H:%M:%S")

    cold, warm, floor, floor_call = [], [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as d:
            env = {**base_env, "NUMBA_CACHE_DIR": d}
            floor.append(run(FLOOR, env))
            probe_dir = Path(d) / "probe"
            probe_dir.mkdir()
            (probe_dir / "skgru_numba_probe.py").write_text(PROBE_MODULE)
            call = FLOOR_CALL.replace("PROBE_DIR", repr(str(probe_dir)))
            run(call, env)  # fills the probe's cache
            floor_call.append(run(call, env))
            _drop_bytecode()
            cold.append(run(TINY_FIT, env))
            warm.append(run(TINY_FIT, env))
    res["import_floor"] = {
        "what": "import numpy, scipy.special, sklearn.base, sklearn.utils.validation, numba",
        "wall_s": summary([w for w, _ in floor]),
        "import_s": summary([v[0] for _, v in floor]),
    }
    res["first_call_floor"] = {
        "what": "the same imports + the first call of a trivial cached @njit function",
        "wall_s": summary([w for w, _ in floor_call]),
        "import_s": summary([v[0] for _, v in floor_call]),
        "import_and_call_s": summary([v[1] for _, v in floor_call]),
    }
    res["tiny_fit_cold"] = {
        "wall_s": summary([w for w, _ in cold]),
        "import_s": summary([v[0] for _, v in cold]),
        "import_and_numeric_fit_s": summary([v[1] for _, v in cold]),
        "both_fits_s": summary([v[2] for _, v in cold]),
    }
    res["tiny_fit_warm"] = {
        "wall_s": summary([w for w, _ in warm]),
        "import_s": summary([v[0] for _, v in warm]),
        "import_and_numeric_fit_s": summary([v[1] for _, v in warm]),
        "both_fits_s": summary([v[2] for _, v in warm]),
    }

    with tempfile.TemporaryDirectory() as d:
        env = {**base_env, "NUMBA_CACHE_DIR": d}
        w_cold, (t_cold, score_cold) = run(grid_code(2), env)
        n_index = len(list(Path(d).rglob("*.nbi")))
        n_data = len(list(Path(d).rglob("*.nbc")))
        w_warm, (t_warm, score_warm) = run(grid_code(2), env)
        n_data_after = len(list(Path(d).rglob("*.nbc")))
        res["gridsearch_cold_cache"] = {
            "n_jobs": 2,
            "cold_wall_s": w_cold,
            "cold_search_s": t_cold,
            "warm_wall_s": w_warm,
            "warm_search_s": t_warm,
            "same_best_score": score_cold == score_warm,
            "cache_index_files": n_index,
            "cache_data_files_after_cold": n_data,
            "cache_data_files_after_warm": n_data_after,
        }
        res["gridsearch_warm"] = {}
        for grid in args.grids.split(","):
            first = {1: [], 2: []}
            second = {1: [], 2: []}
            scores = {}
            for _ in range(args.repeats):
                for nj in (1, 2):
                    _, (t1, t2, s) = run(grid_code(nj, grid, searches=2), env)
                    first[nj].append(t1)
                    second[nj].append(t2)
                    scores[nj] = s
            g = GRIDS[grid]
            res["gridsearch_warm"][grid] = {
                "grid": "units [8,16] x learning_rate_init [1e-3,1e-2], cv=3, "
                f"{g['N_SAMPLES']} x {g['N_STEPS']} x 4, {g['EPOCHS']} epochs, batch 16",
                "n_jobs_1_s": summary(first[1]),
                "n_jobs_2_s": summary(first[2]),
                "speedup_n_jobs_2": summary([a / b for a, b in zip(first[1], first[2])]),
                "second_search_n_jobs_1_s": summary(second[1]),
                "second_search_n_jobs_2_s": summary(second[2]),
                "second_search_speedup_n_jobs_2": summary(
                    [a / b for a, b in zip(second[1], second[2])]
                ),
                "same_scores": scores[1] == scores[2],
            }

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    f = lambda s: f"{s['median']:.2f} [{s['min']:.2f}-{s['max']:.2f}]"  # noqa: E731
    c, w = res["tiny_fit_cold"], res["tiny_fit_warm"]
    g = res["gridsearch_cold_cache"]
    md = [
        "# skgru start-up and process parallelism (CPU)",
        "",
        f"Command: `{res['command']}`; {res['date']}; seconds, median [min-max] "
        f"of {args.repeats} fresh processes.",
        "",
        "| | process wall | import | import + tiny numeric fit + predict | + tiny token fit |",
        "|---|---|---|---|---|",
        f"| warm cache | {f(w['wall_s'])} | {f(w['import_s'])} | "
        f"{f(w['import_and_numeric_fit_s'])} | {f(w['both_fits_s'])} |",
        f"| cold cache | {f(c['wall_s'])} | {f(c['import_s'])} | "
        f"{f(c['import_and_numeric_fit_s'])} | {f(c['both_fits_s'])} |",
        f"| floor: numpy + scipy.special + sklearn + numba only | "
        f"{f(res['import_floor']['wall_s'])} | {f(res['import_floor']['import_s'])} | - | - |",
        f"| floor + first call of a trivial cached `@njit` function | "
        f"{f(res['first_call_floor']['wall_s'])} | {f(res['first_call_floor']['import_s'])} | "
        f"{f(res['first_call_floor']['import_and_call_s'])} | - |",
        "",
        f"GridSearchCV(n_jobs=2), 4 candidates x 3 folds (+ refit), on an empty cache: "
        f"{g['cold_search_s']:.1f} s, then {g['warm_search_s']:.1f} s warm; "
        f"cache data files {g['cache_data_files_after_cold']} after the cold run, "
        f"{g['cache_data_files_after_warm']} after the warm one (no recompilation); "
        f"same best score: {g['same_best_score']}.",
        "",
        "GridSearchCV of the default estimator (`n_jobs=None`: all cores in the main "
        "process, cores // 2 in each of two joblib workers), warm cache, fresh processes; "
        "the second search runs in the same process and reuses joblib's workers:",
        "",
        "| grid | n_jobs=1 | n_jobs=2 | speed-up | second search n_jobs=1 | n_jobs=2 | "
        "speed-up | same scores |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for gw in res["gridsearch_warm"].values():
        md.append(
            f"| {gw['grid']} | {f(gw['n_jobs_1_s'])} s | {f(gw['n_jobs_2_s'])} s | "
            f"{f(gw['speedup_n_jobs_2'])}x | {f(gw['second_search_n_jobs_1_s'])} s | "
            f"{f(gw['second_search_n_jobs_2_s'])} s | "
            f"{f(gw['second_search_speedup_n_jobs_2'])}x | {gw['same_scores']} |"
        )
    md.append("")
    out.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
