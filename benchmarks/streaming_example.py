"""Out-of-core training: a dataset stored on disk as ``.npy`` chunks, streamed into ``partial_fit``.

Usage::

    python benchmarks/streaming_example.py [--chunks 24] [--chunk-size 4000] [--epochs 2]
                                           [--slice 500] [--dir PATH] [--keep]

The dataset is written chunk by chunk (never whole in memory) as
``X_000.npy, y_000.npy, ...``: float32 sequences ``(chunk_size, n_timesteps,
n_features)``. Training reads every chunk back memory-mapped
(``np.load(path, mmap_mode="r")``) and passes it to
:meth:`ConstrainedGRUClassifier.partial_fit` a slice at a time, so the process
holds one slice (plus the model) at once, whatever the dataset's size; the
operating system pages the file in and can drop the pages again. The last chunk
is held out and scored the same way.

The script prints the dataset size on disk, the peak resident memory of the
process (``ru_maxrss``) and its growth over the baseline taken after imports and
kernel warm-up. The growth is bounded by one chunk (the pages of the mapped
file that was read, which count as resident until the mapping is dropped) plus
one slice, not by the dataset. ``--write`` saves the figures to
``benchmarks/results/scaleout_streaming.json`` for ``bench_scaleout.py``'s page.

The same loop runs on a dask array (``dask_ml.wrappers.Incremental``) or from
any other source of chunks: partial_fit only ever sees one chunk.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from skgru import ConstrainedGRUClassifier

N_TIMESTEPS = 50
N_FEATURES = 8
CLASSES = np.array([0, 1, 2])


def peak_rss_mib():
    """Peak resident memory of this process so far, in MiB."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / (1024 * 1024) if sys.platform == "darwin" else kib / 1024


def make_chunk(rng, n):
    """Noisy sinusoids; the class is the frequency band."""
    y = rng.integers(0, len(CLASSES), size=n)
    t = np.arange(N_TIMESTEPS, dtype=np.float32)
    freq = (0.05 + 0.08 * y + 0.02 * rng.random(n)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, N_FEATURES)).astype(np.float32)
    X = np.sin(2 * np.pi * freq[:, None, None] * t[None, :, None] + phase)
    X += 0.5 * rng.standard_normal(X.shape, dtype=np.float32)
    return X.astype(np.float32), y


def write_dataset(directory, n_chunks, chunk_size, seed=0):
    """Write ``n_chunks`` chunk files; only one chunk is in memory at a time."""
    rng = np.random.default_rng(seed)
    for i in range(n_chunks):
        X, y = make_chunk(rng, chunk_size)
        np.save(directory / f"X_{i:03d}.npy", X)
        np.save(directory / f"y_{i:03d}.npy", y)
    return sorted(directory.glob("X_*.npy"))


def stream(x_path, slice_size):
    """Yield ``(X, y)`` slices of one chunk file, memory-mapped."""
    X = np.load(x_path, mmap_mode="r")
    y = np.load(x_path.with_name(x_path.name.replace("X_", "y_")), mmap_mode="r")
    for start in range(0, len(X), slice_size):
        # np.asarray copies just this slice out of the mapping.
        yield np.asarray(X[start : start + slice_size]), np.asarray(y[start : start + slice_size])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=24)
    parser.add_argument("--chunk-size", type=int, default=4000)
    parser.add_argument("--slice", type=int, default=500, help="sequences per partial_fit call")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the chunks")
    parser.add_argument("--keep", action="store_true", help="keep the chunk files")
    parser.add_argument("--write", action="store_true", help="save the figures as JSON")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="skgru-stream-")) if args.dir is None else args.dir
    directory.mkdir(parents=True, exist_ok=True)
    try:
        paths = write_dataset(directory, args.chunks, args.chunk_size)
        train, test = paths[:-1], paths[-1:]
        size = sum(p.stat().st_size for p in directory.glob("*.npy")) / 2**20
        print(
            f"dataset: {args.chunks} chunks x {args.chunk_size} sequences x {N_TIMESTEPS} steps "
            f"x {N_FEATURES} features = {size:.0f} MiB on disk in {directory}"
        )

        clf = ConstrainedGRUClassifier(
            units=args.units, batch_size=50, learning_rate_init=3e-3, random_state=0
        )
        # Warm the kernels on a tiny slice, then take the memory baseline.
        warm = ConstrainedGRUClassifier(units=args.units, max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warm.fit(*next(stream(train[0], 20)))
        baseline = peak_rss_mib()

        t0 = time.perf_counter()
        for epoch in range(args.epochs):
            for path in train:
                for X, y in stream(path, args.slice):
                    clf.partial_fit(X, y, classes=CLASSES)
            correct = total = 0
            for path in test:
                for X, y in stream(path, args.slice):
                    correct += int((clf.predict(X) == y).sum())
                    total += len(y)
            print(
                f"epoch {epoch + 1}: held-out accuracy {correct / total:.3f} "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )

        seconds = time.perf_counter() - t0
        peak = peak_rss_mib()
        slice_mib = args.slice * N_TIMESTEPS * N_FEATURES * 4 / 2**20
        chunk_mib = args.chunk_size * N_TIMESTEPS * N_FEATURES * 4 / 2**20
        print(
            f"peak RSS {peak:.0f} MiB; baseline after imports and warm-up {baseline:.0f} MiB; "
            f"growth {peak - baseline:.0f} MiB for a {size:.0f} MiB dataset "
            f"(one chunk is {chunk_mib:.1f} MiB, one slice of {args.slice} sequences "
            f"{slice_mib:.1f} MiB)"
        )
        if args.write:
            figures = {
                "dataset_mib": round(size, 1),
                "chunks": args.chunks,
                "chunk_size": args.chunk_size,
                "chunk_mib": round(chunk_mib, 2),
                "slice": args.slice,
                "slice_mib": round(slice_mib, 2),
                "epochs": args.epochs,
                "units": args.units,
                "train_seconds": round(seconds, 1),
                "held_out_accuracy": round(correct / total, 4),
                "peak_rss_mib": round(peak, 1),
                "baseline_rss_mib": round(baseline, 1),
                "growth_mib": round(peak - baseline, 1),
                "machine": f"{os.cpu_count()} cores, {platform.platform()}",
            }
            out = Path(__file__).resolve().parent / "results" / "scaleout_streaming.json"
            out.parent.mkdir(exist_ok=True)
            out.write_text(json.dumps(figures, indent=1) + "\n")
    finally:
        if args.dir is None and not args.keep:
            shutil.rmtree(directory)


if __name__ == "__main__":
    main()
