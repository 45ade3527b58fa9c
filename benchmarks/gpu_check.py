"""One prepared check of skgru's CUDA backend on a real GPU.

Run from the repository root on the GPU machine::

    PYTHONPATH=. python3 benchmarks/gpu_check.py            # ~2-3 minutes on an H100

or, on a machine without a GPU, in Numba's CUDA simulator with tiny shapes::

    NUMBA_ENABLE_CUDASIM=1 PYTHONPATH=. python benchmarks/gpu_check.py --sim-smoke

Part 1 (correctness, float32 and float64, fresh random inputs, device outputs
poisoned with NaN before each run): the forward / backward-through-time
kernels against the CPU kernels (both ``reset_after``, masks with padding,
holes and an empty sequence, recurrent dropout), the gradients of one
training step against the CPU kernel set, inference logits, a 2-epoch fit
(MaxNorm + clipnorm) against ``device="cpu"``, and 2-epoch fits of stacked,
bidirectional, pooled, token, multilabel and regression models with every
optimizer, dropout, clipping and constraints (a callable included) against
``device="cpu"``. Each line says PASS or FAIL
with the max error relative to the reference's largest magnitude.

Part 2 (timing, float32): training (forward + backward + optimizer step per
batch, after warm-up; Adam, 5-class softmax head) and inference throughput
(sequences/s, data already on the device) for W1 (B32 T50 F16 H32), W2 (B64
T100 F32 H128) and W3 (B128 T200 F64 H256), for skgru CUDA and for
``torch.nn.GRU`` on cuDNN in the same process. skgru is timed for each
launch setting of :func:`_sweep_options` (``rows_per_block`` of the default
recurrent kernels; ``k_split`` x ``split_rows`` of the split-k variant, also
checked against the CPU in part 1) and the fastest is reported. Prints one
table with the card's name and writes ``$OUT/gpu_check.json`` when ``OUT``
is set.

Every section is guarded, so one failure does not lose the rest.
"""

import argparse
import json
import os
import sys
import time
import traceback
import warnings

os.environ.setdefault("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS", "0")

import numpy as np  # noqa: E402

# Some numba-cuda releases still call np.row_stack, which NumPy 2.5 removed
# (seen on the lent GPU image); the alias keeps this script runnable there.
vars(np).setdefault("row_stack", np.vstack)

WORKLOADS = {
    "W1": dict(B=32, T=50, F=16, H=32),
    "W2": dict(B=64, T=100, F=32, H=128),
    "W3": dict(B=128, T=200, F=64, H=256),
}
SMOKE_WORKLOADS = {
    "W1": dict(B=4, T=3, F=2, H=3),
    "W2": dict(B=5, T=4, F=3, H=5),
}
N_CLASSES = 5
RESULTS = {"card": None, "correctness": [], "timing": {}, "errors": [], "notes": []}


def log(*args):
    print(*args, flush=True)


