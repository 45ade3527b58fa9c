"""Side-by-side CPU benchmark: skgru vs PyTorch ``nn.GRU`` (and Keras, if present).

Usage::

    python benchmarks/bench_cpu.py [--quick] [--rounds N] [--peers torch,keras]
                                   [--workloads W1,W2] [--baseline PATH]

Every framework runs in its own long-lived worker process (so imports and
thread pools never mix); the driver asks the workers for one timing sample at a
time, interleaving frameworks and workloads round by round, so machine noise
(this is a shared 2-core machine) hits all of them alike. Ratios are computed
per round (skgru / peer in the same round) and reported as median [min-max].

Measured, float32, 2 threads, Adam, 5-class softmax head, last state:

* training throughput: forward + backward + optimizer step on a fixed batch
  after warm-up (skgru: the CPU trainer's ``step``), in sequences per second;
* inference throughput: class probabilities for the batch (skgru:
  ``predict_proba`` of a fitted estimator);
* peak memory: a fresh process per (framework, workload) runs a few training
  and inference steps; ``ru_maxrss`` (whole process) and its growth over the
  post-import, post-data baseline;
* the float32 GEMM roofline: numpy 2048^3 matmul in the driver, before and
  after the rounds; each workload's achieved GFLOP/s and % of it.

``--baseline PATH`` adds a worker ``skgru@base`` importing skgru from another
checkout (e.g. a ``git worktree`` of an older commit), for A/B kernel work.

``--peers keras`` runs Keras in the interpreter named by ``SKGRU_BENCH_KERAS_PYTHON``
(default: this one), since TensorFlow may want other numpy versions than the
dev environment. Peers are never dependencies of skgru.

Results: ``benchmarks/results/cpu.json`` and ``cpu.md`` (and ``cpu.png`` when
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
N_THREADS = 2
N_CLASSES = 5
# skgru's own threads (n_jobs), the same count the peers get; SKGRU_BENCH_THREADS
# overrides it (e.g. 1 to measure the single-threaded kernels).
SKGRU_THREADS = int(os.environ.get("SKGRU_BENCH_THREADS", N_THREADS))

WORKLOADS = {
    "W1": {"B": 32, "T": 50, "F": 16, "H": 32, "vocab": None},
    "W2": {"B": 64, "T": 100, "F": 32, "H": 128, "vocab": None},
    "W3": {"B": 128, "T": 200, "F": 64, "H": 256, "vocab": None},
    "W4": {"B": 64, "T": 200, "F": 64, "H": 64, "vocab": 20000},
}


def describe(name):
    w = WORKLOADS[name]
    if w["vocab"]:
        return f"{name} Emb({w['vocab']},{w['F']})+GRU{w['H']} B{w['B']} T{w['T']}"
    return f"{name} B{w['B']} T{w['T']} F{w['F']} H{w['H']}"


def forward_flops(w):
    """Product FLOPs of one sequence's forward pass (input + recurrent projections)."""
    F, H, T = w["F"], w["H"], w["T"]
    return T * (2 * F * 3 * H + 2 * H * 3 * H)


def thread_env(env=None):
    env = dict(os.environ if env is None else env)
    for var in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "TF_NUM_INTRAOP_THREADS",
    ):
        env[var] = str(N_THREADS)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONHASHSEED"] = "0"
    return env


# --------------------------------------------------------------------------- #
# Data and models, one builder per framework.  Each returns (train_step, infer).
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


