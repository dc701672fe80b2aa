"""Threads chosen, not inherited (issue #20, item 3): `memae demo` and one tabular `memae train`
on a quiet machine and beside a CPU-bound load, old and new code, default threads against one
thread, side by side in one run.

    python benchmarks/threads.py --src before=/path/to/old/src --src after=src \\
        --out benchmarks/results/threads.csv

``load`` = N processes spinning in a busy loop for the whole measurement (N = the cores), as
other jobs on a shared machine or CI runner do. ``threads``: ``default`` is the checkout's own
default (torch's one thread per core in old code, ``threads="auto"`` in new), ``1`` is
``OMP_NUM_THREADS=1`` (old) or ``MEMAE_THREADS=1`` (new). Wall seconds of the whole command.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from csvout import write_rows


def spin() -> None:
    while True:
        pass


def table(path: Path) -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((50_000, 4))
    X = np.tanh(z @ rng.standard_normal((4, 20))) + 0.05 * rng.standard_normal((50_000, 20))
    np.save(path, X.astype(np.float32))


def command(work: str, folder: Path) -> list[str]:
    if work == "demo":
        return ["-m", "memae.cli", "demo", "--out", str(folder / "demo")]
    return ["-m", "memae.cli", "train", str(folder / "table.npy"), "--out", str(folder / "m"),
            "--epochs", "5", "--quiet"]  # fmt: skip


def timed(src: str, work: str, threads: str, folder: Path) -> float:
    env = os.environ | {"PYTHONPATH": src}
    for var in ("OMP_NUM_THREADS", "MEMAE_THREADS"):
        env.pop(var, None)
    if threads == "1":
        env["OMP_NUM_THREADS"] = env["MEMAE_THREADS"] = "1"
    start = time.perf_counter()
    subprocess.run([sys.executable, *command(work, folder)], env=env, check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", action="append", required=True, help="LABEL=PATH of a src/")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/threads.csv"))
    parser.add_argument("--work", default="table,demo")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table(folder / "table.npy")
        for load in ("quiet", "loaded"):
            spinners = []
            if load == "loaded":
                spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(cores)]
                for p in spinners:
                    p.start()
                time.sleep(2)
            try:
                for work in args.work.split(","):
                    for spec in args.src:
                        label, src = spec.split("=", 1)
                        for threads in ("default", "1"):
                            s = timed(src, work, threads, folder)
                            row = {"load": load, "work": work, "code": label,
                                   "threads": threads, "seconds": f"{s:.1f}"}  # fmt: skip
                            rows.append(row)
                            print(row, flush=True)
            finally:
                for p in spinners:
                    p.terminate()
    write_rows(args.out, rows)


if __name__ == "__main__":
    main()