def guarded(name):
    def wrap(fn):
        def run(*a, **k):
            t0 = time.perf_counter()
            log(f"== {name}")
            try:
                out = fn(*a, **k)
            except Exception as exc:
                RESULTS["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
                log(f"ERROR in {name}: {type(exc).__name__}: {exc}")
                traceback.print_exc()
                sys.stdout.flush()
                return None
            log(f"   ({name}: {time.perf_counter() - t0:.1f} s)")
            return out

        return run

    return wrap


def check(name, got, want, tol):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    if got.shape != want.shape:
        err, ok = float("inf"), False
    elif not np.isfinite(got).all():
        err, ok = float("nan"), False
    else:
        err = float(np.max(np.abs(got - want))) / scale if got.size else 0.0
        ok = err <= tol
    RESULTS["correctness"].append({"name": name, "max_rel_err": err, "tol": tol, "pass": ok})
    log(f"   {'PASS' if ok else 'FAIL'} {name}: max err {err:.3e} (tol {tol:.0e})")
    return ok


TOL = {np.float64: 1e-10, np.float32: 2e-4}


def poisoned(cuda, shape, dtype):
    return cuda.to_device(np.full(shape, np.nan, dtype=dtype))


# -- part 1: correctness ---------------------------------------------------------


@guarded("kernels: forward / BPTT / weight gradients vs CPU kernels")
def check_kernels(cuda, small):
    from skgru.kernels.cpu import _gru as _cpu
    from skgru.kernels.cuda import _kernels as _cuda

    T, B, F, U = (4, 5, 3, 6) if small else (9, 37, 7, 45)
    saved = dict(_cuda.LAUNCH)
    try:
        for label, launch in KERNEL_VARIANTS.items():
            _cuda.LAUNCH.update(launch)
            _check_kernels(cuda, _cpu, _cuda, T, B, F, U, label)
    finally:
        _cuda.LAUNCH.update(saved)


# Recurrent kernel variants checked against the CPU (launch-time settings).
# split22: more than 512 threads at U = 45 (the kernels built for 1024
# threads) and empty slices; r2 / r4: sequences per block (B = 37: the last
# block is partly empty).
KERNEL_VARIANTS = {
    "": {"recurrent_variant": "rows"},
    "split4 ": {"recurrent_variant": "split", "k_split": 4, "split_rows": 1},
    "split22 ": {"recurrent_variant": "split", "k_split": 22, "split_rows": 1},
    "split4r2 ": {"recurrent_variant": "split", "k_split": 4, "split_rows": 2},
    "split2r4 ": {"recurrent_variant": "split", "k_split": 2, "split_rows": 4},
}


def _check_kernels(cuda, _cpu, _cuda, T, B, F, U, label):
    for dtype in (np.float64, np.float32):
        ks = _cuda.kernels(dtype)
        for reset_after in (True, False):
            for use_rmask in (False, True):
                rng = np.random.default_rng()
                tag = f"{label}{np.dtype(dtype).name} reset_after={reset_after} rmask={use_rmask}"
                X = rng.normal(size=(T, B, F)).astype(dtype)
                mask = np.ones((T, B), np.uint8)
                mask[T - 2 :, 1] = 0
                mask[1, 2] = 0
                mask[:, 3] = 0
                W = (0.5 * rng.normal(size=(F, 3 * U))).astype(dtype)
                R = (0.5 * rng.normal(size=(U, 3 * U)) / np.sqrt(U) * 2).astype(dtype)
                bias = (0.2 * rng.normal(size=(2, 3 * U))).astype(dtype)
                if not reset_after:
                    bias[1] = 0
                rmask = (
                    ((rng.random((B, U)) < 0.7) / 0.7).astype(dtype)
                    if use_rmask
                    else np.zeros((0, U), dtype)
                )
                H = np.empty((T + 1, B, U), dtype)
                S = np.empty((T, B, 4 * U), dtype)
                A = np.empty((T, B, 3 * U), dtype)
                h0 = np.zeros((B, U), dtype)
                _cpu.gru_forward(X, mask, W, R, bias, h0, rmask, reset_after, H, S)
                dX_, dmask, dW_, dR_, dbias = (cuda.to_device(a) for a in (X, mask, W, R, bias))
                dH = poisoned(cuda, H.shape, dtype)
                dS = poisoned(cuda, S.shape, dtype)
                dA = poisoned(cuda, A.shape, dtype)
                d_rmask = cuda.to_device(rmask) if use_rmask else None
                ks.gru_forward(
                    dX_, dmask, dW_, dR_, dbias, cuda.to_device(h0), d_rmask, reset_after,
                    dH, dS, dA,
                )  # fmt: skip
                check(f"forward H  {tag}", dH.copy_to_host(), H, TOL[dtype])
                check(f"forward S  {tag}", dS.copy_to_host(), S, TOL[dtype])
                dH_seq = rng.normal(size=(T, B, U)).astype(dtype)
                dh_last = rng.normal(size=(B, U)).astype(dtype)
                dW, dR = np.empty_like(W), np.empty_like(R)
                db2 = np.empty((2, 3 * U), dtype)
                dM = np.empty_like(A)
                dh0 = np.empty((B, U), dtype)
                _cpu.gru_backward(
                    X, mask, W, R, rmask, reset_after, H, S, dH_seq, dh_last.copy(), dW, dR,
                    db2, np.zeros((0, B, F), dtype), dh0, A.copy(), dM,
                )  # fmt: skip
                RT = poisoned(cuda, (3 * U, U), dtype)
                ks.transpose(dR_, RT)
                G = cuda.to_device(dh_last.copy())
                ddA = poisoned(cuda, A.shape, dtype)
                ddM = poisoned(cuda, A.shape, dtype)
                dbp = poisoned(cuda, (B, 6 * U), dtype)
                ks.gru_backward_steps(
                    dmask, RT, d_rmask, reset_after, dH, dS, cuda.to_device(dH_seq), G, ddA, ddM,
                    dbp,
                )  # fmt: skip
                check(f"BPTT dh0   {tag}", G.copy_to_host(), dh0, TOL[dtype])
                check(f"BPTT dM    {tag}", ddM.copy_to_host(), dM, TOL[dtype])
                gb = poisoned(cuda, (6 * U,), dtype)
                ks.sum_rows(dbp, gb)
                check(f"grad bias  {tag}", gb.copy_to_host().reshape(2, 3 * U), db2, TOL[dtype])
                N = T * B
                gW = poisoned(cuda, W.shape, dtype)
                ks.gemm(dX_.reshape(N, F), ddA.reshape(N, 3 * U), gW, ta=True)
                check(f"grad W     {tag}", gW.copy_to_host(), dW, TOL[dtype])


@guarded("one training step: gradients vs the CPU kernel set")
def check_step_gradients(cuda, small):
    from skgru.data._sequences import Sequences
    from skgru.engine._config import TrainConfig
    from skgru.engine._devices import make_trainer
    from skgru.model._network import init_params
    from skgru.training._optimizers import make_optimizer

    N, T, F, U = (6, 4, 3, 5) if small else (40, 23, 6, 33)
    for dtype in (np.float64, np.float32):
        for reset_after in (True, False):
            rng = np.random.default_rng()
            values = rng.normal(size=(N, T, F)).astype(dtype)
            mask = np.ones((N, T), np.uint8)
            for i in range(0, N, 3):
                mask[i, rng.integers(1, T) :] = 0
            values[mask == 0] = 0
            seqs = Sequences(values, mask)
            Y = np.eye(N_CLASSES, dtype=dtype)[rng.integers(0, N_CLASSES, N)]
            w = rng.uniform(0.5, 1.5, N)
            params = init_params(rng, F, U, N_CLASSES, reset_after, dtype)
            cfg = TrainConfig(reset_after=reset_after, alpha=1e-3)
            idx = rng.permutation(N)[: max(2, N // 2)]
            opt = make_optimizer(
                "adam", params, learning_rate_init=1e-3, momentum=0.9, nesterovs_momentum=True
            )
            cpu = make_trainer("cpu", params, opt, cfg, seqs, Y, w)
            loss, grads, _ = cpu.loss_and_grads(idx, np.random.default_rng(1))
            gpu = make_trainer("cuda", params, opt, cfg, seqs, Y, w)
            gpu.grads.flat.copy_to_device(np.full(gpu.grads.flat.size, np.nan, dtype=dtype))
            dev_loss, host, _ = gpu.loss_and_grads(idx, np.random.default_rng(1))
            tag = f"{np.dtype(dtype).name} reset_after={reset_after}"
            for name, a, b in zip(("dW", "dR", "dbias", "dWd", "dbd"), grads, host):
                check(f"step {name:5s} {tag}", b, a, TOL[dtype])
            check(f"step loss  {tag}", dev_loss, loss, TOL[dtype])


@guarded("inference logits vs CPU")
def check_inference(cuda, small):
    from skgru.data._sequences import Sequences
    from skgru.engine._config import TrainConfig
    from skgru.engine._devices import predict_logits
    from skgru.model._network import init_params

    N, T, F, U = (5, 4, 2, 3) if small else (300, 31, 5, 40)
    for dtype in (np.float64, np.float32):
        for reset_after in (True, False):
            rng = np.random.default_rng()
            values = rng.normal(size=(N, T, F)).astype(dtype)
            mask = np.ones((N, T), np.uint8)
            mask[::4, T // 2 :] = 0
            values[mask == 0] = 0
            seqs = Sequences(values, mask)
            params = init_params(rng, F, U, N_CLASSES, reset_after, dtype)
            cfg = TrainConfig(reset_after=reset_after, pooling="last" if reset_after else "mean")
            cpu = predict_logits("cpu", params, seqs, cfg)
            gpu = predict_logits("cuda", params, seqs, cfg)
            tag = f"{np.dtype(dtype).name} reset_after={reset_after} pooling={cfg.pooling}"
            check(f"logits {tag}", gpu, cpu, TOL[dtype])


@guarded("2-epoch fit (MaxNorm + clipnorm): device='cuda' vs device='cpu'")
def check_fit(cuda, small):
    from skgru import ConstrainedGRUClassifier
    from skgru.constraints import MaxNorm

    N, T, F, U = (8, 4, 2, 4) if small else (96, 20, 4, 16)
    rng = np.random.default_rng()
    X = rng.normal(size=(N, T, F))
    y = np.arange(N) % 3
    X[:, :, 0] += y[:, None]
    for dtype, tol in (("float64", 1e-8), ("float32", 2e-3)):
        kw = dict(
            units=U, max_iter=2, batch_size=max(3, N // 4), kernel_constraint=MaxNorm(0.5),
            clipnorm=0.1, dtype=dtype, random_state=0, learning_rate_init=0.02,
        )  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cpu = ConstrainedGRUClassifier(device="cpu", **kw).fit(X, y)
            gpu = ConstrainedGRUClassifier(device="cuda", **kw).fit(X, y)
        for i, (a, b) in enumerate(zip(cpu.get_weights(), gpu.get_weights())):
            check(f"fit {dtype} weight {i}", b, a, tol)
        check(f"fit {dtype} predict_proba", gpu.predict_proba(X), cpu.predict_proba(X), tol)
        ok = all(type(p) is np.ndarray for p in gpu.get_weights())
        RESULTS["correctness"].append({"name": f"fit {dtype} host arrays", "pass": ok})
        log(f"   {'PASS' if ok else 'FAIL'} fit {dtype}: fitted weights are host NumPy arrays")


# Configurations beyond one unidirectional layer: (label, estimator, input, keywords).
MODEL_CONFIGS = [
    ("2 layers, bidirectional, mean, dropout", "clf", "ragged",
     dict(num_layers=2, bidirectional=True, pooling="mean", dropout=0.2, recurrent_dropout=0.2)),
    ("bidirectional, max, reset_before, sgd, callable", "clf", "ragged",
     dict(bidirectional=True, pooling="max", reset_after=False, solver="sgd",
          kernel_constraint=lambda w: 0.95 * w, global_clipnorm=0.5)),
    ("tokens, bidirectional, lazy Adam", "clf", "tokens",
     dict(embedding_dim=4, vocab_size=30, bidirectional=True, clipnorm=0.5)),
    ("tokens, 2 layers, max, rmsprop", "clf", "tokens",
     dict(embedding_dim=4, vocab_size=30, num_layers=2, pooling="max", solver="rmsprop")),
    ("multilabel, 2 layers", "multilabel", "ragged", dict(num_layers=2, input_noise=0.1)),
    ("regressor, bidirectional, mean", "reg", "dense",
     dict(bidirectional=True, pooling="mean", alpha=0.01)),
]  # fmt: skip


@guarded("2-epoch fits of stacked / bidirectional / pooled / token models: cuda vs cpu")
def check_model_configs(cuda, small):
    from skgru import ConstrainedGRUClassifier, ConstrainedGRURegressor
    from skgru.constraints import MaxNorm

    N, T, F, U = (8, 4, 2, 3) if small else (96, 20, 4, 16)
    rng = np.random.default_rng()
    lengths = rng.integers(1, T + 1, N)
    inputs = {
        "dense": rng.normal(size=(N, T, F)),
        "ragged": [rng.normal(size=(int(n), F)) for n in lengths],
        "tokens": [rng.integers(1, 30, size=int(n)) for n in lengths],
    }
    labels = np.arange(N) % 3
    targets = {
        "clf": labels,
        "multilabel": np.stack([labels == 0, labels != 1], axis=1).astype(int),
        "reg": labels + 0.5,
    }
    for label, kind, data, extra in MODEL_CONFIGS:
        X, y = inputs[data], targets[kind]
        cls = ConstrainedGRURegressor if kind == "reg" else ConstrainedGRUClassifier
        for dtype, tol in (("float64", 1e-8), ("float32", 2e-3)):
            kw = dict(
                units=U, max_iter=2, batch_size=max(3, N // 4), dtype=dtype, random_state=0,
                learning_rate_init=0.02, recurrent_constraint=MaxNorm(0.8), **extra,
            )  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cpu = cls(device="cpu", **kw).fit(X, y)
                gpu = cls(device="cuda", **kw).fit(X, y)
            for i, (a, b) in enumerate(zip(cpu.get_weights(), gpu.get_weights())):
                check(f"{label} {dtype} weight {i}", b, a, tol)
            predict = "predict" if kind == "reg" else "predict_proba"
            got, want = getattr(gpu, predict)(X), getattr(cpu, predict)(X)
            check(f"{label} {dtype} {predict}", got, want, tol)


# -- part 2: timing ----------------------------------------------------------------


def _median_time(fn, sync, repeats, warmup):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


FOCUSED = [("rows", 1, 1), ("split", 4, 1), ("split", 8, 1), ("split", 4, 2), ("split", 4, 4)]


def _sweep_options(U, full):
    """Launch settings to time (label -> LAUNCH update): rows per block of the
    default recurrent kernels, then the split-k variant with the ``k_split``
    values that give distinct blocks for ``U`` (at most 1024 threads), with
    1, 2 and 4 sequences per block (``split_rows``)."""
    if full == "focused":  # a short device lease: the settings most likely to win
        opts = {"rows=1": {"recurrent_variant": "rows", "rows_per_block": 1}}
        for _, k, rb in FOCUSED[1:]:
            eff = min(k, U, 1024 // min(256, U))
            opts.setdefault(
                f"split k={eff} r={rb}",
                {"recurrent_variant": "split", "k_split": eff, "split_rows": rb},
            )
        return opts
    opts = {f"rows={r}": {"recurrent_variant": "rows", "rows_per_block": r} for r in
            ((1, 2, 4) if full else (1, 2))}  # fmt: skip
    seen = set()
    for rb in (1, 2, 4) if full else (1, 2):
        for k in ((2, 4, 8, 16) if rb == 1 else (2, 4, 8)) if full else (2,):
            eff = min(k, U, 1024 // min(256, U))
            if eff > 1 and (eff, rb) not in seen:
                seen.add((eff, rb))
                opts[f"split k={eff} r={rb}"] = {
                    "recurrent_variant": "split", "k_split": eff, "split_rows": rb,
                }  # fmt: skip
    return opts


def time_skgru(cuda, wl, repeats, warmup, full):
    """Training and inference timings; the launch-time settings of
    :func:`_sweep_options` (no recompilation within a variant) are swept and
    the fastest is reported."""
    from skgru.data._sequences import Sequences
    from skgru.engine._config import TrainConfig
    from skgru.engine._devices import make_trainer
    from skgru.kernels.cuda import _kernels as _cuda
    from skgru.model._network import init_params
    from skgru.training._optimizers import make_optimizer

    B, T, F, U = wl["B"], wl["T"], wl["F"], wl["H"]
    dtype = np.float32
    rng = np.random.default_rng(0)
    n_batches = 4
    N = B * n_batches
    seqs = Sequences(rng.normal(size=(N, T, F)).astype(dtype), np.ones((N, T), np.uint8))
    Y = np.eye(N_CLASSES, dtype=dtype)[rng.integers(0, N_CLASSES, N)]
    w = np.ones(N)
    params = init_params(rng, F, U, N_CLASSES, True, dtype)
    opt = make_optimizer(
        "adam", params, learning_rate_init=1e-3, momentum=0.9, nesterovs_momentum=True
    )
    trainer = make_trainer("cuda", params, opt, TrainConfig(), seqs, Y, w)
    batches = [np.arange(i * B, (i + 1) * B) for i in range(n_batches)]
    step_rng = np.random.default_rng(1)

    def train_epoch():  # as fit runs it: one loss scalar back per epoch
        trainer.run_epoch(batches, step_rng)

    # Inference with the data already on the device (as torch below).
    ks = _cuda.kernels(dtype)
    Bi = B * 8
    X = rng.normal(size=(T, Bi, F)).astype(dtype)
    d_X = cuda.to_device(X)
    d_mask = cuda.to_device(np.ones((T, Bi), np.uint8))
    W, R, bias, Wd, bd = (cuda.to_device(np.ascontiguousarray(p)) for p in params)
    d_H = cuda.device_array((T + 1, Bi, U), dtype)
    d_A = cuda.device_array((T, Bi, 3 * U), dtype)
    d_logits = cuda.device_array((Bi, N_CLASSES), dtype)

    def infer():
        ks.gru_forward(d_X, d_mask, W, R, bias, None, None, True, d_H, None, d_A)
        ks.gemm(d_H[T], Wd, d_logits)
        ks.add_row_vector(d_logits, bd)

    saved = dict(_cuda.LAUNCH)
    sweep = {}
    try:
        for label, launch in _sweep_options(U, full).items():
            _cuda.LAUNCH.update(saved)
            _cuda.LAUNCH.update(launch)
            try:
                train_s = _median_time(train_epoch, cuda.synchronize, repeats, warmup)
                infer_s = _median_time(infer, cuda.synchronize, repeats, warmup)
            except Exception as exc:  # e.g. too many registers for this block size
                RESULTS["errors"].append(f"H{U} {label}: {type(exc).__name__}")
                log(f"   {label}: failed ({type(exc).__name__}: {exc})"[:300])
                continue
            train_s /= n_batches
            sweep[label] = {"train_seq_s": B / train_s, "infer_seq_s": Bi / infer_s}
            log(f"   {label}: {sweep[label]}")
    finally:
        _cuda.LAUNCH.update(saved)
    best_train = max(sweep, key=lambda r: sweep[r]["train_seq_s"])
    best_infer = max(sweep, key=lambda r: sweep[r]["infer_seq_s"])
    return {
        "train_seq_s": sweep[best_train]["train_seq_s"],
        "train_step_s": B / sweep[best_train]["train_seq_s"],
        "train_launch": best_train,
        "infer_seq_s": sweep[best_infer]["infer_seq_s"],
        "infer_launch": best_infer,
        "sweep": {str(k): v for k, v in sweep.items()},
    }


def time_torch(torch, wl, repeats, warmup):
    B, T, F, U = wl["B"], wl["T"], wl["F"], wl["H"]
    dev = torch.device("cuda")
    torch.manual_seed(0)
    gru = torch.nn.GRU(F, U).to(dev)
    head = torch.nn.Linear(U, N_CLASSES).to(dev)
    opt = torch.optim.Adam(list(gru.parameters()) + list(head.parameters()), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xs = [torch.randn(T, B, F, device=dev) for _ in range(4)]
    ys = [torch.randint(0, N_CLASSES, (B,), device=dev) for _ in range(4)]
    counter = [0]

    def train_step():
        i = counter[0] % 4
        counter[0] += 1
        opt.zero_grad(set_to_none=True)
        out, _ = gru(xs[i])
        loss = loss_fn(head(out[-1]), ys[i])
        loss.backward()
        opt.step()

    train_s = _median_time(train_step, torch.cuda.synchronize, repeats, warmup)
    Bi = B * 8
    xi = torch.randn(T, Bi, F, device=dev)

    def infer():
        with torch.no_grad():
            out, _ = gru(xi)
            head(out[-1])

    infer_s = _median_time(infer, torch.cuda.synchronize, repeats, warmup)
    return {"train_step_s": train_s, "train_seq_s": B / train_s, "infer_seq_s": Bi / infer_s}


@guarded("timing")
def run_timing(cuda, torch, workloads, repeats, warmup, full):
    for name, wl in workloads.items():
        row = {"workload": wl}
        try:
            row["skgru"] = time_skgru(cuda, wl, repeats, warmup, full)
            log(f"   {name} skgru: {row['skgru']}")
        except Exception as exc:
            RESULTS["errors"].append(f"timing {name} skgru: {type(exc).__name__}: {exc}")
            traceback.print_exc()
        if torch is not None:
            try:
                row["torch"] = time_torch(torch, wl, repeats, warmup)
                log(f"   {name} torch: {row['torch']}")
            except Exception as exc:
                RESULTS["errors"].append(f"timing {name} torch: {type(exc).__name__}: {exc}")
                traceback.print_exc()
        RESULTS["timing"][name] = row


def _fmt(d, key):
    return f"{d[key]:>12,.0f}" if key in d else f"{'-':>12}"


def _ratio(s, t, key):
    if key in s and key in t:
        return f"{s[key] / t[key]:>6.2f}"
    return f"{'-':>6}"


def print_table():
    log("")
    log(f"card: {RESULTS['card']}   (float32; Adam; {N_CLASSES}-class head; medians)")
    head = (
        f"{'workload':<24} {'skgru train':>12} {'cuDNN train':>12} {'ratio':>6} "
        f"{'skgru infer':>12} {'cuDNN infer':>12} {'ratio':>6}"
    )
    log(head)
    log("-" * len(head))
    for name, row in RESULTS["timing"].items():
        wl = row["workload"]
        label = f"{name} B{wl['B']} T{wl['T']} F{wl['F']} H{wl['H']}"
        s = row.get("skgru", {})
        t = row.get("torch", {})

        log(
            f"{label:<24} {_fmt(s, 'train_seq_s')} {_fmt(t, 'train_seq_s')} "
            f"{_ratio(s, t, 'train_seq_s')} {_fmt(s, 'infer_seq_s')} {_fmt(t, 'infer_seq_s')} "
            f"{_ratio(s, t, 'infer_seq_s')}"
        )
    log("(sequences per second; ratio = skgru / cuDNN, > 1 means skgru is faster;")
    log(" skgru: best of the launch sweep (rows=N, split k=N r=N) printed above; see the JSON)")
    n_pass = sum(1 for c in RESULTS["correctness"] if c["pass"])
    n_all = len(RESULTS["correctness"])
    verdict = "PASS" if n_all and n_pass == n_all else "FAIL"
    log(f"correctness: {verdict} ({n_pass}/{n_all} checks)")
    if RESULTS["errors"]:
        log(f"errors ({len(RESULTS['errors'])}):")
        for e in RESULTS["errors"]:
            log(f"  {e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sim-smoke", action="store_true", help="tiny shapes for the CUDA simulator"
    )
    parser.add_argument("--skip-correctness", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument(
        "--focused",
        action="store_true",
        help="short lease: W2, W3 then W1, and only the likeliest launch settings",
    )
    args = parser.parse_args(argv)
    t_start = time.perf_counter()
    warnings.filterwarnings("ignore", message=".*[Gg]rid size.*")
    warnings.filterwarnings("ignore", message=".*implicit copy.*")

    from numba import cuda

    from skgru.kernels.cuda import _kernels as _cuda

    if args.sim_smoke:
        _cuda.LAUNCH.update(
            tile=4, gemm_reg=2, unit_threads=4, rows_per_block=2, threads=16, max_blocks=3,
            reduce_threads=8,
        )  # fmt: skip
        _cuda.clear_cache()
    torch = None
    try:
        import torch as _torch

        if _torch.cuda.is_available():
            torch = _torch
            RESULTS["card"] = torch.cuda.get_device_name()
            RESULTS["notes"].append(
                f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
                f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}"
            )
    except Exception as exc:  # torch missing: skgru only
        RESULTS["notes"].append(f"torch unavailable: {exc}")
    if RESULTS["card"] is None:
        try:
            name = cuda.get_current_device().name
            RESULTS["card"] = name.decode() if isinstance(name, bytes) else str(name)
        except Exception:
            RESULTS["card"] = "unknown (simulator?)"
    import numba

    try:
        from importlib.metadata import version

        nc = version("numba-cuda")
    except Exception:
        nc = "not installed"
    RESULTS["notes"].append(
        f"numba {numba.__version__}, numba-cuda {nc}, python {sys.version.split()[0]}"
    )
    log(f"card: {RESULTS['card']}; {'; '.join(RESULTS['notes'])}")

    small = args.sim_smoke
    if not args.skip_correctness:
        check_kernels(cuda, small)
        check_step_gradients(cuda, small)
        check_inference(cuda, small)
        check_fit(cuda, small)
        check_model_configs(cuda, small)
    if not args.skip_timing:
        workloads = SMOKE_WORKLOADS if small else WORKLOADS
        full = not small
        if args.focused and not small:
            workloads = {k: WORKLOADS[k] for k in ("W2", "W3", "W1")}
            full = "focused"
        repeats, warmup = (1, 1) if small else (7, 2)
        run_timing(cuda, None if small else torch, workloads, repeats, warmup, full)
    RESULTS["wall_s"] = time.perf_counter() - t_start
    print_table()
    log(f"total {RESULTS['wall_s']:.1f} s")
    out = os.environ.get("OUT")
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "gpu_check.json"), "w") as fh:
            json.dump(RESULTS, fh, indent=2, default=str)
        log(f"wrote {os.path.join(out, 'gpu_check.json')}")
    failed = any(not c["pass"] for c in RESULTS["correctness"]) or RESULTS["errors"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
