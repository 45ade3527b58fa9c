"""Side-by-side CPU benchmark: skgru against PyTorch, Keras and onnxruntime, each at its best.

Usage::

    python benchmarks/bench_cpu.py [--quick] [--rounds N] [--labels skgru,torch,...]
                                   [--workloads W1,W2] [--baseline PATH]
                                   [--no-crosscheck] [--no-memory]

What runs (float32, 2 threads, Adam, 5-class softmax head on the last state,
one batch of fixed data per workload):

* ``skgru``: the public API, ``fit`` (the batch repeated 4 times, ``batch_size``
  one batch, enough epochs for a call of about 2.5 s, so that the fit's own
  set-up is amortised) and ``predict_proba``, with the default
  ``n_jobs`` (all the cores the process may use: 2 here);
* ``skgru-step``: the trainer's step function on the batch (training only);
* ``torch`` / ``torch1``: ``nn.GRU`` on 2 threads and on 1, flush-to-zero on;
  inference under ``torch.inference_mode``;
* ``keras`` / ``keras-xla``: Keras 3 on TensorFlow, ``train_on_batch`` and a
  ``tf.function`` of the model, intra- and inter-op threads 2; without XLA
  (Keras's default for this model) and with ``jit_compile=True``. They run in
  the interpreter named by ``SKGRU_BENCH_KERAS_PYTHON`` (default: this one),
  so TensorFlow's pins never touch the development environment;
* ``ort-skgru`` / ``ort-torch`` (inference only): onnxruntime on 2 intra-op
  threads running skgru's ``to_onnx`` model and PyTorch's exported GRU.

The best peer of a cell is the fastest of these peer configurations in the
same round.

How (each choice was measured; ``benchmarks/NOTES.md``, "A fair harness"):

* one fresh process per (configuration, workload, mode), one at a time, so no
  other framework's threads, memory or caches are alive while a cell runs;
* in that process: build, 3 calls (compilation, tracing), a warm-up of at
  least ``--warmup`` seconds whose calls calibrate the repetitions, then
  ``--samples`` timed samples of about ``--target`` seconds; the cell's
  figure is the median sample (the first and second halves are reported to
  show that it was steady);
* rounds: every cell once per round, configurations in a rotated order;
  ratios are taken per round (skgru / best peer of the same round) and
  reported as median [min-max] over rounds;
* the cross-check: every peer cell is measured once more in every round,
  alone in a fresh process with a different protocol (one continuous timed
  loop, no calibration, no samples), right after its cell; the table shows
  the distance between the cell's median over rounds and the median of
  those alone runs, and the run says when it is over 10 %;
* the machine: the 1-minute load average at each cell's start and the CPU
  time that other processes used while it ran (``/proc/stat`` minus the
  cell's own), so a loaded run is visible as such;
* the float32 GEMM roofline (numpy 2048^3, 2 threads) before, between and
  after the rounds; the targets' roofline rule uses its median;
* peak training memory: a fresh process per (configuration, workload) runs
  3 training steps (``skgru``: ``fit`` with 3 epochs of the one batch);
  ``ru_maxrss``.

``--baseline PATH`` adds ``skgru@base``, the public API of skgru imported
from another checkout, for A/B work.

Results: ``benchmarks/results/cpu.json``, ``cpu.md`` (and ``cpu.png`` when
matplotlib is importable).
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
N_THREADS = 2
N_CLASSES = 5
# skgru's fit sees the batch this many times per epoch (so an epoch's own
# overhead is amortised as in a real fit of several batches).
FIT_BATCHES = 4
# Seconds per fit call at least: a fit's set-up and the first touch of its
# scratch arrays (about 50 ms on W2; the first 2-3 steps run at half speed)
# are amortised as in a fit of a few seconds, as the peers' model building
# and first steps are left out of theirs.
FIT_SECONDS = 2.5

WORKLOADS = {
    "W1": {"B": 32, "T": 50, "F": 16, "H": 32, "vocab": None},
    "W2": {"B": 64, "T": 100, "F": 32, "H": 128, "vocab": None},
    "W3": {"B": 128, "T": 200, "F": 64, "H": 256, "vocab": None},
    "W4": {"B": 64, "T": 200, "F": 64, "H": 64, "vocab": 20000},
}

# skgru / best peer, the issue's targets; where a target needs more than
# ROOFLINE_SHARE of the run's GEMM roofline, reaching that share counts.
TARGETS = {
    "train": {"W1": 8.0, "W2": 2.5, "W3": 1.5, "W4": 3.0},
    "infer": {"W1": 4.0, "W2": 2.5, "W3": 2.0, "W4": 3.0},
}
ROOFLINE_SHARE = 0.8


def describe(name):
    w = WORKLOADS[name]
    if w["vocab"]:
        return f"{name} Emb({w['vocab']},{w['F']})+GRU{w['H']} B{w['B']} T{w['T']}"
    return f"{name} B{w['B']} T{w['T']} F{w['F']} H{w['H']}"


def forward_flops(w):
    """Product FLOPs of one sequence's forward pass (input + recurrent projections)."""
    F, H, T = w["F"], w["H"], w["T"]
    return T * (2 * F * 3 * H + 2 * H * 3 * H)


