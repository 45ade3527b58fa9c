"""Exactness on real data: streaming against batch prediction, attributions against differences.

Usage::

    python benchmarks/exactness.py [--quick]

Streaming: for GunPoint, ItalyPowerDemand and BasicMotions (official splits),
a GRU is fitted on the training split for each architecture below, then every
test series is fed to :class:`skgru.GRUStream` one step per call (all test
series as a batch of streams); the probabilities after each step are compared
with ``predict_proba`` of the prefix up to that step: the number of
(series, step) pairs that are bitwise equal and the largest difference, and
the time of the whole stream against predicting every prefix afresh.

Attributions: on GunPoint, float64 and float32 models; :func:`skgru.inspection.saliency`
against central finite differences of ``predict_proba`` (``eps = 1e-6``
float64, ``1e-3`` float32) on test series, and the completeness gap of
:func:`skgru.inspection.integrated_gradients` (50 Gauss-Legendre nodes, zero
baseline) on the whole test split.

Results: ``benchmarks/results/exactness.json`` and ``exactness.md``.
"""

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import skgru
from skgru import ConstrainedGRUClassifier, GRUStream, datasets
from skgru.inspection import integrated_gradients, saliency

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

STREAM_SETS = {
    "GunPoint": datasets.load_gunpoint,
    "ItalyPowerDemand": datasets.load_italy_power_demand,
    "BasicMotions": datasets.load_basic_motions,
}
ARCHITECTURES = {
    "1 layer, last": {},
    "2 layers, mean": {"num_layers": 2, "pooling": "mean"},
    "2 layers, max, reset_after=False": {"num_layers": 2, "pooling": "max", "reset_after": False},
}


