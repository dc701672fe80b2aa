"""`memae demo`: AE against MemAE on the embedded MNIST sample, with figures."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="AE vs MemAE on the embedded MNIST sample, with figures",
        description="Offline: trains AE and MemAE one-class on a digit of the "
        "6,000-digit MNIST sample shipped with memae and writes figures.",
    )
    p.add_argument("--out", default="memae_demo", metavar="DIR")
    p.add_argument("--digit", type=int, default=0, choices=range(10))
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from ..demo import DemoConfig, run_demo

    cfg = DemoConfig(
        digit=args.digit,
        epochs=args.epochs,
        seed=args.seed,
        limit=args.limit,
        verbose=not args.quiet,
    )
    aucs = run_demo(args.out, cfg)
    for name, auc in aucs.items():
        print(f"{name:<6} AUC {auc:.4f}")
    print(f"figures and results.json in {args.out}")
