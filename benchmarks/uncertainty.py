"""Calibration on real data: temperature scaling and Monte-Carlo dropout.

Usage::

    python benchmarks/uncertainty.py [--datasets GunPoint ...] [--seeds 3] [--mc-samples 30]
                                     [--quick]

For each of the seven bundled UCR/UEA problems, on its official train/test
split, with the recommended pipeline (:func:`skgru.make_sequence_classifier`,
its defaults):

* **base**: the pipeline fitted on the training split; its test probabilities;
* **temperature**: :class:`skgru.uncertainty.TemperatureScaledClassifier`
  around the same pipeline with 3-fold cross-fitting: the temperature is
  fitted on out-of-fold predictions inside the training split, then the
  pipeline is refitted on the whole training split (the same model as
  *base*, whose logits are divided by the temperature);
* **dropout** and **MC dropout**: the pipeline with ``dropout=0.2`` and
  ``recurrent_dropout=0.2`` (a fixed, conventional rate: nothing is tuned on
  the test split), its deterministic probabilities and the mean of
  ``--mc-samples`` passes of :func:`skgru.uncertainty.mc_dropout_predict`.

Every choice is made on training data; the test split is only scored:
accuracy, log-loss and the expected calibration error (15 equal-width bins
of the top-class confidence). Results: ``benchmarks/results/uncertainty.json``
and ``uncertainty.md`` (means over the seeds; each seed seeds the pipeline,
the cross-fitting folds and the dropout masks).
"""

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

# The seven bundled sets, in the accuracy benchmark's order (this folder is on
# sys.path when the script runs).
from accuracy import LOADERS
from sklearn.metrics import accuracy_score, log_loss

