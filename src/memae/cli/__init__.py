"""The ``memae`` command: train, score, export, evaluate, demo, bench, one module per verb
(each ``register``s its parser and ``run``s it). Thin: parse, call the library, report.

Every failure ends as one line on stderr (``memae: error: ...``) and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..errors import MemAEError
from ..version import __version__
from . import bench, demo, evaluate, export, score, train
from .bench import GLOBAL_DESTS, bench_from_args
from .options import CLI_DEFAULTS
from .train import train_state_dir

__all__ = [
    "CLI_DEFAULTS",
    "GLOBAL_DESTS",
    "bench_from_args",
    "build_parser",
    "main",
    "train_state_dir",
]
VERBS = (train, score, export, evaluate, demo, bench)


class UsageError(MemAEError):
    """A command line that does not parse."""


class _Parser(argparse.ArgumentParser):
    """Parse errors are one line, like every other error (``main`` prints them)."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="memae",
        description="Memory-augmented autoencoders (MemAE) for unsupervised anomaly detection.",
    )
    parser.add_argument("--version", action="version", version=f"memae {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for verb in VERBS:
        verb.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"memae: error: {exc}", file=sys.stderr)
        return 2
    args.argv = argv  # stamped into benchmark results
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("memae: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (`| head`): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (MemAEError, OSError, ValueError, FloatingPointError) as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"memae: error: {message}", file=sys.stderr)
        return 1
    return 0
