"""Training and inference throughput of AE vs MemAE on the MNIST-size model, side by side.

    python benchmarks/speed.py [--device cpu] [--rounds 5] [--out benchmarks/results/speed.json]
    python benchmarks/speed.py --compile [--out ...]   # also each model under torch.compile
    python benchmarks/speed.py --channels-last [--out ...]   # also in the channels-last layout
    python benchmarks/speed.py --jobs 2 [--out ...]   # also 2 training processes at once

Both models see the same batches of the embedded MNIST sample; rounds alternate AE and MemAE so
that machine noise hits both alike. Reports samples/s (median over rounds) and the MemAE/AE time
ratio (the paper: the memory costs little). With ``--compile`` ARNet's MNIST U-Net (16-32-64)
joins, and every model is also timed through ``torch.compile`` in the same rounds (compilation
happens in the warm-up), giving the compiled / eager speed-up per model. ``--channels-last``
likewise times every model (weights and batches) in the channels-last memory layout
(``MemAEDetector(channels_last=True)``), giving its speed-up per model. ``--jobs N`` also
trains AE and MemAE in N processes at once, each with its share of the threads (as ``memae bench
image --jobs N`` does), and gives their total training samples/s against the one process.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import platform
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import torch

import memae
from memae.bench.common import job_threads
from memae.data.sample import load_mnist_sample
from memae.models import create_model


def throughput(model, x: torch.Tensor, batch: int, train: bool, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train(train)
    n = 0
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    for i in range(steps):
        xb = x[(i * batch) % (len(x) - batch) :][:batch]
        if train:
            out = model(xb)
            loss = ((out.reconstruction - xb) ** 2).mean() + out.aux_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model(xb)
        n += len(xb)
    sync()
    return n / (time.perf_counter() - start)


def _sample(device: str = "cpu") -> torch.Tensor:
    """The embedded MNIST sample as (n, 1, 28, 28) floats in [0, 1]."""
    return torch.from_numpy(load_mnist_sample()[0]).float().div(255).to(device)


def _train_job(name: str, threads: int, steps: int, barrier: Any, spans: Any) -> None:
    """One of the parallel jobs: warm up, wait for the others, time ``steps`` training steps."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = _sample()
    model = create_model(name, (1, 28, 28))
    throughput(model, x, 64, True, 5)
    barrier.wait()
    start = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
    throughput(model, x, 64, True, steps)
    spans.put((start, time.perf_counter()))


def parallel_throughput(name: str, jobs: int, steps: int) -> float:
    """Total training samples/s of ``jobs`` processes training ``name`` at once on the CPU."""
    ctx = multiprocessing.get_context("spawn")
    barrier, spans = ctx.Barrier(jobs), ctx.Queue()
    procs = [
        ctx.Process(target=_train_job, args=(name, job_threads(jobs), steps, barrier, spans))
        for _ in range(jobs)
    ]
    for proc in procs:
        proc.start()
    done = [spans.get() for _ in procs]
    for proc in procs:
        proc.join()
    wall = max(end for _, end in done) - min(start for start, _ in done)
    return jobs * steps * 64 / wall


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--train-steps", type=int, default=60)
    ap.add_argument("--infer-steps", type=int, default=20)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd models")
    ap.add_argument(
        "--channels-last", action="store_true", help="also time the channels-last layout"
    )
    ap.add_argument("--jobs", type=int, default=1, help="also time this many parallel jobs")
    ap.add_argument("--out", help="write the figures as JSON here")
    return ap.parse_args()


