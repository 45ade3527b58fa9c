"""
==========================================
Benchmark figures
==========================================

The scripts in ``benchmarks/`` of the source tree measure skgru and commit
their results as JSON files in ``benchmarks/results/``. This example draws
the result files it finds there, by their layout:

* **throughput** (``bench_cpu.py``): sequences per second for training and
  inference, per framework and workload, median and range over interleaved
  rounds;
* **accuracy on real data** (``accuracy.py``): test accuracy of the
  recommended pipelines, with their defaults and tuned, against 1-NN
  Euclidean, 1-NN DTW and MiniRocket on the bundled time-series sets and
  against TF-IDF linear models on 20 Newsgroups, mean and standard
  deviation over seeds, with the learning curves of the text runs;
* **grid search** (``timeseries_grid.py``): test accuracy of the GRU tuned
  by a plain grid search against the published baselines of each data set;
* **scale-out** (``bench_scaleout.py``): wall time of one grid search run
  serially and in parallel.

Files of another layout are skipped. When there are no results (for example
in an installed package, which ships without ``benchmarks/``), the example
says so and draws nothing. Set ``SKGRU_BENCH_RESULTS`` to read another folder.

The figures show whatever machine produced the files (its description is in
each file); timings from a shared, loaded machine vary a lot between rounds,
which is why the ranges are drawn.
"""

import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np


def results_dir():
    if os.environ.get("SKGRU_BENCH_RESULTS"):
        return Path(os.environ["SKGRU_BENCH_RESULTS"])
    try:
        here = Path(__file__).resolve().parent  # docs/examples
    except NameError:  # run interactively
        here = Path.cwd()
    for parent in [here, *here.parents]:
        if (parent / "benchmarks" / "results").is_dir():
            return parent / "benchmarks" / "results"
    return None


def load_results(folder):
    """Every JSON object in ``folder``, by file name."""
    found = {}
    if folder is None:
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            print(f"skipping {path.name}: not readable JSON")
            continue
        if isinstance(data, dict):
            found[path.stem] = data
    return found


def _stats(d):
    d = d or {}
    return [float(d.get(k, np.nan)) for k in ("median", "min", "max")]


def plot_throughput(stem, data):
    summary, workloads = data["summary"], data["workloads"]
    frameworks = list(summary)
    names = list(workloads)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(len(frameworks), 1)
    for ax, mode in zip(axes, ("train", "infer")):
        for i, framework in enumerate(frameworks):
            stats = np.array([_stats((summary[framework].get(n) or {}).get(mode)) for n in names])
            med, lo, hi = stats.T
            x = np.arange(len(names)) + i * width
            ax.bar(x, med, width, label=framework)
            ax.errorbar(x, med, yerr=[med - lo, hi - med], fmt="none", ecolor="k", capsize=2)
        labels = [w.get("label", n) if isinstance(w, dict) else n for n, w in workloads.items()]
        ax.set_xticks(
            np.arange(len(names)) + width * (len(frameworks) - 1) / 2,
            labels,
            fontsize=7,
            rotation=15,
        )
        ax.set_yscale("log")
        ax.set_ylabel("sequences / s")
        ax.set_title(f"{stem}: {mode} throughput")
        ax.legend(fontsize=8)
    fig.tight_layout()


def plot_accuracy(stem, data):
    datasets = {
        name: d
        for name, d in data["datasets"].items()
        if isinstance(d, dict) and "baselines" in d and "plain" in d
    }
    if not datasets:
        raise KeyError("no data set with baselines and a plain grid search result")
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.5), squeeze=False)
    for ax, (name, d) in zip(axes[0], datasets.items()):
        labels = [*d["baselines"], "skgru GRU (grid search)"]
        values = [*d["baselines"].values(), d["plain"]["test_accuracy"]]
        colors = ["C7"] * len(d["baselines"]) + ["C2"]
        ax.barh(labels, values, color=colors)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
        ax.set_xlim(0.5, 1.05)
        ax.set_xlabel("test accuracy")
        ax.set_title(name)
    fig.suptitle(f"{stem}: GRU tuned by grid search vs published baselines", fontsize=10)
    fig.tight_layout()


ORDER = [
    "1-NN Euclidean",
    "1-NN DTW",
    "MiniRocket",
    "TF-IDF + LinearSVC",
    "TF-IDF + LogisticRegression",
    "skgru (defaults)",
    "skgru (tuned)",
]
PEER_COLORS = {
    "1-NN Euclidean": "C7",
    "1-NN DTW": "C8",
    "MiniRocket": "C0",
    "TF-IDF + LinearSVC": "C7",
    "TF-IDF + LogisticRegression": "C8",
}


