"""
==========================================
Benchmark figures
==========================================

The scripts in ``benchmarks/`` of the source tree time skgru against peers
(PyTorch's ``nn.GRU``, Keras) and commit their results as JSON files in
``benchmarks/results/``. This example draws every result file it finds there
that has the layout of ``benchmarks/bench_cpu.py`` (a ``summary`` of
throughput per framework, workload and mode, with median, min and max over
interleaved rounds). When there are no results (for example in an installed
package, which ships without ``benchmarks/``), it says so and draws nothing.

Set ``SKGRU_BENCH_RESULTS`` to read another folder.
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
    """The readable throughput result files in ``folder``, by file name."""
    found = {}
    if folder is None:
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
            summary = data["summary"]
            workloads = data["workloads"]
        except (OSError, ValueError, KeyError, TypeError):
            print(f"skipping {path.name}: not a throughput result file")
            continue
        found[path.stem] = (data, summary, workloads)
    return found


folder = results_dir()
results = load_results(folder)
print(f"results folder: {folder}; {len(results)} result file(s)")

# %%
# Throughput per workload
# -----------------------
# One figure per result file: training throughput (forward, backward and an
# optimizer step) and inference throughput in sequences per second, as the
# median over rounds with the min-max range as error bars. Higher is better;
# the y axis is logarithmic.


def plot_result(stem, data, summary, workloads):
    frameworks = list(summary)
    names = list(workloads)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(len(frameworks), 1)
    for ax, mode in zip(axes, ("train", "infer")):
        for i, framework in enumerate(frameworks):
            stats = [(summary[framework].get(n) or {}).get(mode) or {} for n in names]
            med = np.array([s.get("median", np.nan) for s in stats], dtype=float)
            lo = np.array([s.get("min", np.nan) for s in stats], dtype=float)
            hi = np.array([s.get("max", np.nan) for s in stats], dtype=float)
            x = np.arange(len(names)) + i * width
            ax.bar(x, med, width, label=framework)
            ax.errorbar(x, med, yerr=[med - lo, hi - med], fmt="none", ecolor="k", capsize=2)
        ax.set_xticks(
            np.arange(len(names)) + width * (len(frameworks) - 1) / 2,
            [workloads[n].get("label", n) if isinstance(workloads[n], dict) else n for n in names],
            fontsize=7,
            rotation=15,
        )
        ax.set_yscale("log")
        ax.set_ylabel("sequences / s")
        ax.set_title(f"{stem}: {mode} throughput")
        ax.legend(fontsize=8)
    machine = data.get("machine", {})
    if machine:
        fig.suptitle(
            f"{machine.get('platform', '')} {machine.get('cpus', '?')} CPUs, "
            f"{machine.get('threads', '?')} threads",
            fontsize=9,
        )
    fig.tight_layout()


for stem, (data, summary, workloads) in results.items():
    try:
        plot_result(stem, data, summary, workloads)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        print(f"skipping {stem}: unexpected layout ({exc!r})")
        plt.close(plt.gcf())

if not results:
    print("No benchmark results found: run `python benchmarks/bench_cpu.py --quick` first.")

plt.show()
