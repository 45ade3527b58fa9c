"""A/B timing of the thread hand-off: ``concurrent.futures`` against ``run_tasks``.

Usage::

    python benchmarks/ab_handoff.py [--workloads W1,W2] [--rounds 16]

Until the sixth session ``skgru._kernels._config.run_tasks`` handed its
pieces to a ``ThreadPoolExecutor`` (a future per piece, waited on with
``result()``); it now puts them on a queue served by daemon threads and waits
on one lock per piece (benchmarks/NOTES.md, "A lighter thread hand-off"). This script keeps the
old hand-off as the baseline and swaps it into ``skgru.kernels.cpu._kernel_set`` in
alternating rounds within one process, timing a training step (the
``bench_cpu.py`` step function, 2 threads) and ``predict_proba`` of a fitted
estimator on each workload, and a hand-off of two no-op pieces. The results
are bitwise the same (the pieces run the same kernels on the same rows).
Ratios are old / new per round: above 1 means the new hand-off is faster.
Writes ``results/ab_handoff.md``.
"""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

_OLD_POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="old-handoff")


def old_run_tasks(func, args_list):
    """The hand-off as it was (5e8a653..3de6d04): one future per extra piece."""
    if len(args_list) == 1:
        func(*args_list[0])
        return
    futures = [_OLD_POOL.submit(func, *args) for args in args_list[1:]]
    error = None
    try:
        func(*args_list[0])
    except BaseException as exc:
        error = exc
    for f in futures:
        try:
            f.result()
        except BaseException as exc:
            if error is None:
                error = exc
    if error is not None:
        raise error


def _median_us(f, n):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default="W1,W2")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=0.3, help="per sample")
    args = parser.parse_args()

    from bench_cpu import WORKLOADS, build_skgru, build_skgru_step

    import skgru.kernels.cpu._kernel_set as stack
    from skgru.kernels._threads import run_tasks as new_run_tasks

    def noop():
        pass

    cases = {"hand-off of 2 no-op pieces": lambda: stack.run_tasks(noop, [(), ()])}
    for name in args.workloads.split(","):
        cases[f"{name} training step"] = build_skgru_step(WORKLOADS[name])[0]
        cases[f"{name} predict_proba"] = build_skgru(WORKLOADS[name], "infer")[0]

    # Calls per sample from a first timing, so each sample lasts ~--seconds.
    counts = {}
    for label, f in cases.items():
        f()
        counts[label] = max(3, int(args.seconds / (_median_us(f, 3) * 1e-6)))

    samples = {label: {"old": [], "new": []} for label in cases}
    for _ in range(args.rounds):
        for label, f in cases.items():
            for tag, impl in (("old", old_run_tasks), ("new", new_run_tasks)):
                stack.run_tasks = impl
                samples[label][tag].append(_median_us(f, counts[label]))
    stack.run_tasks = new_run_tasks

    lines = [
        "# Thread hand-off A/B: ThreadPoolExecutor (old) vs run_tasks' queue (new)",
        "",
        f"Command: `python benchmarks/ab_handoff.py --workloads {args.workloads} "
        f"--rounds {args.rounds}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M:%S')}; {args.rounds} alternating rounds in one "
        "process, 2 threads; medians of per-call times (us), ratio old / new per round, "
        "median [min-max].",
        "",
        "| case | old (us) | new (us) | old / new |",
        "|---|---|---|---|",
    ]
    out = {}
    for label in cases:
        old = np.array(samples[label]["old"])
        new = np.array(samples[label]["new"])
        r = old / new
        out[label] = {"old_us": old.tolist(), "new_us": new.tolist()}
        lines.append(
            f"| {label} | {np.median(old):,.0f} | {np.median(new):,.0f} | "
            f"{np.median(r):.2f}x [{r.min():.2f}-{r.max():.2f}] |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    results = HERE / "results"
    (results / "ab_handoff.md").write_text(text)
    (results / "ab_handoff.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
