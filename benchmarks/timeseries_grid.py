"""GRU vs published baselines on GunPoint and ItalyPowerDemand, tuned by grid search.

Usage::

    python benchmarks/timeseries_grid.py [--quick] [--out DIR]

The measurement of issue 2. For each dataset (the standard UCR train/test
split, bundled as :mod:`skgru.datasets`) a pipeline
``FunctionTransformer(stack_windows) -> ConstrainedGRUClassifier`` is tuned by
``GridSearchCV`` (accuracy, ``n_jobs=1``) on the *training split only*, refit
on the whole training split and scored once on the test split.
``stack_windows`` gives the GRU ``width`` consecutive values per step (150
steps of 1 value become 30 steps of 5); width 1 is the raw series. The UCR
series are z-normalised in the archive, so nothing is scaled. Fixed:
``learning_rate_init=0.005``, ``max_iter=200``, ``random_state=0``, CPU,
float32.

1. **Round 1** (designed before any test-split figure was seen): 3-fold
   stratified CV; grid = width x ``units`` in {16, 32} x
   ``kernel_constraint`` in {None, MaxNorm(3.0)}.
2. **Round 2** (designed after round 1 and the variants, which read the test
   split, so its figure is not an untouched hold-out estimate): 3-fold CV
   repeated 3 times; grid = width x ``units`` in {16, 32} x
   ``kernel_constraint`` in {None, MaxNorm(1.0)} x ``recurrent_dropout`` in
   {0, 0.2}.
3. For each round's pick, the same configuration refit with seeds 0-4: the
   spread a single figure hides on 50-67 training series.
4. The **plain GRU** (raw series): round 1's best width-1 candidate, refit.
5. **Variants** of round 1's pick (learning rate, ``max_iter``, early
   stopping, dropout, recurrent dropout, tighter max-norms), seeds 0-2 each:
   exploration for the record, not a selection procedure.

Published baselines on the same split: 1-NN Euclidean distance (Bagnall et
al. 2017) 0.913 / 0.955, MLP (Ismail Fawaz et al. 2019, mean of 10 runs)
0.927 / 0.946.

Results: ``benchmarks/results/timeseries_grid.json`` and
``timeseries_grid.md``, with every figure, the grids, the best parameters and
wall-clock and CPU times. The whole run takes a few minutes on 2 cores (the
file records the measured time and the machine's load).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, RepeatedStratifiedKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import skgru
from skgru import ConstrainedGRUClassifier
from skgru._demo import stack_windows
from skgru.constraints import MaxNorm
from skgru.datasets import load_gunpoint, load_italy_power_demand

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
COMMAND = "python benchmarks/timeseries_grid.py"
SEED = 0

DATASETS = {
    "GunPoint": {
        "loader": load_gunpoint,
        "baselines": {"1-NN Euclidean": 0.913, "MLP": 0.927},
        # Window widths searched in round 1 and round 2.
        "widths": ([1, 5, 10], [5, 10]),
    },
    "ItalyPowerDemand": {
        "loader": load_italy_power_demand,
        "baselines": {"1-NN Euclidean": 0.955, "MLP": 0.946},
        "widths": ([1, 2, 4], [1, 2]),
    },
}

# Fixed for every fit unless a grid or variant changes it.
FIXED = {"learning_rate_init": 0.005, "max_iter": 200}

# Round 1 was designed before any test-split figure was seen. Round 2 was
# designed after round 1 and the variants (which read the test split): it
# repeats the 3-fold CV three times, because 3 folds of 50-67 series pick
# noisily, and adds recurrent dropout and a max-norm that binds (the kernel
# column norms stay below about 1.2, so MaxNorm(3.0) never acts).
ROUNDS = {
    "round 1": {
        "cv": ("StratifiedKFold", {"n_splits": 3, "shuffle": True, "random_state": SEED}),
        "grid": {"gru__units": [16, 32], "gru__kernel_constraint": [None, MaxNorm(3.0)]},
    },
    "round 2": {
        "cv": (
            "RepeatedStratifiedKFold",
            {"n_splits": 3, "n_repeats": 3, "random_state": SEED},
        ),
        "grid": {
            "gru__units": [16, 32],
            "gru__kernel_constraint": [None, MaxNorm(1.0)],
            "gru__recurrent_dropout": [0.0, 0.2],
        },
    },
}
_CV_CLASSES = {
    "StratifiedKFold": StratifiedKFold,
    "RepeatedStratifiedKFold": RepeatedStratifiedKFold,
}

# Variants of round 1's pick: (label, parameters changed).
VARIANTS = [
    ("as tuned", {}),
    ("learning_rate_init=0.01", {"learning_rate_init": 0.01}),
    ("learning_rate_init=0.002, max_iter=400", {"learning_rate_init": 0.002, "max_iter": 400}),
    (
        "early_stopping (validation_fraction=0.2, n_iter_no_change=30), max_iter=400",
        {
            "early_stopping": True,
            "validation_fraction": 0.2,
            "n_iter_no_change": 30,
            "max_iter": 400,
        },
    ),
    ("dropout=0.2", {"dropout": 0.2}),
    ("recurrent_dropout=0.2", {"recurrent_dropout": 0.2}),
    ("kernel_constraint=MaxNorm(1.0)", {"kernel_constraint": MaxNorm(1.0)}),
    (
        "kernel_constraint=MaxNorm(0.5), recurrent_constraint=MaxNorm(1.0)",
        {"kernel_constraint": MaxNorm(0.5), "recurrent_constraint": MaxNorm(1.0)},
    ),
]
VARIANT_SEEDS = (0, 1, 2)
SPREAD_SEEDS = (0, 1, 2, 3, 4)


class _Clock:
    """Wall-clock and process CPU time of a block."""

    def __enter__(self):
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def _describe(value):
    if isinstance(value, dict):  # FunctionTransformer kw_args
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return "None" if value is None else repr(value)


def _short(params):
    parts = []
    for key, value in params.items():
        name = key.split("__", 1)[-1]
        parts.append(_describe(value) if name == "kw_args" else f"{name}={_describe(value)}")
    return ", ".join(parts)


def _cv_text(cv):
    name, kwargs = cv
    return f"{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def _pipeline(**gru_params):
    params = {**FIXED, "random_state": SEED, "device": "cpu", **gru_params}
    return Pipeline(
        [
            ("windows", FunctionTransformer(stack_windows)),
            ("gru", ConstrainedGRUClassifier(**params)),
        ]
    )


def _search(X, y, widths, grid, cv):
    full_grid = {"windows__kw_args": [{"width": w} for w in widths], **grid}
    name, kwargs = cv
    splitter = _CV_CLASSES[name](**kwargs)
    search = GridSearchCV(_pipeline(), full_grid, cv=splitter, n_jobs=1, error_score="raise")
    with _Clock() as clock, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    return search, clock, splitter.get_n_splits()


def _fit_score(params, X, y, X_test, y_test, seed):
    width = params["windows__kw_args"]["width"]
    gru = {k.removeprefix("gru__"): v for k, v in params.items() if k.startswith("gru__")}
    gru["random_state"] = seed
    model = _pipeline(**gru).set_params(windows__kw_args={"width": width})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    clf = model.named_steps["gru"]
    return float(model.score(X_test, y_test)), int(clf.n_iter_)


def _search_record(search, clock, n_splits, X_test, y_test):
    res = search.cv_results_
    return {
        "best_params": _short(search.best_params_),
        "best_cv_accuracy": float(search.best_score_),
        "test_accuracy": float(search.score(X_test, y_test)),
        "n_iter_refit": int(search.best_estimator_.named_steps["gru"].n_iter_),
        "n_candidates": len(res["params"]),
        "n_splits": n_splits,
        "n_fits": len(res["params"]) * n_splits + 1,
        "wall_s": clock.wall,
        "cpu_s": clock.cpu,
        "refit_wall_s": float(search.refit_time_),
        "candidates": [
            {
                "params": _short(p),
                "cv_mean": float(m),
                "cv_std": float(s),
                "rank": int(r),
                "fit_time_mean_s": float(t),
            }
            for p, m, s, r, t in zip(
                res["params"],
                res["mean_test_score"],
                res["std_test_score"],
                res["rank_test_score"],
                res["mean_fit_time"],
            )
        ],
    }


def _seed_spread(params, X, y, X_test, y_test, seeds):
    with _Clock() as c:
        runs = [_fit_score(params, X, y, X_test, y_test, s) for s in seeds]
    accs = [a for a, _ in runs]
    return {
        "seeds": list(seeds),
        "test_accuracy": accs,
        "mean": float(np.mean(accs)),
        "std": float(np.std(accs)),
        "n_iter": [n for _, n in runs],
        "wall_s": c.wall,
    }


def run_dataset(name, spec, quick, log):
    X, y = spec["loader"](split="train", return_X_y=True)
    X_test, y_test = spec["loader"](split="test", return_X_y=True)
    record = {
        "n_train": len(X),
        "n_test": len(X_test),
        "shape_train": list(X.shape),
        "baselines": spec["baselines"],
        "rounds": {},
    }
    spread_seeds = SPREAD_SEEDS[:2] if quick else SPREAD_SEEDS
    round1_search = None
    for (round_name, rnd), widths in zip(ROUNDS.items(), spec["widths"]):
        grid = {k: v[:1] for k, v in rnd["grid"].items()} if quick else rnd["grid"]
        widths = widths[-1:] if quick else widths
        cv = ("StratifiedKFold", {"n_splits": 2, "shuffle": True, "random_state": SEED})
        cv = cv if quick else rnd["cv"]
        log(f"{name}, {round_name}: search over widths {widths}, {_cv_text(cv)}")
        search, clock, n_splits = _search(X, y, widths, grid, cv)
        rec = _search_record(search, clock, n_splits, X_test, y_test)
        rec["widths"] = widths
        rec["cv"] = _cv_text(cv)
        rec["grid"] = {k: [_describe(v) for v in vs] for k, vs in grid.items()}
        log(f"  test {rec['test_accuracy']:.3f}  {rec['best_params']}")
        rec["seeds"] = _seed_spread(search.best_params_, X, y, X_test, y_test, spread_seeds)
        log(f"  seeds {spread_seeds}: {np.round(rec['seeds']['test_accuracy'], 3).tolist()}")
        record["rounds"][round_name] = rec
        if round1_search is None:
            round1_search = search

    res = round1_search.cv_results_
    plain = [i for i, p in enumerate(res["params"]) if p["windows__kw_args"]["width"] == 1]
    if plain:
        # The plain GRU (raw series) is the width-1 slice of round 1: its best
        # candidate there, refit on the whole training split.
        i_best = min(plain, key=lambda i: res["rank_test_score"][i])
        params = res["params"][i_best]
        acc, n_iter = _fit_score(params, X, y, X_test, y_test, SEED)
        record["plain"] = {
            "best_params": _short(params),
            "best_cv_accuracy": float(res["mean_test_score"][i_best]),
            "test_accuracy": acc,
            "n_iter_refit": n_iter,
        }
        log(f"  plain GRU (width 1): test {acc:.3f}  {_short(params)}")

    variants = []
    best = round1_search.best_params_
    for label, change in VARIANTS[:2] if quick else VARIANTS:
        params = {**best, **{f"gru__{k}": v for k, v in change.items()}}
        seeds = VARIANT_SEEDS[:1] if quick else VARIANT_SEEDS
        variants.append({"variant": label, **_seed_spread(params, X, y, X_test, y_test, seeds)})
        log(f"  variant {label}: {np.round(variants[-1]['test_accuracy'], 3).tolist()}")
    record["variants"] = variants
    return record


def _git_revision():
    """The checkout's commit, marked when tracked files have uncommitted changes."""
    try:
        run = [["git", "rev-parse", "--short", "HEAD"], ["git", "status", "--porcelain", "-uno"]]
        rev, status = (
            subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, check=True).stdout
            for cmd in run
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev.strip() + (" with uncommitted changes" if status.strip() else "")


