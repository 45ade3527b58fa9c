"""The command line: ``python -m skgru`` and its ``demo``."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from skgru._demo import stack_windows


def _run(*args, timeout=300):
    env = dict(os.environ)
    # In the CUDA simulator "auto" would pick the (very slow) simulated GPU;
    # the demo test is about the command, so it trains on the CPU.
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    return subprocess.run(
        [sys.executable, "-m", "skgru", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _has_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_demo_quick_prints_accuracy(tmp_path):
    # README's main command in quick mode; the design budget is well under 60 s.
    out = tmp_path / "plots"
    proc = _run("demo", "--quick", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout

    match = re.search(r"^Test accuracy: (\d\.\d{3}) on 150 test series$", text, re.M)
    assert match, text
    assert 0.0 <= float(match.group(1)) <= 1.0
    assert re.search(r"^Best parameters: .*scale__mode=", text, re.M), text
    assert re.search(r"^Training time: \d+\.\d s for all 5 fits", text, re.M), text
    # GunPoint's published baselines (Bagnall et al. 2017; Fawaz et al. 2019).
    assert re.search(r"1-NN Euclidean +0\.913", text), text
    assert re.search(r"MLP +0\.927", text), text

    png = (out / "skgru_demo_gunpoint_loss.png").resolve()
    if _has_matplotlib():
        assert f"Loss curve saved to {png}" in text
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib is not installed" in text
        assert not png.exists()


def test_help_lists_the_options():
    proc = _run("demo", "--help", timeout=120)
    assert proc.returncode == 0, proc.stderr
    for option in ("--dataset", "--device", "--quick", "--out"):
        assert option in proc.stdout
    for name in ("gunpoint", "italy_power_demand", "basic_motions", "auto,cpu,cuda"):
        assert name in proc.stdout

    proc = _run("--help", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "demo" in proc.stdout


def test_no_command_prints_usage():
    proc = _run(timeout=120)
    assert proc.returncode == 2
    assert "usage: python -m skgru" in proc.stdout


def test_bad_dataset_is_an_argparse_error():
    proc = _run("demo", "--dataset", "mnist", timeout=120)
    assert proc.returncode == 2
    assert "invalid choice: 'mnist'" in proc.stderr


def test_cuda_without_gpu_is_one_line_error():
    from skgru.engine._devices import cuda_available

    if cuda_available() or os.environ.get("NUMBA_ENABLE_CUDASIM"):
        pytest.skip("a CUDA device (or the simulator) is available here")
    proc = _run("demo", "--quick", "--device", "cuda", timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("python -m skgru demo: error: device='cuda'")
    assert "Traceback" not in proc.stderr
    assert "Test accuracy" not in proc.stdout


def test_stack_windows_by_hand():
    X = np.arange(2 * 7 * 2, dtype=float).reshape(2, 7, 2)
    Z = stack_windows(X, width=3)
    assert Z.shape == (2, 2, 6)
    # Second sequence (values 14..27), second window = steps 3, 4, 5.
    assert Z[1, 1].tolist() == [20.0, 21.0, 22.0, 23.0, 24.0, 25.0]
    assert stack_windows(X, width=1) is X