def _methods(results):
    found = {m for r in results.values() for m in r}
    return [m for m in ORDER if m in found] + sorted(found - set(ORDER))


def _color(method):
    return PEER_COLORS.get(method, "C2" if method == "skgru (tuned)" else "C3")


def plot_real_data(stem, data):
    results, meta = data["results"], data.get("meta", {})
    if not results:
        raise KeyError("no data set in the results")
    text = {k: v for k, v in results.items() if k == "20 Newsgroups"}
    series = {k: v for k, v in results.items() if k not in text}
    machine = meta.get("machine", "machine unknown")
    if series:
        methods, names = _methods(series), list(series)
        width = 0.8 / len(methods)
        fig, ax = plt.subplots(figsize=(max(8, 1.4 * len(names)), 4.5))
        for j, method in enumerate(methods):
            cells = [
                (i, series[n][method]["summary"])
                for i, n in enumerate(names)
                if method in series[n]
            ]
            xs = [i + (j - (len(methods) - 1) / 2) * width for i, _ in cells]
            ax.bar(
                xs,
                [c["mean"] for _, c in cells],
                width,
                yerr=[c["std"] for _, c in cells],
                capsize=2,
                label=method,
                color=_color(method),
            )
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
        ax.set_ylim(0.0, 1.22)
        ax.set_yticks(np.linspace(0.0, 1.0, 6))
        ax.set_ylabel("test accuracy")
        ax.legend(ncol=len(methods), fontsize=8, loc="upper center")
        ax.set_title(f"{stem}: official test splits, mean ± sd over seeds ({machine})", fontsize=9)
        fig.tight_layout()
    for name, runs in text.items():
        methods = _methods(text)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.5))
        means = [runs[m]["summary"]["mean"] for m in methods]
        ax1.barh(
            methods,
            means,
            xerr=[runs[m]["summary"]["std"] for m in methods],
            color=[_color(m) for m in methods],
            capsize=3,
        )
        for i, v in enumerate(means):
            ax1.text(v, i, f"  {v:.3f}", va="center", fontsize=8)
        ax1.set_xlim(0.0, 1.1)
        ax1.invert_yaxis()
        ax1.set_xlabel("test accuracy")
        ax1.set_title(f"{name} ({machine})", fontsize=9)
        # Early stopping's held-out 10% is a random part of the training split,
        # while the test split holds later posts: no estimate of test accuracy.
        curves = runs.get("skgru (defaults)", {}).get("validation_curves") or []
        for k, curve in enumerate(curves):
            ax2.plot(np.arange(1, len(curve) + 1), curve, marker="o", label=f"seed {k}")
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("validation accuracy")
        ax2.set_title("make_text_classifier defaults: early stopping's held-out 10%", fontsize=9)
        if curves:
            ax2.legend(fontsize=8)
        fig.tight_layout()
    for name, runs in results.items():
        cells = "  ".join(f"{m}: {r['summary']['mean']:.3f}" for m, r in runs.items())
        print(f"{name}: {cells}")


def plot_scaleout(stem, data):
    seconds = data["seconds"]
    modes = list(seconds)
    stats = np.array([_stats(seconds[m]) for m in modes])
    med, lo, hi = stats.T
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(modes, med, color="C0")
    ax.errorbar(modes, med, yerr=[med - lo, hi - med], fmt="none", ecolor="k", capsize=3)
    ax.set_ylabel("wall time of one search (s)")
    machine = data.get("machine", {})
    ax.set_title(f"{stem}: {machine.get('cpu_count', '?')} CPUs", fontsize=10)
    fig.tight_layout()


PLOTTERS = [
    (("summary", "workloads"), plot_throughput),
    (("meta", "results"), plot_real_data),
    (("datasets",), plot_accuracy),
    (("seconds",), plot_scaleout),
]

folder = results_dir()
results = load_results(folder)
print(f"results folder: {folder}; {len(results)} JSON file(s)")

# %%
# The figures
# -----------

drawn = 0
for stem, data in results.items():
    for keys, plotter in PLOTTERS:
        if all(k in data for k in keys):
            try:
                plotter(stem, data)
                drawn += 1
                print(f"{stem}: drawn ({plotter.__name__})")
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                print(f"{stem}: skipped, unexpected layout ({exc!r})")
                plt.close(plt.gcf())
            break
    else:
        print(f"{stem}: skipped, not a layout this example knows")

if not drawn:
    print("No benchmark figures: run the scripts in benchmarks/ first.")

plt.show()
