"""A smoke run of ``benchmarks/accuracy.py`` (skgru's part only: the peers need aeon)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_run_writes_a_report(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "accuracy.py"),
        "--quick",
        "--parts",
        "skgru",
        "--no-text",
        "--datasets",
        "ItalyPowerDemand",
        "--n-jobs",
        "1",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "accuracy_quick.json").read_text())
    runs = report["results"]["ItalyPowerDemand"]
    tuned, default = runs["skgru (tuned)"], runs["skgru (defaults)"]
    assert len(tuned["acc"]) == len(default["acc"]) == 1
    assert 0.0 <= tuned["acc"][0] <= 1.0 and 0.0 <= default["acc"][0] <= 1.0
    # The tuned pick is a candidate of the documented grid, chosen on training folds.
    from skgru import sequence_param_grid

    grid = sequence_param_grid()
    assert all(tuned["best_params"][0][k] in v for k, v in grid.items())
    assert len(default["loss_curves"][0]) == 5  # --quick: 5 epochs
    assert (tmp_path / "accuracy_quick.md").read_text().startswith("# Test accuracy")