def build_skgru(w):
    import numpy as np

    from skgru import ConstrainedGRUClassifier

    try:
        from skgru.data._sequences import Sequences
        from skgru.engine._config import TrainConfig
        from skgru.engine._devices import make_trainer
        from skgru.model._network import init_embedding, init_params
        from skgru.training._optimizers import make_optimizer

        def CPUTrainer(*args):  # noqa: N802 - the older checkouts' name
            return make_trainer("cpu", *args)

    except ImportError:  # a checkout from before the package layout (--baseline)
        from skgru._backend import CPUTrainer, TrainConfig
        from skgru._network import init_embedding, init_params
        from skgru._optimizers import make_optimizer
        from skgru._sequences import Sequences

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
    wts = np.ones(B)
    opt = make_optimizer(
        "adam", params, learning_rate_init=1e-3, momentum=0.9, nesterovs_momentum=True
    )
    # An older checkout (--baseline) may predate the thread count.
    threads = (
        {"n_threads": SKGRU_THREADS} if "n_threads" in TrainConfig.__dataclass_fields__ else {}
    )
    config = TrainConfig(embedding=bool(w["vocab"]), sparse_embeddings=True, **threads)
    trainer = CPUTrainer(params, opt, config, seqs, Y, wts)
    idx = np.arange(B)
    step_rng = np.random.default_rng(1)

    def train():
        trainer.step(idx, step_rng)

    kwargs = {"embedding_dim": w["F"], "vocab_size": w["vocab"]} if w["vocab"] else {}
    if threads:
        kwargs["n_jobs"] = SKGRU_THREADS
    clf = ConstrainedGRUClassifier(
        units=w["H"],
        max_iter=1,
        batch_size=B,
        random_state=0,
        device="cpu",
        **kwargs,
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)

    def infer():
        clf.predict_proba(X)

    return train, infer


def build_torch(w, n_threads=N_THREADS):
    import torch
    from torch import nn

    torch.set_num_threads(n_threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)
    # Subnormal numbers: over T = 200 steps the gradients of the early steps
    # decay below float32's normal range, and x86 takes them in microcode.
    # skgru flushes them in its kernels and TensorFlow sets flush-to-zero on
    # the CPU; without the same, PyTorch's training ran 4-6x slower on W3 and
    # W4 (22 vs 109-266 seq/s, 137 vs 627-664; benchmarks/NOTES.md), which
    # would flatter skgru.
    torch.set_flush_denormal(True)
    X, y = make_data(w)

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

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(X.astype("int64") if w["vocab"] else X)
    yt = torch.from_numpy(y.astype("int64"))

    def train():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xt), yt)
        loss.backward()
        opt.step()

    def infer():
        with torch.inference_mode():
            torch.softmax(net(xt), dim=1)

    return train, infer