def mode_flops(w, mode):
    # A training step costs about three forward passes (forward, two products back).
    return forward_flops(w) * (3 if mode == "train" else 1)


def thread_env(env=None):
    """The environment of every measured process: 2 threads for every library."""
    env = dict(os.environ if env is None else env)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(N_THREADS)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONHASHSEED"] = "0"
    return env


# --------------------------------------------------------------------------- #
# Data and models. A builder takes (workload, mode) and returns (fn, n): one
# call of fn processes n sequences.
# --------------------------------------------------------------------------- #


def make_data(w, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    B, T, F = w["B"], w["T"], w["F"]
    if w["vocab"]:
        X = rng.integers(1, w["vocab"], size=(B, T)).astype(np.int32)
    else:
        X = rng.standard_normal((B, T, F)).astype(np.float32)
    y = np.arange(B) % N_CLASSES
    return X, y


def _skgru_estimator(w, **params):
    from skgru import ConstrainedGRUClassifier

    if w["vocab"]:
        params.update(embedding_dim=w["F"], vocab_size=w["vocab"])
    return ConstrainedGRUClassifier(
        units=w["H"], batch_size=w["B"], random_state=0, device="cpu", **params
    )


def _quiet_fit(clf, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
        return clf.fit(X, y)


def build_skgru(w, mode="train", target=0.5):
    """The public API: ``fit`` on the batch repeated, or ``predict_proba``."""
    import numpy as np

    X, y = make_data(w)
    if mode == "infer":
        clf = _quiet_fit(_skgru_estimator(w, max_iter=1), X, y)
        return (lambda: clf.predict_proba(X)), w["B"]
    Xf, yf = np.concatenate([X] * FIT_BATCHES), np.concatenate([y] * FIT_BATCHES)

    def fit(epochs):
        # No early stop: every call runs its epochs.
        clf = _skgru_estimator(w, max_iter=epochs, n_iter_no_change=epochs + 1)
        _quiet_fit(clf, Xf, yf)
        assert clf.n_iter_ == epochs

    fit(2)  # compilation (or loading the cache) and first-touch allocations
    t0 = time.perf_counter()
    fit(2)
    # Enough epochs for a call of about FIT_SECONDS (or `target`, if longer),
    # calibrated on a warm call: timing the first one, compilation included,
    # left W2 at 2 epochs a call.
    call_s = max(target, FIT_SECONDS)
    epochs = max(2, round(call_s / ((time.perf_counter() - t0) / 2)))
    return (lambda: fit(epochs)), epochs * len(Xf)


def build_skgru_step(w, mode="train", target=None):
    """The CPU trainer's step function on the batch (what ``fit`` runs per batch)."""
    import numpy as np

    from skgru.data._sequences import Sequences
    from skgru.engine._config import TrainConfig
    from skgru.engine._devices import make_trainer
    from skgru.model._network import init_embedding, init_params
    from skgru.training._optimizers import make_optimizer

    if mode != "train":
        raise ValueError("skgru-step measures training only")
    X, y = make_data(w)
    B = w["B"]
    rng = np.random.default_rng(0)
    params = init_params(rng, w["F"], w["H"], N_CLASSES, True, np.float32)
    if w["vocab"]:
        params.insert(0, init_embedding(rng, w["vocab"], w["F"], np.float32))
        seqs = Sequences(X, (X != 0).astype(np.uint8))
    else:
        seqs = Sequences(X, np.ones(X.shape[:2], dtype=np.uint8))
    Y = np.zeros((B, N_CLASSES), dtype=np.float32)
    Y[np.arange(B), y] = 1
    opt = make_optimizer(
        "adam", params, learning_rate_init=1e-3, momentum=0.9, nesterovs_momentum=True
    )
    # The thread count the estimator's default resolves to.
    n_threads = _skgru_estimator(w)._n_threads()
    config = TrainConfig(embedding=bool(w["vocab"]), sparse_embeddings=True, n_threads=n_threads)
    trainer = make_trainer("cpu", params, opt, config, seqs, Y, np.ones(B))
    idx = np.arange(B)
    step_rng = np.random.default_rng(1)
    return (lambda: trainer.step(idx, step_rng)), B


def _torch_net(w):
    import torch
    from torch import nn

    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(w["vocab"], w["F"]) if w["vocab"] else None
            self.gru = nn.GRU(w["F"], w["H"], batch_first=True)
            self.head = nn.Linear(w["H"], N_CLASSES)

        def forward(self, x):
            if self.emb is not None:
                x = self.emb(x)
            _, h = self.gru(x)
            return self.head(h[-1])

    return Net()


def _torch_input(w, X):
    import torch

    return torch.from_numpy(X.astype("int64") if w["vocab"] else X)


def build_torch(w, mode="train", target=None, n_threads=N_THREADS):
    import torch
    from torch import nn

    torch.set_num_threads(n_threads)
    # Subnormal numbers: over T = 200 steps the gradients of the early steps
    # decay below float32's normal range, and x86 takes them in microcode.
    # skgru flushes them in its kernels and TensorFlow sets flush-to-zero on
    # the CPU; without the same, PyTorch's training ran 4-6x slower on W3 and
    # W4 (benchmarks/NOTES.md), which would flatter skgru.
    torch.set_flush_denormal(True)
    X, y = make_data(w)
    net = _torch_net(w)
    xt, yt = _torch_input(w, X), torch.from_numpy(y.astype("int64"))
    if mode == "infer":
        net.eval()

        def infer():
            with torch.inference_mode():
                torch.softmax(net(xt), dim=1)

        return infer, w["B"]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def train():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xt), yt)
        loss.backward()
        opt.step()

    return train, w["B"]