def _environment():
    import numba

    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        load = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "scikit-learn": sklearn.__version__,
        "skgru": skgru.__version__,
        "git": _git_revision(),
        "loadavg_at_end": None if load is None else [round(x, 1) for x in load],
    }


def _fmt_baselines(baselines):
    return ", ".join(f"{k} {v:.3f}" for k, v in baselines.items())


def _seed_text(seeds):
    accs = ", ".join(f"{a:.3f}" for a in seeds["test_accuracy"])
    return f"{accs} (mean {seeds['mean']:.3f}, std {seeds['std']:.3f})"


def write_markdown(results, path):
    env = results["environment"]
    fixed = ", ".join(f"`{k}={v}`" for k, v in FIXED.items())
    lines = [
        "# GRU on GunPoint and ItalyPowerDemand vs published baselines",
        "",
        f"Command: `{results['command']}` (the protocol is in the docstring of "
        "`benchmarks/timeseries_grid.py`).",
        "",
        f"Total time: {results['total_wall_s']:.0f} s wall-clock, "
        f"{results['total_cpu_s']:.0f} s CPU, on {env['cpu_count']} logical CPUs "
        f"({env['processor']}, {env['platform']}), shared with other work: load average "
        f"(1, 5, 15 min) at the end {env['loadavg_at_end']}. Python {env['python']}, "
        f"numpy {env['numpy']}, numba {env['numba']}, scikit-learn {env['scikit-learn']}, "
        f"skgru {env['skgru']} (git {env.get('git')})."
        + (" **Quick mode: not representative.**" if results["quick"] else ""),
        "",
        "Protocol: `GridSearchCV` (accuracy, `n_jobs=1`) on the training split only, refit "
        "on the whole training split, scored once on the test split. Pipeline: "
        "`FunctionTransformer(stack_windows)` (`width` consecutive values per GRU step; "
        "width 1 = the raw series) then `ConstrainedGRUClassifier` with "
        f"{fixed}, `random_state={SEED}`, `device='cpu'`, float32. The UCR series are "
        "z-normalised in the archive; nothing else is scaled.",
        "",
        "- **Round 1** was designed before any test-split figure was seen.",
        "- **Round 2** was designed after round 1 and the variants below, which read the "
        "test split: it repeats the 3-fold CV 3 times (3 folds of 50-67 series pick "
        "noisily) and adds recurrent dropout and a max-norm that binds (the kernel's column "
        "norms stay below about 1.2 here, so `MaxNorm(3.0)` never acts). Its figure is "
        "therefore not an untouched hold-out estimate.",
        "",
        "Published baselines on the same split: 1-NN Euclidean distance (Bagnall et al. "
        "2017), MLP (Ismail Fawaz et al. 2019, mean of 10 runs).",
        "",
        "## Headline",
        "",
        "| dataset | round | test accuracy | same config, seeds 0-4 | best params | "
        "best CV accuracy | search time, wall / CPU | published baselines |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, rec in results["datasets"].items():
        for round_name, r in rec["rounds"].items():
            lines.append(
                f"| {name} | {round_name} | **{r['test_accuracy']:.3f}** | "
                f"{_seed_text(r['seeds'])} | {r['best_params']} | "
                f"{r['best_cv_accuracy']:.3f} | {r['wall_s']:.0f} s / {r['cpu_s']:.0f} s "
                f"({r['n_fits']} fits) | {_fmt_baselines(rec['baselines'])} |"
            )
    plain_rows = [
        f"- {name}: {rec['plain']['test_accuracy']:.3f} ({rec['plain']['best_params']}, "
        f"CV {rec['plain']['best_cv_accuracy']:.3f})"
        for name, rec in results["datasets"].items()
        if "plain" in rec
    ]
    if plain_rows:
        lines += [
            "",
            "Plain GRU on the raw series (width 1; its best candidate in round 1, refit):",
            "",
            *plain_rows,
        ]

    for name, rec in results["datasets"].items():
        lines += [
            "",
            f"## {name}",
            "",
            f"{rec['n_train']} training and {rec['n_test']} test series, training array "
            f"shape {tuple(rec['shape_train'])}.",
        ]
        for round_name, r in rec["rounds"].items():
            grid = " x ".join(
                f"`{k.removeprefix('gru__')}` in {{{', '.join(v)}}}" for k, v in r["grid"].items()
            )
            lines += [
                "",
                f"### {round_name}",
                "",
                f"CV: `{r['cv']}`. Grid: width in {{{', '.join(map(str, r['widths']))}}} x "
                f"{grid} ({r['n_candidates']} candidates). Best: {r['best_params']}; refit "
                f"{r['n_iter_refit']} epochs in {r['refit_wall_s']:.1f} s; test accuracy "
                f"{r['test_accuracy']:.3f}. Same configuration with seeds "
                f"{r['seeds']['seeds']}: {_seed_text(r['seeds'])}.",
                "",
                "| candidate | CV mean | CV std | rank | mean fit time (s) |",
                "| --- | --- | --- | --- | --- |",
            ]
            for c in r["candidates"]:
                lines.append(
                    f"| {c['params']} | {c['cv_mean']:.3f} | {c['cv_std']:.3f} | "
                    f"{c['rank']} | {c['fit_time_mean_s']:.1f} |"
                )
        lines += [
            "",
            "### Variants tried around round 1's pick",
            "",
            "Test accuracy per seed; exploration for the record, not a selection procedure.",
            "",
            "| variant | test accuracy per seed | mean | epochs |",
            "| --- | --- | --- | --- |",
        ]
        for v in rec["variants"]:
            lines.append(
                f"| {v['variant']} | {', '.join(f'{a:.3f}' for a in v['test_accuracy'])} | "
                f"{v['mean']:.3f} | {v['n_iter']} |"
            )
    lines.append("")
    path.write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="a tiny run to check the script (not figures)"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="results folder (default: %(default)s)"
    )
    args = parser.parse_args(argv)

    def log(line):
        print(line, flush=True)

    results = {
        "command": COMMAND + (" --quick" if args.quick else ""),
        "quick": args.quick,
        "fixed": FIXED,
        "seed": SEED,
        "datasets": {},
    }
    with _Clock() as total:
        for name, spec in DATASETS.items():
            results["datasets"][name] = run_dataset(name, spec, args.quick, log)
    results["total_wall_s"] = total.wall
    results["total_cpu_s"] = total.cpu
    results["environment"] = _environment()

    args.out.mkdir(parents=True, exist_ok=True)
    stem = "timeseries_grid_quick" if args.quick else "timeseries_grid"
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    write_markdown(results, args.out / f"{stem}.md")
    log(f"total {total.wall:.0f} s wall, {total.cpu:.0f} s CPU; wrote {args.out / stem}.md/.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