def build_keras(w):
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(N_THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(0)
    X, y = make_data(w)
    layers = [keras.Input(shape=(w["T"],) if w["vocab"] else (w["T"], w["F"]))]
    if w["vocab"]:
        layers.append(keras.layers.Embedding(w["vocab"], w["F"]))
    layers += [keras.layers.GRU(w["H"]), keras.layers.Dense(N_CLASSES, activation="softmax")]
    model = keras.Sequential(layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=False)

    def train():
        model.train_on_batch(X, y)

    infer_fn = tf.function(lambda x: model(x, training=False))

    def infer():
        infer_fn(X).numpy()

    return train, infer


def build_torch1(w):
    """PyTorch held to one intra-op thread: on a loaded machine its two spinning
    OpenMP threads can cost more than they give, so the best peer is the better
    of the two settings."""
    return build_torch(w, n_threads=1)


BUILDERS = {
    "skgru": build_skgru,
    "torch": build_torch,
    "torch1": build_torch1,
    "keras": build_keras,
}


# --------------------------------------------------------------------------- #
# Worker side
# --------------------------------------------------------------------------- #


def maxrss_mb():
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(framework):
    """Answer JSON requests on stdin; stdout carries only the answers."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything the frameworks print goes to stderr
    sys.stdout = sys.stderr
    builder = BUILDERS[framework]
    cache = {}
    proto.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("cmd") == "quit":
            break
        name, mode = req["wl"], req["mode"]
        try:
            if name not in cache:
                t0 = time.perf_counter()
                fns = builder(WORKLOADS[name])
                for fn in fns:  # warm-up (compilation, allocator, thread pools)
                    for _ in range(3):
                        fn()
                cache[name] = {"fns": fns, "reps": {}, "setup_s": time.perf_counter() - t0}
            entry = cache[name]
            fn = entry["fns"][0 if mode == "train" else 1]
            reps = entry["reps"].get(mode)
            if reps is None:  # calibrate: enough calls for about `target` seconds
                t0 = time.perf_counter()
                fn()
                one = max(time.perf_counter() - t0, 1e-6)
                reps = max(1, int(req["target"] / one))
                entry["reps"][mode] = reps
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            dt = (time.perf_counter() - t0) / reps
            out = {"sec": dt, "reps": reps, "setup_s": entry["setup_s"]}
        except Exception as exc:  # report, keep serving the other workloads
            out = {"error": f"{type(exc).__name__}: {exc}"}
        proto.write(json.dumps(out) + "\n")


def memory_probe(framework, name):
    """Fresh process: peak RSS of a few training + inference steps on one workload."""
    import numpy as np  # noqa: F401  (part of every framework's baseline)

    if framework in ("torch", "torch1"):
        import torch  # noqa: F401
    elif framework == "keras":
        import keras  # noqa: F401
    else:
        import skgru  # noqa: F401
    base = maxrss_mb()
    train, infer = BUILDERS[framework](WORKLOADS[name])
    for _ in range(3):
        train()
    train_peak = maxrss_mb()
    for _ in range(3):
        infer()
    print(
        json.dumps(
            {
                "import_mb": base,
                "train_peak_mb": train_peak,
                "train_delta_mb": train_peak - base,
                "peak_mb": maxrss_mb(),
            }
        )
    )


# --------------------------------------------------------------------------- #
# Driver side
# --------------------------------------------------------------------------- #


class Worker:
    def __init__(self, label, framework, python, pythonpath=None):
        env = thread_env()
        if pythonpath:
            env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
            # Keep the baseline's numba cache apart from the current tree's.
            env["NUMBA_CACHE_DIR"] = str(Path(pythonpath) / ".numba_cache")
        self.label = label
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--worker", framework],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            cwd=pythonpath or None,
        )
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError(f"worker {label} did not start")

    def ask(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            return {"error": "worker died"}
        return json.loads(line)

    def close(self):
        try:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()


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


def fmt(s, digits=0, pct=False):
    if s is None:
        return "-"
    f = f"{{:,.{digits}f}}"
    suffix = " %" if pct else ""
    return f"{f.format(s['median'])}{suffix} [{f.format(s['min'])}-{f.format(s['max'])}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 rounds, short samples")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument(
        "--peers", default="torch,torch1", help="comma list from torch,torch1,keras ('' = none)"
    )
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--baseline", default=None, help="another checkout to compare against")
    ap.add_argument(
        "--baseline-workloads", default=None, help="workloads the baseline runs (default: all)"
    )
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--target", type=float, default=None, help="seconds per timing sample")
    ap.add_argument("--out", default=str(RESULTS / "cpu"), help="output path without suffix")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--memory-probe", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        return worker(args.worker)
    if args.memory_probe:
        return memory_probe(*args.memory_probe)

    # The driver measures the roofline with the same thread count.
    os.environ.update({k: v for k, v in thread_env().items() if k.endswith("THREADS")})
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(N_THREADS)
    except ImportError:
        pass

    rounds = args.rounds or (2 if args.quick else 4)
    target = args.target or (0.15 if args.quick else 0.5)
    names = [n for n in args.workloads.split(",") if n]
    base_names = (args.baseline_workloads or args.workloads).split(",")
    peers = [p for p in args.peers.split(",") if p]
    keras_python = os.environ.get("SKGRU_BENCH_KERAS_PYTHON", sys.executable)

    labels = [("skgru", "skgru", sys.executable, None)]
    if args.baseline:
        labels.append(("skgru@base", "skgru", sys.executable, str(Path(args.baseline).resolve())))
    for p in peers:
        labels.append((p, p, keras_python if p == "keras" else sys.executable, None))

    workers = {}
    for label, fw, py, pp in labels:
        try:
            workers[label] = Worker(label, fw, py, pp)
        except Exception as exc:
            print(f"skipping {label}: {exc}", file=sys.stderr)

    roof = roofline_gflops()
    samples = {lab: {n: {"train": [], "infer": []} for n in names} for lab in workers}
    errors = {}
    t_start = time.time()
    for r in range(rounds):
        for n in names:
            for mode in ("train", "infer"):
                # Rotate the framework order each round.
                order = list(workers)
                k = r % len(order)
                order = order[k:] + order[:k]
                for lab in order:
                    if lab == "skgru@base" and n not in base_names:
                        samples[lab][n][mode].append(None)
                        continue
                    res = workers[lab].ask(wl=n, mode=mode, target=target)
                    if "error" in res:
                        errors[f"{lab}/{n}/{mode}"] = res["error"]
                        samples[lab][n][mode].append(None)
                    else:
                        samples[lab][n][mode].append(WORKLOADS[n]["B"] / res["sec"])
        print(f"round {r + 1}/{rounds} done ({time.time() - t_start:.0f} s)", file=sys.stderr)
    for w in workers.values():
        w.close()
    roof += roofline_gflops()

    memory = {}
    if not args.no_memory:
        for lab, fw, py, pp in labels:
            if lab not in workers:
                continue
            for n in names:
                if lab == "skgru@base" and n not in base_names:
                    continue
                env = thread_env()
                if pp:
                    env["PYTHONPATH"] = pp
                    env["NUMBA_CACHE_DIR"] = str(Path(pp) / ".numba_cache")
                p = subprocess.run(
                    [py, str(Path(__file__).resolve()), "--memory-probe", fw, n],
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=pp or None,
                )
                try:
                    memory.setdefault(lab, {})[n] = json.loads(p.stdout.strip().splitlines()[-1])
                except Exception:
                    errors[f"{lab}/{n}/memory"] = p.stderr[-500:]

    roof_s = summary(roof)
    result = {
        "command": " ".join(["python", "benchmarks/bench_cpu.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "threads": N_THREADS,
        },
        "rounds": rounds,
        "target_s": target,
        "roofline_gflops": {"samples": roof, **roof_s},
        "workloads": {n: {**WORKLOADS[n], "label": describe(n)} for n in names},
        "samples_seq_per_s": samples,
        "memory_mb": memory,
        "errors": errors,
    }
    # Summaries and per-round ratios against each other framework.
    summ = {}
    for lab in workers:
        summ[lab] = {}
        for n in names:
            w = WORKLOADS[n]
            d = {}
            for mode in ("train", "infer"):
                s = summary(samples[lab][n][mode])
                d[mode] = s
                if s:
                    fl = forward_flops(w) * (3 if mode == "train" else 1)
                    gf = fl * s["median"] / 1e9
                    d[f"{mode}_gflops"] = gf
                    d[f"{mode}_pct_roofline"] = 100 * gf / roof_s["median"]
            summ[lab][n] = d
    ratios = {}
    for lab in workers:
        if lab == "skgru":
            continue
        ratios[lab] = {}
        for n in names:
            ratios[lab][n] = {}
            for mode in ("train", "infer"):
                a, b = samples["skgru"][n][mode], samples[lab][n][mode]
                rr = [x / y for x, y in zip(a, b) if x is not None and y is not None]
                ratios[lab][n][mode] = summary(rr)
    peer_labs = [lab for lab in workers if lab not in ("skgru", "skgru@base")]
    if peer_labs:
        ratios["best peer"] = {}
        for n in names:
            ratios["best peer"][n] = {}
            for mode in ("train", "infer"):
                rr = []
                for r, x in enumerate(samples["skgru"][n][mode]):
                    ys = [samples[p][n][mode][r] for p in peer_labs]
                    ys = [y for y in ys if y is not None]
                    if x is not None and ys:
                        rr.append(x / max(ys))
                ratios["best peer"][n][mode] = summary(rr)
    result["summary"] = summ
    result["ratios_skgru_over"] = ratios

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    out.with_suffix(".md").write_text(render_md(result, names, list(workers)))
    try:
        plot(result, names, list(workers), out.with_suffix(".png"))
    except ImportError:
        pass
    print(out.with_suffix(".md").read_text())


def render_md(res, names, labs):
    peers = [lab for lab in labs if lab != "skgru"]
    if "best peer" in res["ratios_skgru_over"]:
        peers.append("best peer")
    lines = [
        "# CPU benchmark: skgru vs peers",
        "",
        f"Command: `{res['command']}`  ",
        f"Date: {res['date']}; {res['machine']['platform']}, {res['machine']['cpus']} CPUs, "
        f"{res['machine']['threads']} threads, float32, Adam, 5-class head.  ",
        f"{res['rounds']} interleaved rounds of ~{res['target_s']} s samples; "
        "median [min-max]; ratios are per round (skgru / peer in the same round).  ",
        f"float32 GEMM roofline (numpy 2048^3, 2 threads): {fmt(res['roofline_gflops'], 1)} "
        "GFLOP/s.",
        "",
    ]
    for mode, title in (("train", "Training"), ("infer", "Inference")):
        lines.append(f"## {title} throughput (sequences/s)")
        lines.append("")
        head = ["workload", *labs] + [f"skgru / {p}" for p in peers] + ["skgru % roofline"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for n in names:
            row = [res["workloads"][n]["label"]]
            for lab in labs:
                row.append(fmt(res["summary"][lab][n][mode]))
            for p in peers:
                row.append(fmt(res["ratios_skgru_over"][p][n][mode], 2).replace(" [", "x ["))
            pct = res["summary"]["skgru"][n].get(f"{mode}_pct_roofline")
            gf = res["summary"]["skgru"][n].get(f"{mode}_gflops")
            row.append("-" if pct is None else f"{pct:.1f} % ({gf:.1f} GFLOP/s)")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    if res["memory_mb"]:
        lines.append("## Peak memory (MB, fresh process per cell)")
        lines.append("")
        lines.append(
            "`train peak` is the process's ru_maxrss after 3 training steps; `growth` is "
            "that minus the RSS after importing the framework (import footprint excluded)."
        )
        lines.append("")
        head = ["workload"]
        for lab in labs:
            head += [f"{lab} train peak", f"{lab} growth"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for n in names:
            row = [res["workloads"][n]["label"]]
            for lab in labs:
                m = res["memory_mb"].get(lab, {}).get(n)
                row += (
                    ["-", "-"]
                    if m is None
                    else [
                        f"{m['train_peak_mb']:.0f}",
                        f"{m['train_delta_mb']:.0f}",
                    ]
                )
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    if res["errors"]:
        lines.append("## Errors")
        lines.append("")
        for k, v in res["errors"].items():
            lines.append(f"- {k}: {v.strip().splitlines()[-1] if v.strip() else v}")
        lines.append("")
    return "\n".join(lines)


def plot(res, names, labs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(labs)
    for ax, mode in zip(axes, ("train", "infer")):
        for i, lab in enumerate(labs):
            med = [(res["summary"][lab][n][mode] or {}).get("median", 0) for n in names]
            ax.bar([j + i * width for j in range(len(names))], med, width, label=lab)
        ax.set_xticks([j + width * (len(labs) - 1) / 2 for j in range(len(names))], names)
        ax.set_yscale("log")
        ax.set_ylabel("sequences / s")
        ax.set_title(f"{mode} throughput (float32, 2 threads)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