def build_torch1(w, mode="train", target=None):
    """PyTorch held to one thread: on a loaded machine its spinning OpenMP
    threads can cost more than they give; the best peer takes the faster."""
    return build_torch(w, mode, n_threads=1)


def build_keras(w, mode="train", target=None, xla=False):
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(N_THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(N_THREADS)
    keras.utils.set_random_seed(0)
    X, y = make_data(w)
    layers = [keras.Input(shape=(w["T"],) if w["vocab"] else (w["T"], w["F"]))]
    if w["vocab"]:
        layers.append(keras.layers.Embedding(w["vocab"], w["F"]))
    layers += [keras.layers.GRU(w["H"]), keras.layers.Dense(N_CLASSES, activation="softmax")]
    model = keras.Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=xla)
    if mode == "train":
        return (lambda: model.train_on_batch(X, y)), w["B"]
    infer_fn = tf.function(lambda x: model(x, training=False), jit_compile=xla)
    return (lambda: infer_fn(X).numpy()), w["B"]


def build_keras_xla(w, mode="train", target=None):
    return build_keras(w, mode, xla=True)


def _ort_session(model_bytes):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = N_THREADS
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def build_ort_skgru(w, mode="infer", target=None):
    """skgru's own ONNX export (``to_onnx``, every step valid) run by onnxruntime."""
    from skgru import to_onnx

    if mode != "infer":
        raise ValueError("onnxruntime is an inference peer")
    X, y = make_data(w)
    clf = _quiet_fit(_skgru_estimator(w, max_iter=1), X, y)
    sess = _ort_session(to_onnx(clf, variable_length=False).SerializeToString())
    feeds = {"X": X.astype("int64") if w["vocab"] else X}
    return (lambda: sess.run(None, feeds)), w["B"]


