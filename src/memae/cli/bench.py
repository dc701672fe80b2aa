"""`memae bench image|tabular|video`: the papers' tables (``memae.bench``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import distributed
from ..errors import InputError
from .options import COMPILE_HELP, add_bench_options, image_size, int_list, str_list


def register(sub: Any) -> None:
    bench = sub.add_parser("bench", help="reproduce the papers' tables (image, tabular, video)")
    kinds = bench.add_subparsers(dest="kind", required=True, metavar="KIND")
    p = kinds.add_parser(
        "image",
        help="one-class image table (MemAE Table 1), MVTec AD",
        description="Per class and seed: train each model on the normal class "
        "and write OUT/results.csv, OUT/results.md and OUT/figures/. Rerunning "
        "skips rows already in results.csv and resumes a fit in progress (OUT/state).",
    )
    p.add_argument(
        "--dataset",
        required=True,
        choices=["mnist", "fashion-mnist", "cifar10", "cifar100", "folder", "mvtec"],
    )
    p.add_argument(
        "--data-dir",
        required=True,
        metavar="DIR",
        help="IDX files, CIFAR batches, a class-per-folder tree or an MVTec category",
    )
    p.add_argument("--protocol", default="paper", choices=["paper", "standard"])
    p.add_argument("--classes", type=int_list, help="class indices, e.g. 0,3 (default: all)")
    p.add_argument(
        "--models",
        type=str_list,
        default=["ae", "memae"],
        help="comma-separated: ocsvm, kde, vae, pixcnn, dsebm, ae, ae-l1, memae-nonspar, "
        "memae, memae-noshrink, memae-noentropy, arnet, arnet-mem, dagmm, dcn, or all (Table "
        "1's rows and ARNet); options as memae:similarity=cosine:temperature=0.1",
    )
    p.add_argument("--seeds", type=int_list, default=[0])
    p.add_argument(
        "--image-size",
        type=image_size,
        metavar="HxW",
        help="resize folder / MVTec images (MVTec default 128x128)",
    )
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="models trained at once, in worker processes sharing the CPU threads "
        "(2 on a 2-core CPU: 1.2-1.3x the throughput for the small MNIST nets)",
    )
    add_bench_options(p)
    p.set_defaults(func=run)

    p = kinds.add_parser(
        "tabular",
        help="KDDCUP99 (MemAE Table 3) or the ODDS suite",
        description="KDDCUP99 with the DAGMM protocol (--dataset kddcup99) or "
        "every ODDS .mat file of a folder (--suite odds). Rerunning skips rows "
        "already in OUT/results.csv and resumes a fit in progress (OUT/state).",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--dataset", choices=["kddcup99"])
    what.add_argument("--suite", choices=["odds"])
    p.add_argument("--data-dir", required=True, metavar="DIR")
    p.add_argument(
        "--models",
        type=str_list,
        help="default: ocsvm,ae,memae-nonspar,memae (KDD) or ae,memae (ODDS), plus "
        "iforest,pyod-ae,ecod when PyOD is installed; also dagmm, dcn, dsebm, and "
        "memae:epochs=0 (the untrained floor)",
    )
    p.add_argument("--runs", type=int, default=20, help="KDD runs (seeds 0..runs-1)")
    p.add_argument("--seeds", type=int_list, default=[0, 1, 2, 3, 4], help="ODDS seeds")
    p.add_argument(
        "--sources",
        type=str_list,
        default=["raw", "npz"],
        help="KDD input files: raw (kddcup.data_10_percent.gz), npz (kdd_cup.npz)",
    )
    p.add_argument(
        "--protocol",
        default="paper",
        choices=["paper", "code"],
        help="KDD: paper = the DAGMM/MemAE papers' 50/50 split, top 20%% of test scores "
        "flagged; code = the widely copied DAGMM code (half of the normal class trains; the "
        "threshold is the 80th percentile of training and test scores together)",
    )
    add_bench_options(p)
    p.set_defaults(func=run)

    p = kinds.add_parser(
        "video",
        help="frame-level AUC on surveillance video (MemAE Table 2)",
        description="Train on clips of the training videos, score every test frame, report "
        "micro / macro frame AUC and pixel AUROC. Layouts: training/frames + testing/frames "
        "(Ped2, Avenue, ShanghaiTech), or UCSD's Train/Test. Rerunning skips rows already "
        "in OUT/results.csv and resumes a fit in progress (OUT/state).",
    )
    p.add_argument("--dataset", default="ped2", help="a name for the table (default ped2)")
    p.add_argument("--data-dir", required=True, metavar="DIR")
    p.add_argument(
        "--config",
        default="cpu",
        choices=["paper", "paper-short", "cpu", "cpu-small"],  # memae.bench.video.CONFIGS
        help="paper: 256x256, channels 96-128-256-256, N = 2000; paper-short: the same on "
        "every 2nd training clip for 30 epochs; cpu: 128x128, 16-32-64-64, N = 500; "
        "cpu-small: 64x64 (see memae.bench.video.CONFIGS)",
    )
    p.add_argument(
        "--models",
        type=str_list,
        default=["ae", "memae"],
        help="ae, memae, memae-nonspar, ae-l1, memae-noshrink, memae-noentropy",
    )
    p.add_argument("--seeds", type=int_list, default=[0])
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    add_bench_options(p)
    p.set_defaults(func=run)


GLOBAL_DESTS = {"command", "kind", "func", "verbose", "debug", "argv", "no_figures"}


def bench_from_args(args: argparse.Namespace):
    """-> (module memae.bench.<kind>, its Bench built from the parsed flags). Every flag must
    name a field of the Bench, so renaming a field breaks loudly instead of losing its flag."""
    import dataclasses
    import importlib

    module = importlib.import_module(f"memae.bench.{args.kind}")
    fields = {f.name for f in dataclasses.fields(module.Bench)}
    flags = {k: v for k, v in vars(args).items() if k not in GLOBAL_DESTS}
    stray = sorted(set(flags) - fields)
    if stray:
        raise RuntimeError(f"bench {args.kind}: flags {stray} name no field of {module.Bench}")
    values = {
        **flags,
        "data_dir": Path(args.data_dir),
        "out": Path(args.out),
        "command": "memae " + " ".join(args.argv),
    }
    if "figures" in fields:
        values["figures"] = not args.no_figures
    if values.get("models") == ["all"] and hasattr(module, "ALL_MODELS"):
        values["models"] = list(module.ALL_MODELS)
    return module, module.Bench(**values)


def run(args: argparse.Namespace) -> None:
    """Build the bench of ``args.kind`` (memae.bench.<kind>) from its flags and run it."""
    if distributed.launched() and args.kind != "video":
        raise InputError(
            f"memae bench {args.kind} trains small nets: run it in one process (--jobs N for "
            "models in parallel); torchrun is for memae bench video and memae train"
        )
    module, bench = bench_from_args(args)
    module.run(bench)
    if distributed.is_first_rank():  # rank 0 wrote it
        print((Path(args.out) / "results.md").read_text(encoding="utf-8"))
