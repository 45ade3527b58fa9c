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
* **accuracy** (``timeseries_grid.py``): test accuracy of the tuned GRU
  against the published baselines of each data set;
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
        if isinstance(d, dict) and "baselines" in d and "tuned" in d
    }
    if not datasets:
        raise KeyError("no data set with baselines and a tuned result")
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.5), squeeze=False)
    for ax, (name, d) in zip(axes[0], datasets.items()):
        labels = [*d["baselines"], "skgru GRU (tuned)"]
        values = [*d["baselines"].values(), d["tuned"]["test_accuracy"]]
        colors = ["C7"] * len(d["baselines"]) + ["C2"]
        ax.barh(labels, values, color=colors)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
        ax.set_xlim(0.5, 1.05)
        ax.set_xlabel("test accuracy")
        ax.set_title(name)
    fig.suptitle(f"{stem}: GRU tuned by grid search vs published baselines", fontsize=10)
    fig.tight_layout()


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
