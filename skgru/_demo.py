"""``python -m skgru demo``: a small grid search on a bundled dataset.

The demo is the one place in the package that prints: it is a command-line
program. Everything it does is ordinary scikit-learn (a
:class:`~sklearn.pipeline.Pipeline` tuned by
:class:`~sklearn.model_selection.GridSearchCV` on the training split, scored
once on the test split), so its code doubles as an example.
"""

import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from ._recipes import make_sequence_classifier, sequence_param_grid
from .datasets import load_basic_motions, load_gunpoint, load_italy_power_demand, load_osuleaf
from .preprocessing import stack_windows

__all__ = ["DATASETS", "resolve_device", "run_demo", "stack_windows"]


@dataclass(frozen=True)
class _DemoDataset:
    """What the demo needs to know about one bundled dataset."""

    title: str
    loader: object
    # Published test accuracies on the same train/test split: (method, accuracy, source).
    baselines: tuple = ()
    # Said instead of figures where no single published figure applies.
    baseline_note: str = ""


_BAKEOFF = "Bagnall et al. 2017"
_FAWAZ = "Fawaz et al. 2019, mean of 10 runs"
_UCR2018 = "UCR archive 2018"

DATASETS = {
    "gunpoint": _DemoDataset(
        title="GunPoint (UCR archive): hand position over 150 frames, gun drawn or not",
        loader=load_gunpoint,
        baselines=(("1-NN Euclidean", 0.913, _BAKEOFF), ("MLP", 0.927, _FAWAZ)),
    ),
    "italy_power_demand": _DemoDataset(
        title="ItalyPowerDemand (UCR archive): 24 hourly demands of a day, winter or summer",
        loader=load_italy_power_demand,
        baselines=(("1-NN Euclidean", 0.955, _BAKEOFF), ("MLP", 0.946, _FAWAZ)),
    ),
    "basic_motions": _DemoDataset(
        title="BasicMotions (UEA archive): 6-axis smartwatch motion, 4 activities",
        loader=load_basic_motions,
        baseline_note="most published methods reach about 1.0 (Bagnall et al. 2018)",
    ),
    "osuleaf": _DemoDataset(
        title="OSULeaf (UCR archive): leaf outlines as 427-step series, 6 species",
        loader=load_osuleaf,
        baselines=(("1-NN Euclidean", 0.521, _UCR2018), ("1-NN DTW", 0.591, _UCR2018)),
    ),
}

# The recommended pipeline and its grid (skgru.make_sequence_classifier,
# skgru.sequence_param_grid; chosen by cross-validation on training splits,
# see benchmarks/accuracy.py).
_FIXED = {}
_CV = 3
# --quick: fewer epochs and folds and one grid axis; for smoke tests, not for figures.
_QUICK_GRID = {"scale__mode": ["sequence", "channel"]}
_QUICK_FIXED = {"max_iter": 10}
_QUICK_CV = 2


def resolve_device(device):
    """The backend ``device`` will train on: ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        If ``device="cuda"`` and numba sees no CUDA GPU, or ``device`` is unknown.
    """
    from .engine._devices import cuda_available

    if device == "cpu":
        return "cpu"
    if device not in ("auto", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}.")
    if cuda_available():
        return "cuda"
    if device == "cuda":
        raise ValueError(
            "device='cuda' was requested but numba sees no CUDA GPU "
            "(install the extra with `pip install skgru[cuda]` and check the driver)."
        )
    return "cpu"


def _format_value(value):
    return "None" if value is None else repr(value)


def _short_params(params):
    return ", ".join(f"{k.removeprefix('gru__')}={_format_value(v)}" for k, v in params.items())


