"""A/B timing of the CPU kernels: an older commit's against the working tree's, in one process.

Usage::

    python benchmarks/ab_kernels.py REF [--workloads W1,W2,W3,W4] [--reps 11]

``REF`` is a git commit; its CPU kernels are extracted into a temporary
package and imported next to the working tree's kernels. For each workload
shape (float32, reset_after unless ``--reset-before``, no padding) the
one-thread ``gru_forward`` with stored gates (training), without (inference)
and ``gru_backward`` of both versions run alternately, ``--reps`` times each;
with ``--threads N`` also the inference recurrence split into N row ranges
run at once on skgru's worker threads (as ``predict`` with ``n_jobs=N``).
The table gives medians and old / new ratios, and whether both versions gave
the same bits. Kernel-level
changes of 10-20 % are invisible in whole-benchmark runs on a shared machine;
alternating calls in one process see them.
"""

import argparse
import importlib
import inspect
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHAPES = {  # B, T, F, U as in bench_cpu.py
    "W1": (32, 50, 16, 32),
    "W2": (64, 100, 32, 128),
    "W3": (128, 200, 64, 256),
    "W4": (64, 200, 64, 64),
}


def load_old(ref, tmp):
    """Import the CPU kernels of commit ``ref`` as a package of their own.

    Commits before the package layout kept them in ``skgru/_kernels/_cpu.py``;
    later ones in ``skgru/kernels/cpu/_gru.py`` (the CUDA kernels are left out).
    """
    pkg = Path(tmp) / "old_kernels"
    files = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", ref, "skgru/_kernels/", "skgru/kernels/"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    old_layout = any(name.startswith("skgru/_kernels/") for name in files)
    root = "skgru/_kernels/" if old_layout else "skgru/kernels/"
    for name in files:
        rel = Path(name[len(root) :]) if name.startswith(root) else None
        if rel is None or not name.endswith(".py") or "cuda" in rel.parts or "_cuda" in rel.name:
            continue
        if rel.name == "__init__.py":
            continue  # empty ones below: a package's imports reach outside the kernels
        text = subprocess.run(
            ["git", "show", f"{ref}:{name}"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_bytes(text)
    for folder in [pkg, *[p for p in pkg.rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").touch()
    sys.path.insert(0, tmp)
    return importlib.import_module("old_kernels._cpu" if old_layout else "old_kernels.cpu._gru")


def inputs(B, T, F, U):
    rng = np.random.default_rng(0)
    f32 = np.float32
    return {
        "X": rng.standard_normal((T, B, F)).astype(f32),
        "mask": np.ones((T, B), np.uint8),
        "W": (rng.standard_normal((F, 3 * U)) / np.sqrt(F)).astype(f32),
        "R": (rng.standard_normal((U, 3 * U)) / np.sqrt(U)).astype(f32),
        "b2": np.zeros((2, 3 * U), f32),
        "h0": np.zeros((B, U), f32),
        "rmask": np.zeros((0, U), f32),
    }


def _takes_projections(mod):
    # Older kernels' one-thread forward takes an A (T, B, 3U) argument: the
    # stored projections, unused once the projection moved into the recurrence.
    return "A" in inspect.signature(mod.gru_forward.py_func).parameters


def run(mod, d, B, T, F, U, reset_after=True, threads=1):
    f32 = np.float32
    H = np.empty((T + 1, B, U), f32)
    S = np.empty((T, B, 4 * U), f32)
    A = np.empty((T, B, 3 * U), f32)
    times = {}
    args = (d["X"], d["mask"], d["W"], d["R"], d["b2"], d["h0"], d["rmask"], reset_after)
    old = _takes_projections(mod)
    t0 = time.perf_counter()
    mod.gru_forward(*args, H, S, *([A] if old else []))
    times["train forward"] = time.perf_counter() - t0
    H2, A2 = np.empty_like(H), np.empty_like(A)
    t0 = time.perf_counter()
    mod.gru_forward(*args, H2, np.empty((0, B, 4 * U), f32), *([A2] if old else []))
    times["inference forward"] = time.perf_counter() - t0
    dW, dR = np.empty_like(d["W"]), np.empty_like(d["R"])
    db, dX, dM = np.empty((2, 3 * U), f32), np.empty((T, B, F), f32), np.empty_like(A)
    t0 = time.perf_counter()
    mod.gru_backward(
        d["X"], d["mask"], d["W"], d["R"], d["rmask"], reset_after, H, S,
        np.zeros((0, B, U), f32), np.full((B, U), 0.1, f32),
        dW, dR, db, dX, np.empty((B, U), f32), A, dM,
    )  # fmt: skip
    times["backward"] = time.perf_counter() - t0
    outs = [H, H2, dW, dR, db, dX]
    if threads > 1:
        from skgru.kernels._threads import run_tasks, split

        H3 = np.empty_like(H)
        table, ids = np.empty((0, 3 * U), f32), np.zeros((0, 0), np.int32)
        S3 = np.empty((0, B, 4 * U), f32)
        if hasattr(mod, "RECUR"):  # kernels with a separate projection phase
            part = args + (H3, S3, A2, table, ids, mod.RECUR)
        else:
            part = args + (H3, S3, table, ids)
        rows = split(B, threads)
        t0 = time.perf_counter()
        run_tasks(mod.gru_forward_part, [part + (r0, r1) for r0, r1 in zip(rows, rows[1:])])
        times[f"inference, {threads} threads"] = time.perf_counter() - t0
        outs.append(H3)
    return times, tuple(outs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ref")
    ap.add_argument("--workloads", default=",".join(SHAPES))
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument(
        "--rows",
        type=int,
        default=1,
        help="divide each batch by this (2: the rows one of two threads sees)",
    )
    ap.add_argument("--reset-before", action="store_true", help="reset_after=False kernels")
    ap.add_argument(
        "--threads", type=int, default=1, help="also time the inference split over N threads"
    )
    args = ap.parse_args()
    opts = {"reset_after": not args.reset_before, "threads": args.threads}
    from skgru.kernels._threads import blas_threads
    from skgru.kernels.cpu import _gru as new

    with tempfile.TemporaryDirectory() as tmp:
        old = load_old(args.ref, tmp)
        form = "reset_after=False" if args.reset_before else "reset_after=True"
        print(f"kernels of {args.ref} (old) vs the working tree (new), {form}, one thread")
        print("unless stated, medians of", end=" ")
        print(f"{args.reps} alternating calls, ms\n")
        print("| workload | part | old | new | old / new | same bits |")
        print("|---|---|---|---|---|---|")
        with blas_threads():
            for name in args.workloads.split(","):
                B, T, F, U = SHAPES[name]
                shape = (B // args.rows, T, F, U)
                d = inputs(*shape)
                _, a = run(old, d, *shape, **opts)
                _, b = run(new, d, *shape, **opts)
                same = all(np.array_equal(x, y) for x, y in zip(a, b))
                res = {"old": [], "new": []}
                for i in range(args.reps):
                    order = (("old", old), ("new", new))
                    for label, mod in order if i % 2 == 0 else order[::-1]:
                        res[label].append(run(mod, d, *shape, **opts)[0])
                for part in res["old"][0]:
                    o = np.median([r[part] for r in res["old"]]) * 1e3
                    n = np.median([r[part] for r in res["new"]]) * 1e3
                    print(f"| {name} | {part} | {o:.2f} | {n:.2f} | {o / n:.2f}x | {same} |")


if __name__ == "__main__":
    main()
