"""How often a two-rank torchrun fit dies at exit: runs the fits of
tests/test_distributed.py (tables ae and memae, images, re-seeding) under
``torchrun --nproc-per-node 2`` again and again and counts the runs that fail.

    python benchmarks/torchrun_exit.py --runs 20     # the memae importable here

Run it on two checkouts (PYTHONPATH=<checkout>/src) to compare them; faulthandler is on,
so a failed run shows where each thread was (``--keep`` keeps the failed runs' output).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

FIT = textwrap.dedent(
    """
    import sys, numpy as np
    from memae import MemAEDetector
    X = np.random.default_rng(0).normal(size=(600, 6)).astype(np.float32)
    FIT = {"epochs": 3, "batch_size": 32, "random_state": 0, "threads": 1}
    for name, params in {"ae": FIT | {"model": "ae"}, "memae": FIT | {"epochs": 1}}.items():
        MemAEDetector(**params).fit(X).save(sys.argv[1] + name)
    images = np.random.default_rng(0).random((48, 1, 16, 16), dtype=np.float32)
    det = MemAEDetector(epochs=1, batch_size=8, random_state=0, threads=1, model="ae")
    det.fit(images).decision_function(images)
    MemAEDetector(**FIT, model_options={"reseed": 2}).fit(X)
    """
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--keep", type=Path, help="folder for the output of failed runs")
    a = p.parse_args()
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "fit.py"
        script.write_text(FIT)
        argv = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--standalone", str(script), f"{tmp}/m"]  # fmt: skip
        for i in range(1, a.runs + 1):
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                failed += 1
                aborted = "terminate called without an active exception" in done.stderr
                print(f"run {i}: exit {done.returncode}" + (" (abort at exit)" if aborted else ""))
                if a.keep:
                    a.keep.mkdir(parents=True, exist_ok=True)
                    (a.keep / f"run{i}.log").write_text(done.stderr)
    print(f"{failed} of {a.runs} runs failed")


if __name__ == "__main__":
    main()