import skgru
from skgru import make_sequence_classifier
from skgru.uncertainty import (
    TemperatureScaledClassifier,
    expected_calibration_error,
    mc_dropout_predict,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def scores(y, proba, classes):
    return {
        "accuracy": float(accuracy_score(y, classes[np.argmax(proba, axis=1)])),
        "log_loss": float(log_loss(y, np.clip(proba, 1e-15, 1), labels=classes)),
        "ece": expected_calibration_error(y, proba, classes=classes),
    }


def run_dataset(name, seed, mc_samples, quick):
    tr, te = LOADERS[name](split="train"), LOADERS[name](split="test")
    X, y, Xt, yt = tr.data, tr.target, te.data, te.target
    extra = {"max_iter": 5} if quick else {}
    out = {}
    t0 = time.perf_counter()
    scaled = TemperatureScaledClassifier(
        make_sequence_classifier(random_state=seed, **extra), cv=3
    ).fit(X, y)
    base = scaled.estimator_
    classes = base.classes_
    out["base"] = scores(yt, base.predict_proba(Xt), classes)
    out["temperature"] = scores(yt, scaled.predict_proba(Xt), classes)
    out["temperature_value"] = scaled.temperature_
    out["fit_s_temperature"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    drop = make_sequence_classifier(
        random_state=seed, dropout=0.2, recurrent_dropout=0.2, **extra
    ).fit(X, y)
    out["dropout"] = scores(yt, drop.predict_proba(Xt), classes)
    features = drop[:-1].transform(Xt)
    mc = mc_dropout_predict(drop[-1], features, n_samples=mc_samples, random_state=seed)
    out["mc_dropout"] = scores(yt, mc.proba, classes)
    out["mc_mutual_information_mean"] = float(mc.mutual_information.mean())
    wrong = drop[-1].classes_[np.argmax(mc.proba, axis=1)] != yt
    out["mc_mutual_information_wrong_vs_right"] = [
        float(mc.mutual_information[wrong].mean()) if wrong.any() else None,
        float(mc.mutual_information[~wrong].mean()) if (~wrong).any() else None,
    ]
    out["fit_s_dropout"] = time.perf_counter() - t0
    return out


METRICS = [
    ("base", "accuracy"),
    ("base", "ece"),
    ("temperature", "ece"),
    ("base", "log_loss"),
    ("temperature", "log_loss"),
    ("dropout", "accuracy"),
    ("dropout", "ece"),
    ("mc_dropout", "ece"),
    ("dropout", "log_loss"),
    ("mc_dropout", "log_loss"),
]


def summary(runs):
    """Mean over seeds of each metric, the temperature and the MI of wrong / right."""
    out = {f"{k}.{f}": float(np.mean([r[k][f] for r in runs])) for k, f in METRICS}
    out["temperature_value"] = float(np.mean([r["temperature_value"] for r in runs]))
    for i, name in enumerate(("mi_wrong", "mi_right")):
        vals = [r["mc_mutual_information_wrong_vs_right"][i] for r in runs]
        vals = [v for v in vals if v is not None]
        out[name] = float(np.mean(vals)) if vals else None
    return out


def write_markdown(doc, path):
    lines = [
        "# Calibration on real data: temperature scaling and Monte-Carlo dropout",
        "",
        f"`{doc['command']}`, {doc['date']}, {doc['machine']}, skgru {doc['skgru']}, "
        f"seeds {doc['seeds']}, {doc['mc_samples']} MC passes, {doc['total_s']:.0f} s in all.",
        "",
        "Official train/test splits; the recommended pipeline with its defaults. The "
        "temperature is fitted on 3-fold out-of-fold predictions inside the training split; "
        "the dropout rate (0.2 on inputs and state) is fixed beforehand. Test split scored "
        "once per seed; means over the seeds. ECE: 15 equal-width bins of the top-class "
        "confidence. T: the fitted temperature (mean over seeds).",
        "",
        "| data set | accuracy | ECE base | ECE temperature | T | log-loss base | "
        "log-loss temperature | accuracy dropout | ECE dropout | ECE MC dropout | "
        "log-loss dropout | log-loss MC dropout | MI wrong / right |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = {}
    for name, runs in doc["datasets"].items():
        m = rows[name] = summary(runs)
        mi = " / ".join("-" if m[k] is None else f"{m[k]:.3f}" for k in ("mi_wrong", "mi_right"))
        cells = [f"{m[f'{k}.{f}']:.3f}" for k, f in METRICS]
        cells.insert(3, f"{m['temperature_value']:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {mi} |")
    if rows:
        means = [np.mean([r[f"{k}.{f}"] for r in rows.values()]) for k, f in METRICS]
        cells = [f"{v:.3f}" for v in means]
        cells.insert(3, "")
        lines.append("| mean | " + " | ".join(cells) + " | |")
        better_t = sum(r["temperature.ece"] < r["base.ece"] for r in rows.values())
        better_mc = sum(r["mc_dropout.ece"] < r["dropout.ece"] for r in rows.values())
        lines += [
            "",
            f"Temperature scaling lowers the test ECE on {better_t} of {len(rows)} data sets; "
            f"MC dropout lowers it (against the same dropout model's deterministic "
            f"probabilities) on {better_mc} of {len(rows)}.",
        ]
    lines += [
        "",
        "MI wrong / right: mean mutual information (BALD) of the MC passes on the test "
        "sequences the MC mean misclassifies / classifies correctly.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(LOADERS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--mc-samples", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="5 epochs: a smoke test")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    start = time.perf_counter()
    doc = {
        "command": "python benchmarks/uncertainty.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "skgru": skgru.__version__,
        "seeds": args.seeds,
        "mc_samples": args.mc_samples,
        "datasets": {},
    }
    for name in args.datasets:
        doc["datasets"][name] = []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            r = run_dataset(name, seed, args.mc_samples, args.quick)
            doc["datasets"][name].append(r)
            print(
                f"{name} seed {seed}: acc {r['base']['accuracy']:.3f}, ECE "
                f"{r['base']['ece']:.3f} -> {r['temperature']['ece']:.3f} "
                f"(T={r['temperature_value']:.2f}); dropout ECE {r['dropout']['ece']:.3f} -> "
                f"MC {r['mc_dropout']['ece']:.3f} ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    doc["total_s"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "uncertainty.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    write_markdown(doc, args.out / "uncertainty.md")
    return doc


if __name__ == "__main__":
    main()