def _models(args: argparse.Namespace, x: torch.Tensor) -> tuple[dict, dict]:
    """-> (name -> module, name -> its input): AE and MemAE, and their compiled or
    channels-last twins (with an ARNet) where asked."""
    models = {n: create_model(n, (1, 28, 28)).to(args.device) for n in ("ae", "memae")}
    if args.compile or args.channels_last:
        models["arnet"] = create_model("arnet", (1, 28, 28), channels=(16, 32, 64)).to(args.device)
    inputs = dict.fromkeys(models, x)
    for n, m in list(models.items()):
        if args.compile:
            models[f"{n} compiled"], inputs[f"{n} compiled"] = torch.compile(m), x
        if args.channels_last:
            models[f"{n} channels-last"] = copy.deepcopy(m).to(memory_format=torch.channels_last)
            inputs[f"{n} channels-last"] = x.contiguous(memory_format=torch.channels_last)
    return models, inputs


def _measure(args: argparse.Namespace, models: dict, inputs: dict) -> tuple[dict, dict]:
    """-> (median samples/s per model for train and infer, parallel-jobs runs per model)."""
    for name, m in models.items():  # warm-up
        throughput(m, inputs[name], 64, True, 5)
        throughput(m, inputs[name], 256, False, 3)
    rates: dict[str, dict[str, list[float]]] = {n: {"train": [], "infer": []} for n in models}
    parallel: dict[str, list[float]] = {"ae": [], "memae": []} if args.jobs > 1 else {}
    for _ in range(args.rounds):
        for name, m in models.items():
            rates[name]["train"].append(throughput(m, inputs[name], 64, True, args.train_steps))
            rates[name]["infer"].append(throughput(m, inputs[name], 256, False, args.infer_steps))
        for name, runs in parallel.items():
            runs.append(parallel_throughput(name, args.jobs, args.train_steps))
    med = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in rates.items()}
    return med, parallel


def _variant_speedups(args: argparse.Namespace, med: dict, result: dict) -> None:
    variants = {"compiled": args.compile, "channels-last": args.channels_last}
    for variant, on in variants.items():
        if not on:
            continue
        speedup = {
            n: {k: med[f"{n} {variant}"][k] / med[n][k] for k in ("train", "infer")}
            for n in ("ae", "memae", "arnet")
        }
        key = "speedup_compiled_over_eager" if variant == "compiled" else f"speedup_{variant}"
        result[key.replace("-", "_")] = speedup
        for n, r in speedup.items():
            print(f"{variant} speed-up, {n}: train {r['train']:.2f}x, infer {r['infer']:.2f}x")


def _parallel_report(args: argparse.Namespace, med: dict, parallel: dict, result: dict) -> None:
    if not parallel:
        return
    jobs_rate = {n: statistics.median(v) for n, v in parallel.items()}
    result["parallel_jobs"] = {
        "jobs": args.jobs,
        "threads_per_job": job_threads(args.jobs),
        "train_samples_per_s": jobs_rate,
        "speedup_over_one_job": {n: jobs_rate[n] / med[n]["train"] for n in jobs_rate},
    }
    for n, rate in jobs_rate.items():
        print(
            f"{args.jobs} jobs at once, {n}: {rate:.0f} training samples/s in all, "
            f"{rate / med[n]['train']:.2f}x one job"
        )


def main() -> None:
    args = _parse()
    torch.manual_seed(0)
    models, inputs = _models(args, _sample(args.device))
    med, parallel = _measure(args, models, inputs)
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "device": str(args.device)
        + (f" ({torch.cuda.get_device_name()})" if str(args.device).startswith("cuda") else ""),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "memae": memae.__version__,
        "train_batch": 64,
        "infer_batch": 256,
        "samples_per_s": med,
        "time_ratio_memae_over_ae": {k: med["ae"][k] / med["memae"][k] for k in ("train", "infer")},
    }
    print(f"{'model':<21} {'train samples/s':>16} {'infer samples/s':>16}")
    for n, r in med.items():
        print(f"{n:<21} {r['train']:>16.0f} {r['infer']:>16.0f}")
    ratio = result["time_ratio_memae_over_ae"]
    print(f"time ratio MemAE/AE: train {ratio['train']:.3f}, inference {ratio['infer']:.3f}")
    _variant_speedups(args, med, result)
    _parallel_report(args, med, parallel, result)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