def build_ort_torch(w, mode="infer", target=None):
    """PyTorch's GRU exported by ``torch.onnx.export`` (ONNX ``GRU``) run by onnxruntime."""
    import io

    import torch

    if mode != "infer":
        raise ValueError("onnxruntime is an inference peer")
    X, _ = make_data(w)
    net = _torch_net(w).eval()

    class WithSoftmax(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return torch.softmax(self.net(x), dim=1)

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript exporter maps nn.GRU to ONNX's GRU operator.
        torch.onnx.export(
            WithSoftmax(),
            (_torch_input(w, X),),
            buf,
            dynamo=False,
            opset_version=17,
            input_names=["x"],
            output_names=["p"],
        )
    sess = _ort_session(buf.getvalue())
    feeds = {"x": X.astype("int64") if w["vocab"] else X}
    return (lambda: sess.run(None, feeds)), w["B"]


# label -> (builder, modes, runs in the Keras interpreter, a peer)
CONFIGS = {
    "skgru": (build_skgru, ("train", "infer"), False, False),
    "skgru-step": (build_skgru_step, ("train",), False, False),
    "torch": (build_torch, ("train", "infer"), False, True),
    "torch1": (build_torch1, ("train", "infer"), False, True),
    "keras": (build_keras, ("train", "infer"), True, True),
    "keras-xla": (build_keras_xla, ("train", "infer"), True, True),
    "ort-skgru": (build_ort_skgru, ("infer",), False, True),
    "ort-torch": (build_ort_torch, ("infer",), False, True),
}


def _framework_import(label):
    """Import what a configuration's process imports before its data (memory baseline)."""
    import numpy  # noqa: F401

    if label.startswith("torch") or label == "ort-torch":
        import torch  # noqa: F401
    if label.startswith("keras"):
        import keras  # noqa: F401
    if label.startswith("ort"):
        import onnxruntime  # noqa: F401
    if label.startswith("skgru") or label == "ort-skgru":
        import skgru  # noqa: F401


# --------------------------------------------------------------------------- #
# Inside a measured process
# --------------------------------------------------------------------------- #


def _protocol_out():
    """A private copy of stdout for the JSON answer; everything printed goes to stderr."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def run_cell(label, name, mode, target, samples, warmup):
    """The harness's protocol: warm-up that calibrates, then timed samples."""
    out = _protocol_out()
    t0 = time.perf_counter()
    fn, n = CONFIGS[label][0](WORKLOADS[name], mode, target=target)
    for _ in range(3):  # compilation, tracing, first-touch allocations
        fn()
    setup = time.perf_counter() - t0
    calls, t_warm = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t_warm < warmup:
        fn()
        calls += 1
    per_call = (time.perf_counter() - t_warm) / calls
    reps = max(1, round(target / per_call))
    rates = []
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        rates.append(n * reps / (time.perf_counter() - t))
    half = len(rates) // 2
    res = {
        "rate": statistics.median(rates),
        "rates": rates,
        "reps": reps,
        "setup_s": setup,
        "warmup_calls": calls,
        # Later samples / earlier ones: 1 when the process had reached steady state.
        "drift": statistics.median(rates[half:]) / statistics.median(rates[:half]) if half else 1.0,
    }
    out.write(json.dumps(res) + "\n")


def run_alone(label, name, mode, seconds):
    """The cross-check's protocol: one continuous loop after a fixed warm-up."""
    out = _protocol_out()
    fn, n = CONFIGS[label][0](WORKLOADS[name], mode, target=0.5)
    for _ in range(3):
        fn()
    t = time.perf_counter()
    while time.perf_counter() - t < 1.0:
        fn()
    calls, t = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t < seconds:
        fn()
        calls += 1
    out.write(json.dumps({"rate": n * calls / (time.perf_counter() - t)}) + "\n")


def run_memory(label, name):
    """Peak RSS of 3 training steps in a fresh process."""
    out = _protocol_out()
    _framework_import(label)
    base = _maxrss_mb()
    w = WORKLOADS[name]
    if label in ("skgru", "skgru@base"):
        X, y = make_data(w)
        _quiet_fit(_skgru_estimator(w, max_iter=3, n_iter_no_change=4), X, y)
    else:
        fn, _ = CONFIGS[label][0](w, "train")
        for _ in range(3):
            fn()
    peak = _maxrss_mb()
    out.write(json.dumps({"import_mb": base, "train_peak_mb": peak, "growth_mb": peak - base}))


def _maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --------------------------------------------------------------------------- #
# Driver
# --------------------------------------------------------------------------- #


def _busy_jiffies():
    """CPU time of the whole machine that was not idle, in clock ticks (Linux), or None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    v = [int(x) for x in fields]
    return sum(v[:8]) - v[3] - v[4]  # minus idle and iowait (guest time is in user)


def _children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Runner:
    """Starts measured processes one at a time and records the machine around each."""

    def __init__(self, keras_python, baseline):
        self.keras_python = keras_python
        self.baseline = baseline
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _command(self, label, args):
        python, env, cwd = sys.executable, thread_env(), None
        if label == "skgru@base":
            env["PYTHONPATH"] = self.baseline + os.pathsep + env.get("PYTHONPATH", "")
            env["NUMBA_CACHE_DIR"] = str(Path(self.baseline) / ".numba_cache")
            cwd, label = self.baseline, "skgru"
        elif CONFIGS[label][2]:
            python = self.keras_python
        return [python, str(Path(__file__).resolve()), *args(label)], env, cwd

    def run(self, label, args):
        cmd, env, cwd = self._command(label, args)
        load = os.getloadavg()[0]
        busy0, own0, t0 = _busy_jiffies(), _children_cpu(), time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
        wall = time.perf_counter() - t0
        own = _children_cpu() - own0
        busy1 = _busy_jiffies()
        foreign = None
        if busy0 is not None and busy1 is not None:
            foreign = max(0.0, (busy1 - busy0) / self.tick - own) / wall
        try:
            res = json.loads(p.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            tail = p.stderr.strip().splitlines()[-1:] or ["no output"]
            return {"error": tail[0][-300:], "load": load}
        return {**res, "load": load, "foreign_cores": foreign, "wall_s": wall}


def roofline_gflops(repeats=5, n=2048):
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    a @ b
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        out.append(2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return out


def summary(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def fmt(s, digits=0, suffix=""):
    if s is None:
        return "-"
    f = f"{{:,.{digits}f}}"
    return (
        f"{f.format(s['median'])}{suffix} [{f.format(s['min'])}-{f.format(s['max'])}]"
        if s["n"] > 1
        else f"{f.format(s['median'])}{suffix}"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 round, short samples, no memory")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--labels", default=",".join(CONFIGS), help="configurations to run")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--baseline", default=None, help="another checkout: adds skgru@base")
    ap.add_argument("--target", type=float, default=None, help="seconds per timing sample")
    ap.add_argument("--samples", type=int, default=None, help="timed samples per cell")
    ap.add_argument("--warmup", type=float, default=None, help="warm-up seconds per cell")
    ap.add_argument("--alone-seconds", type=float, default=None)
    ap.add_argument("--no-crosscheck", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "cpu"), help="output path without suffix")
    ap.add_argument("--cell", nargs=3, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--alone", nargs=3, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--memory-probe", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    target = args.target or (0.2 if args.quick else 0.4)
    samples = args.samples or (4 if args.quick else 6)
    warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 1.5)
    alone_s = args.alone_seconds or (1.0 if args.quick else 3.0)

    if args.cell:
        return run_cell(*args.cell, target, samples, warmup)
    if args.alone:
        return run_alone(*args.alone, alone_s)
    if args.memory_probe:
        return run_memory(*args.memory_probe)

    # The driver's roofline uses the same thread count.
    os.environ.update({k: v for k, v in thread_env().items() if k.endswith("THREADS")})
    from threadpoolctl import threadpool_limits

    threadpool_limits(N_THREADS)

    rounds = args.rounds or (1 if args.quick else 3)
    names = [n for n in args.workloads.split(",") if n]
    labels = [lab for lab in args.labels.split(",") if lab]
    if args.baseline:
        labels.insert(1, "skgru@base")
        CONFIGS["skgru@base"] = CONFIGS["skgru"]
    peers = [lab for lab in labels if CONFIGS[lab][3]]
    runner = Runner(os.environ.get("SKGRU_BENCH_KERAS_PYTHON", sys.executable), args.baseline)
    res = {
        "command": " ".join(["python", "benchmarks/bench_cpu.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "threads": N_THREADS,
            "load_before": os.getloadavg(),
        },
        "protocol": {
            "rounds": rounds,
            "target_s": target,
            "samples": samples,
            "warmup_s": warmup,
            "alone_s": alone_s,
        },
        "labels": labels,
        "peers": peers,
        "workloads": {n: {**WORKLOADS[n], "label": describe(n)} for n in names},
        "cells": {},  # "label/W/mode" -> list of per-round cell results
        "alone": {},
        "errors": {},
    }
    roof = roofline_gflops()
    t_start = time.time()

    for r in range(rounds):
        # The cross-check runs each peer cell again, alone and right after it,
        # so that the two share the minute (on a shared virtual machine the
        # speed of one process drifts by tens of percent within minutes), and
        # in every round: one process of a peer can differ from the next by
        # 30-40 %, so one alone run against one cell measured that spread
        # rather than the harness (benchmarks/NOTES.md, "A fair harness").
        check = not args.no_crosscheck
        for n in names:
            for mode in ("train", "infer"):
                order = [lab for lab in labels if mode in CONFIGS[lab][1]]
                k = r % len(order)
                for lab in order[k:] + order[:k]:
                    out = runner.run(lab, lambda lb, n=n, mode=mode: ["--cell", lb, n, mode])
                    res["cells"].setdefault(f"{lab}/{n}/{mode}", []).append(out)
                    if "error" in out:
                        res["errors"][f"{lab}/{n}/{mode}"] = out["error"]
                    if check and (lab in peers or lab == "skgru"):
                        res["alone"].setdefault(f"{lab}/{n}/{mode}", []).append(
                            runner.run(lab, lambda lb, n=n, mode=mode: ["--alone", lb, n, mode])
                        )
        roof += roofline_gflops()
        print(f"round {r + 1}/{rounds} done ({time.time() - t_start:.0f} s)", file=sys.stderr)

    memory = {}
    if not (args.no_memory or args.quick):
        for lab in labels:
            if "train" not in CONFIGS[lab][1] or lab == "skgru-step":
                continue
            for n in names:
                m = runner.run(lab, lambda lb, n=n: ["--memory-probe", lb, n])
                if "error" in m:
                    res["errors"][f"{lab}/{n}/memory"] = m["error"]
                else:
                    memory.setdefault(lab, {})[n] = m
    res["memory_mb"] = memory
    res["machine"]["load_after"] = os.getloadavg()
    res["roofline_gflops"] = {"samples": roof, **summary(roof)}
    res["elapsed_s"] = time.time() - t_start
    analyse(res, names, labels, peers)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    out.with_suffix(".md").write_text(render_md(res, names, labels, peers))
    try:
        plot(res, names, labels, out.with_suffix(".png"))
    except ImportError:
        pass
    print(out.with_suffix(".md").read_text())


def _rate(cell):
    return None if cell is None or "error" in cell else cell["rate"]


def analyse(res, names, labels, peers):
    """Summaries, per-round ratios, cross-check distances and the targets' verdicts."""
    roof = res["roofline_gflops"]["median"]
    cells = res["cells"]
    summ, ratios, checks, verdicts = {}, {}, {}, {}
    for lab in labels:
        summ[lab] = {}
        for n in names:
            summ[lab][n] = {}
            for mode in ("train", "infer"):
                rates = [_rate(c) for c in cells.get(f"{lab}/{n}/{mode}", [])]
                s = summary(rates)
                summ[lab][n][mode] = s
                if s:
                    gf = mode_flops(WORKLOADS[n], mode) * s["median"] / 1e9
                    summ[lab][n][f"{mode}_gflops"] = gf
                    summ[lab][n][f"{mode}_pct_roofline"] = 100 * gf / roof
                alone = [_rate(a) for a in res["alone"].get(f"{lab}/{n}/{mode}", [])]
                alone = [a for a in alone if a]
                if s and alone:
                    checks[f"{lab}/{n}/{mode}"] = {
                        "harness": s["median"],
                        "alone": statistics.median(alone),
                        "alone_runs": alone,
                        "diff_pct": 100 * (s["median"] / statistics.median(alone) - 1),
                    }
    for lab in [x for x in labels if not CONFIGS[x][3]]:
        ratios[lab] = {}
        for n in names:
            ratios[lab][n] = {}
            for mode in ("train", "infer"):
                mine = [_rate(c) for c in cells.get(f"{lab}/{n}/{mode}", [])]
                rr, best_names = [], []
                for r, x in enumerate(mine):
                    ys = {
                        p: _rate(cells[f"{p}/{n}/{mode}"][r])
                        for p in peers
                        if f"{p}/{n}/{mode}" in cells
                    }
                    ys = {p: y for p, y in ys.items() if y}
                    if x and ys:
                        best = max(ys, key=ys.get)
                        rr.append(x / ys[best])
                        best_names.append(best)
                s = summary(rr)
                if s:
                    s["best_peers"] = best_names
                ratios[lab][n][mode] = s
    for n in names:
        for mode in ("train", "infer"):
            r = (ratios.get("skgru") or {}).get(n, {}).get(mode)
            pct = summ.get("skgru", {}).get(n, {}).get(f"{mode}_pct_roofline")
            if r is None or pct is None:
                continue
            tgt = TARGETS[mode][n]
            best_rate = summ["skgru"][n][mode]["median"] / r["median"]
            need_pct = 100 * tgt * best_rate * mode_flops(WORKLOADS[n], mode) / 1e9 / roof
            capped = need_pct > 100 * ROOFLINE_SHARE
            met = r["median"] >= tgt or (capped and pct >= 100 * ROOFLINE_SHARE)
            verdicts[f"{n}/{mode}"] = {
                "target": tgt,
                "ratio": r["median"],
                "pct_roofline": pct,
                "target_needs_pct_roofline": need_pct,
                "roofline_rule_applies": capped,
                "met": met,
            }
    foreign = [
        c.get("foreign_cores")
        for cl in cells.values()
        for c in cl
        if c.get("foreign_cores") is not None
    ]
    res["summary"] = summ
    res["ratios_skgru_over_best_peer"] = ratios
    res["crosscheck"] = checks
    res["verdicts"] = verdicts
    res["machine"]["foreign_cores_per_cell"] = summary(foreign)
    res["machine"]["cell_load_1min"] = summary(
        [c["load"] for cl in cells.values() for c in cl if "load" in c]
    )


def render_md(res, names, labels, peers):
    m, p = res["machine"], res["protocol"]
    roof = res["roofline_gflops"]
    foreign = m.get("foreign_cores_per_cell")
    lines = [
        "# CPU benchmark: skgru against its peers, each at its best",
        "",
        f"Command: `{res['command']}`  ",
        f"Date: {res['date']}; {m['platform']}, {m['cpus']} CPUs; {m['threads']} threads for "
        "every framework; float32, Adam, 5-class head.  ",
        f"Load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in m['load_before'])}; "
        f"after: {', '.join(f'{x:.2f}' for x in m['load_after'])}; "
        f"1-min load at the cells' start {fmt(m['cell_load_1min'], 2)}; CPU used by other "
        f"processes while a cell ran: {fmt(foreign, 2)} cores.  ",
        f"{p['rounds']} rounds; each cell a fresh process: {p['warmup_s']} s warm-up, "
        f"{p['samples']} samples of ~{p['target_s']} s, its median; per cell below: median "
        "[min-max] over rounds. Ratios are per round against the fastest peer configuration "
        f"of that round. skgru's `fit` calls last about {FIT_SECONDS} s at least (its set-up "
        "amortised), a sample being one call.  ",
        f"float32 GEMM roofline (numpy 2048^3, 2 threads): {fmt(roof, 1)} GFLOP/s.  ",
        f"Cross-check: each peer cell measured alone in a fresh process ({p['alone_s']} s "
        "continuous loop) right after its cell, every round; `(alone X, +d %)`: X is the "
        "median of those runs, d the distance of the cell's median from it.",
        "",
    ]
    # The target is about the peers; skgru's own distance is in its cells.
    checked = [k for k in res["crosscheck"] if k.split("/")[0] in peers]
    over = {k: res["crosscheck"][k] for k in checked if abs(res["crosscheck"][k]["diff_pct"]) > 10}
    missing = [
        k
        for k in res["cells"]
        if k.split("/")[0] in peers and k not in res["crosscheck"] and res["alone"]
    ]
    if not res["alone"]:
        lines += ["**No cross-check in this run.**", ""]
    elif over or missing:
        lines += [
            f"**Cross-check: {len(over)} of {len(checked)} cells more than 10 % from the peer "
            "alone** ("
            + ", ".join(f"{k} {v['diff_pct']:+.1f} %" for k, v in over.items())
            + (f"; not checked: {', '.join(missing)}" if missing else "")
            + ").",
            "",
        ]
    else:
        lines += [f"Cross-check: all {len(checked)} peer cells within 10 % of the peer alone.", ""]

    for mode, title in (("train", "Training"), ("infer", "Inference")):
        labs = [lab for lab in labels if mode in CONFIGS[lab][1]]
        lines += [f"## {title} throughput (sequences/s)", ""]
        head = ["workload", *labs, "skgru / best peer", "skgru % roofline", "target", "met"]
        if "skgru-step" in labs:
            head.insert(-3, "skgru-step / best peer")
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for n in names:
            row = [res["workloads"][n]["label"]]
            for lab in labs:
                s = res["summary"][lab][n][mode]
                cell = fmt(s)
                chk = res["crosscheck"].get(f"{lab}/{n}/{mode}")
                if chk:
                    cell += f" (alone {chk['alone']:,.0f}, {chk['diff_pct']:+.1f} %)"
                row.append(cell)
            ratios = res["ratios_skgru_over_best_peer"]
            for lab in ("skgru", "skgru-step"):
                if lab in labs:
                    r = ratios[lab][n][mode]
                    txt = fmt(r, 2, "x")
                    if r:
                        best = statistics.mode(r["best_peers"])
                        txt += f" ({best})"
                    row.append(txt)
            pct = res["summary"]["skgru"][n].get(f"{mode}_pct_roofline")
            row.append("-" if pct is None else f"{pct:.1f} %")
            v = res["verdicts"].get(f"{n}/{mode}")
            if v:
                rule = (
                    f" (needs {v['target_needs_pct_roofline']:.0f} % of the roofline: "
                    f"{100 * ROOFLINE_SHARE:.0f} % counts)"
                    if v["roofline_rule_applies"]
                    else ""
                )
                row += [f"{v['target']}x{rule}", "yes" if v["met"] else "**no**"]
            else:
                row += ["-", "-"]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    if res["memory_mb"]:
        labs = list(res["memory_mb"])
        lines += [
            "## Peak training memory (MB, fresh process per cell)",
            "",
            "ru_maxrss after 3 training steps (`skgru`: `fit`, 3 epochs of the batch); in "
            "brackets the growth over the RSS after importing the framework.",
            "",
            "| workload | " + " | ".join(labs) + " |",
            "|" + "---|" * (len(labs) + 1),
        ]
        for n in names:
            row = [res["workloads"][n]["label"]]
            for lab in labs:
                mm = res["memory_mb"][lab].get(n)
                row.append(
                    "-" if mm is None else f"{mm['train_peak_mb']:.0f} ({mm['growth_mb']:.0f})"
                )
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    drift = [
        (k, c["drift"])
        for k, cl in res["cells"].items()
        for c in cl
        if "drift" in c and abs(c["drift"] - 1) > 0.1
    ]
    if drift:
        lines += [
            "Cells whose later samples differed from the earlier ones by over 10 %: "
            + ", ".join(f"{k} {d:.2f}" for k, d in drift)
            + ".",
            "",
        ]
    if res["errors"]:
        lines += ["## Errors", ""] + [f"- {k}: {v}" for k, v in res["errors"].items()] + [""]
    return "\n".join(lines)


def plot(res, names, labels, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, mode in zip(axes, ("train", "infer")):
        labs = [lab for lab in labels if mode in CONFIGS[lab][1]]
        width = 0.8 / len(labs)
        for i, lab in enumerate(labs):
            med = [(res["summary"][lab][n][mode] or {}).get("median", 0) for n in names]
            ax.bar([j + i * width for j in range(len(names))], med, width, label=lab)
        ax.set_xticks([j + width * (len(labs) - 1) / 2 for j in range(len(names))], names)
        ax.set_yscale("log")
        ax.set_ylabel("sequences / s")
        ax.set_title(f"{mode} throughput (float32, {N_THREADS} threads)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
