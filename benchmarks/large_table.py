"""A 2,000,000 x 10 table: read, train (one epoch) and score time and peak memory, for one or
more checkouts of memae side by side in one run (issue #20, item 5).

    python benchmarks/large_table.py make /tmp/memae_large      # table.csv (211 MB) + table.npy
    python benchmarks/large_table.py run /tmp/memae_large \\
        --src before=/path/to/old/src --src after=src --out benchmarks/results/large_table.csv
    python benchmarks/large_table.py quality /tmp/memae_large \\
        --src before=/path/to/old/src@64 --src after=src@auto     # val loss over seeds 0-2
    python benchmarks/large_table.py repeat /tmp/memae_large \\
        --src before=/path/to/old/src@64 --src after=src@auto --reps 3  # train_s, interleaved

Each measurement runs in a fresh process with ``PYTHONPATH=SRC``, so its peak memory is its own.
``base_mb`` is the process's RSS after importing memae and torch; ``peak_mb`` its peak RSS;
``extra_x`` = (peak - base) / the table's float32 size; ``anon_peak_mb`` the peak of the
process's anonymous memory (sampled every 20 ms), which leaves out the pages of a memory-mapped
file that the kernel may drop. ``fixed_mb``: the same measurement's peak - base on a 20,000-row
table of the same kind (``small.csv``, ``small.npy``: the libraries paged in, the tiny fit);
``marginal_x`` = (peak - the small table's peak) / (the difference in float32 data): the memory
that grows with the table. ``train_s`` = fit - the scoring pass inside fit (one pass over
all rows, measured as ``score_s``). ``val_loss`` is the held-out reconstruction loss after the
epoch: the quality that a faster epoch must keep.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from csvout import write_rows

ROWS, COLS = 2_000_000, 10
FIELDS = [
    "label", "file", "batch_size", "threads", "read_s", "fit_s", "train_s", "score_s",
    "val_loss", "schedule", "base_mb", "peak_mb", "anon_peak_mb", "extra_x", "fixed_mb",
    "marginal_x", "cli_s", "cli_peak_mb",
]  # fmt: skip
SMALL = 20_000  # rows of the small table that measures the fixed cost


def make(folder: Path, rows: int = ROWS, name: str = "table") -> None:
    """Normal rows: a 3-dimensional latent through a fixed tanh map into 10 columns, plus noise
    (``name``.csv and .npy; the small table beside them, unless this is it)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    z = rng.standard_normal((rows, 3)).astype(np.float32)
    mix = rng.standard_normal((3, COLS)).astype(np.float32)
    X = np.tanh(z @ mix) * 3 + rng.standard_normal(COLS).astype(np.float32)
    X += 0.05 * rng.standard_normal((rows, COLS)).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{name}.npy", X)
    table = pa.table({f"f{j}": X[:, j] for j in range(COLS)})
    pacsv.write_csv(table, folder / f"{name}.csv")
    print(f"wrote {folder}/{name}.csv ({(folder / f'{name}.csv').stat().st_size / 1e6:.0f} MB)")
    if name == "table":
        make(folder, SMALL, "small")


def _rss() -> tuple[float, float]:
    """(RSS, anonymous RSS) of this process in MB."""
    values = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("RssAnon", 0.0)


def one(path: Path, batch_size: str, threads: str) -> dict:
    """Read, fit one epoch and score in this process (the checkout on PYTHONPATH)."""
    import resource

    import torch  # noqa: F401

    from memae import MemAEDetector
    from memae.data.readers import read_data

    base, _ = _rss()
    peak_anon = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak_anon[0] = max(peak_anon[0], _rss()[1])

    threading.Thread(target=sample, daemon=True).start()
    t0 = time.perf_counter()
    X = read_data(path).X
    t1 = time.perf_counter()
    params = {"epochs": 1, "random_state": 0}
    if batch_size != "auto":
        params["batch_size"] = int(batch_size)
    if threads != "default":
        params["threads"] = int(threads) if threads.isdigit() else threads
    det = MemAEDetector(**params).fit(X)
    t2 = time.perf_counter()
    det.decision_function(X)
    t3 = time.perf_counter()
    done.set()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    schedule = getattr(det, "schedule_", None)
    return {
        "read_s": t1 - t0,
        "fit_s": t2 - t1,
        "score_s": t3 - t2,
        "train_s": (t2 - t1) - (t3 - t2),
        "val_loss": det.history_.val_loss[-1],
        "schedule": str(schedule) if schedule else f"batch {det.batch_size}",
        "base_mb": base,
        "peak_mb": peak,
        "anon_peak_mb": peak_anon[0],
        "extra_x": (peak - base) / (len(X) * COLS * 4 / 2**20),
    }


def cli(src: str, path: Path, out: Path) -> tuple[float, float]:
    """`memae train PATH --epochs 1` end to end -> (wall seconds, peak RSS MB of the process)."""
    code = (
        "import resource, sys; from memae.cli import main; rc = main(sys.argv[1:]); "
        "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024); sys.exit(rc)"
    )
    args = [sys.executable, "-c", code, "train", str(path), "--out", str(out), "--epochs", "1"]
    env = os.environ | {"PYTHONPATH": src}
    t = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    peak = float(done.stdout.split("PEAK")[-1])
    return wall, peak