def fit(X, y, max_iter, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ConstrainedGRUClassifier(
            units=16, max_iter=max_iter, learning_rate_init=0.01, random_state=0, device="cpu",
            **params,
        ).fit(X, y)  # fmt: skip


def streaming(max_iter, n_test):
    out = {}
    for name, loader in STREAM_SETS.items():
        X, y = loader(split="train", return_X_y=True)
        Xt, _ = loader(split="test", return_X_y=True)
        Xt = np.asarray(Xt)[:n_test]
        T = Xt.shape[1]
        for arch, params in ARCHITECTURES.items():
            for dtype in ("float32", "float64"):
                clf = fit(X, y, max_iter, dtype=dtype, **params)
                stream = GRUStream(clf, n_streams=len(Xt))
                t0 = time.perf_counter()
                steps = [stream.predict_proba(Xt[:, t]) for t in range(T)]
                t_stream = time.perf_counter() - t0
                t0 = time.perf_counter()
                batch = [clf.predict_proba(Xt[:, : t + 1]) for t in range(T)]
                t_batch = time.perf_counter() - t0
                equal = sum(int((a == b).all(axis=1).sum()) for a, b in zip(steps, batch))
                diff = max(float(np.abs(a - b).max()) for a, b in zip(steps, batch))
                out[f"{name} | {arch} | {dtype}"] = {
                    "series": len(Xt),
                    "steps": T,
                    "pairs": len(Xt) * T,
                    "bitwise_equal": equal,
                    "max_abs_diff": diff,
                    "stream_s": t_stream,
                    "prefix_predict_s": t_batch,
                }
                r = out[f"{name} | {arch} | {dtype}"]
                print(
                    f"{name}, {arch}, {dtype}: {equal}/{r['pairs']} equal, max diff {diff:.1e}, "
                    f"stream {t_stream:.2f} s vs prefixes {t_batch:.2f} s",
                    flush=True,
                )
    return out


def attributions(max_iter, n_series, n_entries):
    X, y = datasets.load_gunpoint(split="train", return_X_y=True)
    Xt0, _ = datasets.load_gunpoint(split="test", return_X_y=True)
    rng = np.random.default_rng(0)
    out = {}
    for dtype, eps in (("float64", 1e-6), ("float32", 1e-3)):
        # The data come as float32: perturb them in the model's precision.
        Xt = Xt0.astype(dtype)
        # Relative errors only where the gradient stands clear of the differences'
        # rounding noise (about the output's ulp over eps).
        floor = 50 * np.finfo(dtype).eps / eps
        clf = fit(X, y, max_iter, dtype=dtype)
        result = saliency(clf, Xt[:n_series])
        errors, rel = [], []
        for i in range(n_series):
            col = int(np.searchsorted(clf.classes_, result.target[i]))
            for t in rng.choice(Xt.shape[1], size=n_entries, replace=False):
                plus, minus = Xt[i : i + 1].copy(), Xt[i : i + 1].copy()
                plus[0, t, 0] += eps
                minus[0, t, 0] -= eps
                p = clf.predict_proba(np.concatenate([plus, minus]))[:, col].astype(np.float64)
                fd = (p[0] - p[1]) / (2 * eps)
                a = float(result.attributions[i, t, 0])
                errors.append(abs(a - fd))
                if max(abs(a), abs(fd)) > floor:
                    rel.append(abs(a - fd) / max(abs(a), abs(fd)))
        ig = integrated_gradients(clf, Xt, n_steps=50)
        out[dtype] = {
            "saliency_entries": len(errors),
            "relative_error_floor": float(floor),
            "saliency_max_abs_error": float(max(errors)),
            "saliency_max_rel_error": float(max(rel)) if rel else 0.0,
            "saliency_median_rel_error": float(np.median(rel)) if rel else 0.0,
            "ig_series": len(Xt),
            "ig_max_abs_delta": float(np.abs(ig.delta).max()),
            "ig_median_abs_delta": float(np.median(np.abs(ig.delta))),
            "ig_mean_abs_output_change": float(np.abs(ig.outputs - ig.baseline_outputs).mean()),
        }
        print(dtype, out[dtype], flush=True)
    return out


def write_markdown(doc, path):
    lines = [
        "# Exactness on real data: streaming and attributions",
        "",
        f"`{doc['command']}`, {doc['date']}, {doc['machine']}, skgru {doc['skgru']}, "
        f"{doc['total_s']:.0f} s in all.",
        "",
        "## GRUStream against predict_proba of every prefix",
        "",
        "One call per step, all test series (or the first ones) as a batch of streams; each "
        "step's probabilities against `predict_proba(X[:, :t + 1])`. Units 16, fitted on the "
        "training split. Times: the whole stream, and predicting every prefix afresh.",
        "",
        "| data set | architecture | dtype | (series, step) pairs | bitwise equal | "
        "max abs difference | stream (s) | every prefix (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, r in doc["streaming"].items():
        name, arch, dtype = key.split(" | ")
        lines.append(
            f"| {name} | {arch} | {dtype} | {r['pairs']} | {r['bitwise_equal']} | "
            f"{r['max_abs_diff']:.1e} | {r['stream_s']:.2f} | {r['prefix_predict_s']:.2f} |"
        )
    lines += [
        "",
        "## Attributions on GunPoint",
        "",
        "Saliency (the gradient of the predicted class's probability) against central "
        "finite differences of `predict_proba` (inputs perturbed in the model's dtype; eps "
        "1e-6 for float64, 1e-3 for float32); relative errors over entries whose gradient "
        "exceeds the differences' rounding noise (50 ulp / eps: 1.1e-8 and 6.0e-3). "
        "Integrated gradients: 50 Gauss-Legendre nodes, zero baseline; delta is "
        "sum(attributions) - (output(X) - output(baseline)) per test series.",
        "",
        "| model dtype | entries | saliency max abs error | max rel error | median rel error | "
        "IG series | IG max abs delta | IG median abs delta | mean abs output change |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for dtype, r in doc["attributions"].items():
        lines.append(
            f"| {dtype} | {r['saliency_entries']} | {r['saliency_max_abs_error']:.1e} | "
            f"{r['saliency_max_rel_error']:.1e} | {r['saliency_median_rel_error']:.1e} | "
            f"{r['ig_series']} | {r['ig_max_abs_delta']:.1e} | {r['ig_median_abs_delta']:.1e} | "
            f"{r['ig_mean_abs_output_change']:.3f} |"
        )
    lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small fits and few series")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    max_iter = 3 if args.quick else 40
    doc = {
        "command": "python benchmarks/exactness.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "skgru": skgru.__version__,
        "streaming": streaming(max_iter, 8 if args.quick else 60),
        "attributions": attributions(max_iter, 2 if args.quick else 5, 5 if args.quick else 20),
    }
    doc["total_s"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "exactness.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    write_markdown(doc, args.out / "exactness.md")
    return doc


if __name__ == "__main__":
    main()
