"""Where a training step of the large table's net goes (issue #20, item 5): forward, backward
and Adam, for MemAE and for the same net without its memory (AE), at several batch sizes, side
by side in one process, one thread. The share of the memory bounds what a fused memory
addressing could gain; the AE step bounds what any change of the memory alone can reach.

    python benchmarks/step_time.py [--batches 64,256,512,1024] [--rounds 5] \\
        [--out benchmarks/results/step_time.csv]

Each figure is the median over ``--rounds`` alternating rounds of 200 steps (after 30 warm-up
steps) on random rows of the 10-column table's shape; ``per_row_us`` = step / batch.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from csvout import write_rows

from memae.fitting import reconstruction_loss
from memae.models import create_model

COLS, STEPS, WARMUP = 10, 200, 30


def timed(fn, x: torch.Tensor) -> float:
    """Seconds per call of ``fn`` over ``STEPS`` slices of ``x``."""
    b = len(x) // (STEPS + WARMUP)
    for i in range(WARMUP):
        fn(x[i * b : (i + 1) * b])
    start = time.perf_counter()
    for i in range(WARMUP, WARMUP + STEPS):
        fn(x[i * b : (i + 1) * b])
    return (time.perf_counter() - start) / STEPS


def parts(name: str) -> dict[str, object]:
    """The step and its parts for a fresh ``name`` net, as functions of one batch."""
    torch.manual_seed(0)
    net = create_model(name, (COLS,)).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)

    def forward(x: torch.Tensor) -> torch.Tensor:
        rec, aux = reconstruction_loss(net, x)
        return rec + aux

    def backward(x: torch.Tensor) -> None:
        loss = forward(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()

    def step(x: torch.Tensor) -> None:
        backward(x)
        opt.step()

    return {"forward": forward, "forward+backward": backward, "step": step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", default="64,256,512,1024")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/step_time.csv"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    nets = {name: parts(name) for name in ("memae", "ae")}
    rows = []
    for b in (int(v) for v in args.batches.split(",")):
        x = torch.rand(b * (STEPS + WARMUP), COLS)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):  # alternate, so that a change of load hits both alike
            for name, fns in nets.items():
                for part, fn in fns.items():  # the forward records its graph, as in training
                    times.setdefault((name, part), []).append(timed(fn, x))
        for (name, part), values in times.items():
            ms = statistics.median(values) * 1e3
            rows.append({"batch": b, "model": name, "part": part, "ms": round(ms, 4),
                         "per_row_us": round(ms * 1e3 / b, 3)})  # fmt: skip
        step = {n: statistics.median(times[(n, "step")]) for n in nets}
        print(f"batch {b}: step MemAE {step['memae'] * 1e3:.2f} ms, AE {step['ae'] * 1e3:.2f} ms "
              f"(the memory {1 - step['ae'] / step['memae']:.0%} of the step)")  # fmt: skip
    write_rows(args.out, rows)


if __name__ == "__main__":
    main()