def run(folder: Path, sources: list[str], out: Path, batches: list[str]) -> None:
    rows = []
    for spec in sources:
        label, src = spec.split("=", 1)
        for file in ("table.csv", "table.npy"):
            for batch in batches if file == "table.csv" else ["auto"]:
                args = [sys.executable, __file__, "_one", str(folder / file), batch, "default"]
                env = os.environ | {"PYTHONPATH": src}
                done = subprocess.run(args, env=env, capture_output=True, text=True)
                if done.returncode:
                    print(done.stderr[-2000:], file=sys.stderr)
                    continue
                row = json.loads(done.stdout.strip().splitlines()[-1])
                row |= {"label": label, "file": file, "batch_size": batch, "threads": "default"}
                small = folder / file.replace("table", "small")
                args[3] = str(small)
                done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
                fixed = json.loads(done.stdout.strip().splitlines()[-1])
                row["fixed_mb"] = fixed["peak_mb"] - fixed["base_mb"]
                data_mb = (ROWS - SMALL) * COLS * 4 / 2**20
                row["marginal_x"] = (row["peak_mb"] - fixed["peak_mb"]) / data_mb
                if batch == "auto":
                    row["cli_s"], row["cli_peak_mb"] = cli(src, folder / file, folder / "m")
                rows.append(row)
                print(json.dumps(row), flush=True)
    text = [{k: f"{v:.4g}" if isinstance(v, float) else v for k, v in r.items()} for r in rows]
    write_rows(out, text, FIELDS)


def quality(folder: Path, sources: list[str], out: Path, seeds: list[int]) -> None:
    """The validation loss after one epoch, over seeds: each checkout at a batch size
    (``LABEL=PATH@BATCH``, ``auto`` for its default, ``BATCH/LR`` with an lr), fitted on the
    table in memory."""
    rows = []
    for spec in sources:
        label, rest = spec.split("=", 1)
        src, batch = rest.split("@")
        code = (
            "import sys, json, numpy as np; from memae import MemAEDetector; "
            "X = np.array(np.load(sys.argv[1])); b = sys.argv[2]; "
            "kw = {} if b == 'auto' else {'batch_size': int(b.split('/')[0])}; "
            "kw |= {'lr': float(b.split('/')[1])} if '/' in b else {}; "
            "d = MemAEDetector(epochs=1, random_state=int(sys.argv[3]), **kw).fit(X); "
            "print(json.dumps(d.history_.val_loss[-1]))"
        )
        for seed in seeds:
            args = [sys.executable, "-c", code, str(folder / "table.npy"), batch, str(seed)]
            env = os.environ | {"PYTHONPATH": src}
            done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
            row = {"label": label, "batch_size": batch, "seed": seed,
                   "val_loss": f"{float(done.stdout.split()[-1]):.5g}"}  # fmt: skip
            rows.append(row)
            print(row, flush=True)
    write_rows(out, rows)


def repeat(folder: Path, sources: list[str], out: Path, reps: int) -> None:
    """``train_s`` of each ``LABEL=PATH@BATCH`` (``auto``: its default) on the .npy table, the
    checkouts taking turns ``reps`` times (a busy or noisy machine slows all of them alike);
    then each median and its ratio to the first's."""
    rows, times = [], {spec: [] for spec in sources}
    for rep in range(reps):
        for spec in sources:
            label, rest = spec.split("=", 1)
            src, batch = rest.split("@")
            args = [sys.executable, __file__, "_one", str(folder / "table.npy"), batch, "default"]
            env = os.environ | {"PYTHONPATH": src}
            done = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            times[spec].append(row["train_s"])
            rows.append({"label": label, "batch_size": batch, "rep": rep,
                         "train_s": f"{row['train_s']:.4g}", "val_loss": f"{row['val_loss']:.5g}",
                         "schedule": row["schedule"]})  # fmt: skip
            print(rows[-1], flush=True)
    write_rows(out, rows)
    first = float(np.median(times[sources[0]]))
    for spec, values in times.items():
        median = float(np.median(values))
        print(f"{spec}: median train_s {median:.2f}, {first / median:.2f}x the first")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make")
    p.add_argument("folder", type=Path)
    p = sub.add_parser("run")
    p.add_argument("folder", type=Path)
    p.add_argument("--src", action="append", required=True, help="LABEL=PATH of a memae src/")
    p.add_argument("--batch", action="append", default=None, help="batch sizes (auto, 64, ...)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/large_table.csv"))
    p = sub.add_parser("quality")
    p.add_argument("folder", type=Path)
    p.add_argument("--src", action="append", required=True, help="LABEL=PATH@BATCH[/LR]")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/large_table_quality.csv"))
    p = sub.add_parser("repeat")
    p.add_argument("folder", type=Path)
    p.add_argument("--src", action="append", required=True, help="LABEL=PATH@BATCH")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/large_table_repeat.csv"))
    p = sub.add_parser("_one")
    p.add_argument("path", type=Path)
    p.add_argument("batch")
    p.add_argument("threads")
    args = parser.parse_args()
    if args.cmd == "make":
        make(args.folder)
    elif args.cmd == "quality":
        quality(args.folder, args.src, args.out, [int(x) for x in args.seeds.split(",")])
    elif args.cmd == "repeat":
        repeat(args.folder, args.src, args.out, args.reps)
    elif args.cmd == "run":
        run(args.folder, args.src, args.out, args.batch or ["auto", "64"])
    else:
        print(json.dumps(one(args.path, args.batch, args.threads)))


if __name__ == "__main__":
    main()