def _save_loss_curve(estimator, path, title):
    """Draw the loss curve of ``estimator`` to ``path``; False without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False

    from ._plotting import LossCurveDisplay

    # A bare Figure (not pyplot's) needs no GUI backend and is freed with it.
    figure = Figure(figsize=(7, 4))
    ax = figure.subplots()
    LossCurveDisplay.from_estimator(estimator, ax=ax, name="best model")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return True


def run_demo(
    dataset="gunpoint",
    *,
    device="auto",
    quick=False,
    out=".",
    random_state=0,
    plot=True,
    file=None,
):
    """Tune a GRU by grid search on a bundled dataset and report test accuracy.

    Parameters
    ----------
    dataset : {"gunpoint", "italy_power_demand", "basic_motions", "osuleaf"}, default="gunpoint"
        Bundled dataset (standard train/test split).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Passed to :class:`~skgru.ConstrainedGRUClassifier`.
    quick : bool, default=False
        A much smaller search (for smoke tests; accuracy is not representative).
    out : str or path-like, default="."
        Folder for the loss-curve PNG (created if missing).
    random_state : int, default=0
        Seed of the classifier and of the fold shuffling.
    plot : bool, default=True
        Save the PNG when matplotlib is importable.
    file : file-like or None, default=None
        Where to print; ``None`` means ``sys.stdout``.

    Returns
    -------
    dict
        The figures printed: ``test_accuracy``, ``best_params``,
        ``cv_results`` (mean and std of the fold accuracies per candidate),
        ``fit_time_s``, ``refit_time_s``, ``n_fits``, ``baselines``,
        ``plot_path`` (None when no plot was written).
    """
    file = sys.stdout if file is None else file

    def say(line=""):
        print(line, file=file, flush=True)

    spec = DATASETS[dataset]
    backend = resolve_device(device)
    X_train, y_train = spec.loader(split="train", return_X_y=True)
    X_test, y_test = spec.loader(split="test", return_X_y=True)
    if quick:
        grid, fixed, n_folds = _QUICK_GRID, _QUICK_FIXED, _QUICK_CV
    else:
        grid, fixed, n_folds = sequence_param_grid(), _FIXED, _CV

    say(f"skgru demo: {spec.title}")
    n_classes = len(np.unique(y_train))
    say(
        f"  {len(X_train)} training and {len(X_test)} test series, "
        f"{X_train.shape[1]} steps x {X_train.shape[2]} channel(s), {n_classes} classes"
    )
    say(
        "  pipeline: SequenceScaler -> DilatedConvolutions -> ConstrainedGRUClassifier "
        "(skgru.make_sequence_classifier)"
    )

    model = make_sequence_classifier(random_state=random_state, device=device, **fixed)
    cv = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=random_state)
    search = GridSearchCV(model, grid, cv=cv, n_jobs=1, error_score="raise")
    n_candidates = int(np.prod([len(v) for v in grid.values()]))
    n_fits = n_candidates * n_folds + 1

    say()
    say(
        f"Grid search on the training split: {n_candidates} candidates x {n_folds} folds "
        f"+ 1 refit = {n_fits} fits (n_jobs=1, device={device!r}: {backend})"
    )
    for name, values in grid.items():
        say(f"  {name.removeprefix('gru__')}: {', '.join(map(_format_value, values))}")
    if fixed:
        say("  fixed: " + ", ".join(f"{k}={v}" for k, v in fixed.items()))
    if quick:
        say("  (--quick: a smoke test; the accuracy below is not representative)")

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        search.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    n_unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    results = search.cv_results_
    say()
    say("Cross-validated accuracy (training split):")
    for params, mean, std, rank in zip(
        results["params"],
        results["mean_test_score"],
        results["std_test_score"],
        results["rank_test_score"],
    ):
        say(f"  {mean:.3f} +/- {std:.3f}  rank {rank}  {_short_params(params)}")
    say(f"Best parameters: {_short_params(search.best_params_)}")
    say(
        f"Training time: {fit_time:.1f} s for all {n_fits} fits "
        f"(refit of the best model: {search.refit_time_:.1f} s)"
    )
    if n_unconverged:
        max_iter = search.best_estimator_.named_steps["gru"].max_iter
        say(
            f"  {n_unconverged} of {n_fits} fits stopped at max_iter={max_iter} "
            "before the loss settled"
        )

    accuracy = float(search.score(X_test, y_test))
    say()
    say(f"Test accuracy: {accuracy:.3f} on {len(X_test)} test series")
    if spec.baselines:
        say("Published test accuracies on the same split:")
        for method, value, source in spec.baselines:
            say(f"  {method:<15} {value:.3f}  ({source})")
        best_method, best_value, _ = max(spec.baselines, key=lambda b: b[1])
        say(
            f"  {'this GRU':<15} {accuracy:.3f}  "
            f"({accuracy - best_value:+.3f} against the best of them, {best_method})"
        )
    else:
        say(f"Published test accuracies: {spec.baseline_note}")

    plot_path = None
    if plot:
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = (out_dir / f"skgru_demo_{dataset}_loss.png").resolve()
        best = search.best_estimator_.named_steps["gru"]
        title = f"{dataset}: training loss of the best model ({_short_params(search.best_params_)})"
        if _save_loss_curve(best, path, title):
            plot_path = str(path)
            say(f"Loss curve saved to {os.fspath(path)}")
        else:
            say("Loss curve not plotted: matplotlib is not installed (pip install matplotlib).")

    return {
        "dataset": dataset,
        "test_accuracy": accuracy,
        "best_params": {k.removeprefix("gru__"): v for k, v in search.best_params_.items()},
        "cv_results": [
            (_short_params(p), float(m), float(s))
            for p, m, s in zip(
                results["params"], results["mean_test_score"], results["std_test_score"]
            )
        ],
        "fit_time_s": fit_time,
        "refit_time_s": float(search.refit_time_),
        "n_fits": n_fits,
        "baselines": {method: value for method, value, _ in spec.baselines},
        "plot_path": plot_path,
    }
