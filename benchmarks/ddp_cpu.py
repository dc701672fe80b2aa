"""DDP on CPU: `torchrun --nproc-per-node 2 -m memae train` against one process, same global
batch and seed, side by side in one run (issue #20, item 6b).

    python benchmarks/ddp_cpu.py [--out benchmarks/results/ddp_cpu.csv]

Two workloads: a 200,000 x 20 table (mlp, 3 epochs, batch 512) and the embedded MNIST sample's
digit 0 as images (conv2d, 5 epochs, batch 64). Each is trained by one process on one thread,
one process on all cores, and 2 ranks of one thread each (gloo). ``seconds`` is the wall time of
the whole command, start-up included (each process imports torch). The thresholds show that the
three runs fit the same model (equal up to rounding).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from csvout import write_rows

from memae.data.sample import load_mnist_sample
from memae.runtime import cpu_count


def data(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((200_000, 4))
    X = np.tanh(z @ rng.standard_normal((4, 20))) + 0.05 * rng.standard_normal((200_000, 20))
    np.save(folder / "table.npy", X.astype(np.float32))
    images, labels = load_mnist_sample()
    digits = (images[labels == 0].astype(np.float32) / 255.0)[:, None]
    np.save(folder / "digits.npy", digits)
    return {
        "table mlp": (folder / "table.npy", ["--epochs", "3", "--batch-size", "512"]),
        "MNIST conv2d": (folder / "digits.npy", ["--epochs", "5", "--batch-size", "64"]),
    }


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ddp_cpu.csv"))
    args = parser.parse_args()
    cores = cpu_count()
    env = {k: v for k, v in os.environ.items() if k not in ("MEMAE_THREADS", "OMP_NUM_THREADS")}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for work, (path, flags) in data(folder).items():
            runs = {
                "1 process, 1 thread": ([sys.executable, "-m", "memae"], 1),
                f"1 process, {cores} threads": ([sys.executable, "-m", "memae"], cores),
                "2 ranks (gloo), 1 thread each": ([*torchrun, "--nproc-per-node", "2", "-m",
                                                   "memae"], 1),
            }  # fmt: skip
            for name, (launcher, threads) in runs.items():
                out = folder / "m"
                cmd = [*launcher, "train", str(path), "--out", str(out), *flags,
                       "--seed", "0", "--threads", str(threads), "--quiet"]  # fmt: skip
                seconds = timed(cmd, env)
                config = json.loads((out / "config.json").read_text())
                row = {"work": work, "run": name, "seconds": f"{seconds:.1f}",
                       "world_size": config["run"]["world_size"],
                       "threshold": f"{config['threshold']:.6g}"}  # fmt: skip
                rows.append(row)
                print(row, flush=True)
    write_rows(args.out, rows)


if __name__ == "__main__":
    main()
