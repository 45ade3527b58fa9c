"""Calibration on real data: temperature scaling and Monte-Carlo dropout.

Usage::

    python benchmarks/uncertainty.py [--datasets GunPoint ...] [--seed 0] [--mc-samples 30]
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
and ``uncertainty.md``.
"""

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, log_loss

import skgru
from skgru import datasets, make_sequence_classifier
from skgru.uncertainty import (
    TemperatureScaledClassifier,
    expected_calibration_error,
    mc_dropout_predict,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

LOADERS = {
    "GunPoint": datasets.load_gunpoint,
    "ItalyPowerDemand": datasets.load_italy_power_demand,
    "BasicMotions": datasets.load_basic_motions,
    "PickupGestureWiimoteZ": datasets.load_pickup_gesture_wiimote_z,
    "ArrowHead": datasets.load_arrowhead,
    "OSULeaf": datasets.load_osuleaf,
    "ACSF1": datasets.load_acsf1,
}


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


def write_markdown(doc, path):
    lines = [
        "# Calibration on real data: temperature scaling and Monte-Carlo dropout",
        "",
        f"`{doc['command']}`, {doc['date']}, {doc['machine']}, skgru {doc['skgru']}, "
        f"seed {doc['seed']}, {doc['mc_samples']} MC passes, {doc['total_s']:.0f} s in all.",
        "",
        "Official train/test splits; the recommended pipeline with its defaults. The "
        "temperature is fitted on 3-fold out-of-fold predictions inside the training split; "
        "the dropout rate (0.2 on inputs and state) is fixed beforehand. Test split scored "
        "once. ECE: 15 equal-width bins of the top-class confidence.",
        "",
        "| data set | accuracy | ECE base | ECE temperature (T) | log-loss base | "
        "log-loss temperature | accuracy dropout | ECE dropout | ECE MC dropout | "
        "log-loss dropout | log-loss MC dropout | MI wrong / right |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in doc["datasets"].items():
        mi = r["mc_mutual_information_wrong_vs_right"]
        mi_txt = " / ".join("-" if v is None else f"{v:.3f}" for v in mi)
        lines.append(
            f"| {name} | {r['base']['accuracy']:.3f} | {r['base']['ece']:.3f} | "
            f"{r['temperature']['ece']:.3f} ({r['temperature_value']:.2f}) | "
            f"{r['base']['log_loss']:.3f} | {r['temperature']['log_loss']:.3f} | "
            f"{r['dropout']['accuracy']:.3f} | {r['dropout']['ece']:.3f} | "
            f"{r['mc_dropout']['ece']:.3f} | {r['dropout']['log_loss']:.3f} | "
            f"{r['mc_dropout']['log_loss']:.3f} | {mi_txt} |"
        )
    names = list(doc["datasets"])
    if names:

        def mean(key, field):
            return np.mean([doc["datasets"][n][key][field] for n in names])

        lines += [
            f"| mean | {mean('base', 'accuracy'):.3f} | {mean('base', 'ece'):.3f} | "
            f"{mean('temperature', 'ece'):.3f} | {mean('base', 'log_loss'):.3f} | "
            f"{mean('temperature', 'log_loss'):.3f} | {mean('dropout', 'accuracy'):.3f} | "
            f"{mean('dropout', 'ece'):.3f} | {mean('mc_dropout', 'ece'):.3f} | "
            f"{mean('dropout', 'log_loss'):.3f} | {mean('mc_dropout', 'log_loss'):.3f} | |",
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
    parser.add_argument("--seed", type=int, default=0)
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
        "seed": args.seed,
        "mc_samples": args.mc_samples,
        "datasets": {},
    }
    for name in args.datasets:
        t0 = time.perf_counter()
        doc["datasets"][name] = run_dataset(name, args.seed, args.mc_samples, args.quick)
        r = doc["datasets"][name]
        print(
            f"{name}: acc {r['base']['accuracy']:.3f}, ECE {r['base']['ece']:.3f} -> "
            f"{r['temperature']['ece']:.3f} (T={r['temperature_value']:.2f}); dropout ECE "
            f"{r['dropout']['ece']:.3f} -> MC {r['mc_dropout']['ece']:.3f} "
            f"({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    doc["total_s"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "uncertainty.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    write_markdown(doc, args.out / "uncertainty.md")
    return doc


if __name__ == "__main__":
    main()
