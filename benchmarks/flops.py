"""Achieved training FLOP/s of one step of each family, as a fraction of this machine's measured
sgemm peak (a large fp32 ``torch.matmul``), side by side in one run (issue #20, item 6a).

    python benchmarks/flops.py [--threads N] [--out benchmarks/results/flops.csv]

FLOPs are counted by torch's FlopCounterMode on the meta device (``memae.runtime.step_flops``:
forward + backward of the matmuls and convolutions; elementwise work is not counted, so the
fraction is a lower bound of the machine's use). A step is what ``fit`` runs: forward, loss,
backward and a fused Adam update, on the family's bench-sized input and batch. ``bf16_vs_fp32``:
the step rate under bf16 autocast over the fp32 rate (mixed precision on this CPU).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from csvout import write_rows

from memae.fitting import reconstruction_loss
from memae.models import create_model
from memae.models.mlp import PAPER_KDD_HIDDEN
from memae.runtime import cpu_count, step_flops

# (name, variant, sample shape, batch, model options): the benches' settings
CASES = [
    ("KDD mlp (120-60-30-10-3, N=50)", "memae", (120,), 1024, {"hidden": list(PAPER_KDD_HIDDEN)}),
    ("MNIST conv2d (N=100)", "memae", (1, 28, 28), 64, {}),
    ("Ped2 `cpu` conv3d (16x128x128, 16-32-64-64, N=500)", "memae", (1, 16, 128, 128), 16,
     {"channels": [16, 32, 64, 64], "mem_slots": 500}),
    ("ARNet unet (MNIST)", "arnet", (1, 28, 28), 64, {}),
]  # fmt: skip


def sgemm_peak(n: int = 4096, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def step_rate(
    variant: str, shape: tuple, batch: int, options: dict, precision: str = "fp32", seconds=5.0
) -> tuple[float, float]:
    """-> (FLOPs per step, steps per second) of training steps on random data, under
    ``precision`` (``bf16``: autocast, as ``fit(precision="bf16")`` trains)."""
    options = dict(options)
    mem = options.pop("mem_slots", None)
    net = create_model(variant, shape, **options, **({"mem_slots": mem} if mem else {}))
    flops = step_flops(net, shape) * batch
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, fused=True)
    x = torch.rand(batch, *shape)
    net.train()

    dtype = torch.bfloat16 if precision == "bf16" else None

    def step() -> None:
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            rec, aux = reconstruction_loss(net, x)
        opt.zero_grad(set_to_none=True)
        (rec + aux).backward()
        opt.step()

    step()  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or count < 3:
        step()
        count += 1
    return flops, count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=cpu_count())
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/flops.csv"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = sgemm_peak()
    rows = [{"step": "sgemm 4096x4096 (peak)", "batch": "", "gflop_per_step": "",
             "steps_per_s": "", "gflops": f"{peak / 1e9:.1f}", "of_peak": "100%",
             "bf16_vs_fp32": ""}]  # fmt: skip
    for name, variant, shape, batch, options in CASES:
        flops, rate = step_rate(variant, shape, batch, options)
        _, bf16 = step_rate(variant, shape, batch, options, "bf16")
        rows.append(
            {
                "step": name,
                "batch": batch,
                "gflop_per_step": f"{flops / 1e9:.3g}",
                "steps_per_s": f"{rate:.3g}",
                "gflops": f"{flops * rate / 1e9:.2f}",
                "of_peak": f"{flops * rate / peak:.1%}",
                "bf16_vs_fp32": f"{bf16 / rate:.2f}",
            }
        )
        print(rows[-1], flush=True)
    write_rows(args.out, rows)
    print(f"threads {args.threads}")


if __name__ == "__main__":
    main()
