"""`memae train DATA --out MODEL_DIR`: fit a detector on normal data and save it."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from pathlib import Path
from typing import Any

from .. import distributed, persist
from ..data.readers import Loaded, read_labels
from ..detector import MemAEDetector
from ..errors import CheckpointError, InputError
from ..fitting import TrainingStopped, request_stop
from ..params import PARAMS
from .options import TRAIN_PARAMS, add_data_options, add_param_options, class_value, output, read


def register(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a detector on normal data -> model folder",
        description="Train on DATA (.npy/.npz/.csv/.mat/MNIST IDX/image folder).",
    )
    p.add_argument("data", metavar="DATA")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="folder to save the model")
    add_param_options(p)
    p.add_argument("--labels", metavar="FILE", help="labels of DATA, to select --normal-class")
    p.add_argument("--normal-class", metavar="K", help="train only on samples of this class")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the run plan (every auto setting resolved: epochs, batch, lr, scaling, "
        "device, threads, workers) and stop: nothing is trained or written",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run whose training state (saved after epochs in "
        "OUT.train-state, until the model is saved) a stop or a crash left, from its last "
        "saved epoch",
    )
    add_data_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    if not args.dry_run:
        output(args.out, "--out", args.data, args.labels)
    data = read(args, args.data)
    X = _normal_rows(args, data)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for the model")
    params = {p.name: getattr(args, p.name) for p in PARAMS if p.name in TRAIN_PARAMS}
    det = MemAEDetector(**params, verbose=0 if args.quiet else 1)
    if args.dry_run:  # the plan, every auto setting resolved; nothing trained or written
        print(
            f"memae train {args.model} on {args.data}: would train with\n{det.plan(X).describe()}"
        )
        return
    state = train_state_dir(out)
    with _stop_on_signals(state, args.resume):
        det.fit(X, encoder=data.encoding, state_dir=state, resume=args.resume, keep_state=True)
    det.save(out)  # written by rank 0 of a torchrun job
    if not distributed.current().main:
        return
    persist.remove(state)  # the model is saved: the state has done its work
    usage = det.memory_usage_
    extra = (
        (
            f", memory: {usage['slots_addressed']}/{usage['num_slots']} slots used, "
            f"{usage['effective_slots']:.1f} effective, "
            f"{usage['mean_nonzero_per_query']:.1f} non-zero weights per query"
        )
        if usage
        else ""
    )
    print(
        f"trained {args.model} on {len(X)} samples of shape {det.input_shape_}; best epoch "
        f"{det.history_.best_epoch + 1}, threshold {det.threshold_:.6g}{extra}; saved to {out}"
    )


def _normal_rows(args: argparse.Namespace, data: Loaded) -> Any:
    """The samples to train on: all, or those of ``--normal-class``."""
    if args.normal_class is None:
        return data.X
    labels = read_labels(args.labels) if args.labels else data.y
    if labels is None:
        raise InputError("--normal-class needs labels: pass --labels FILE or --label-column")
    if len(labels) != len(data.X):
        raise InputError(f"{len(data.X)} samples but {len(labels)} labels")
    X = data.X[labels == class_value(labels, args.normal_class)]
    if len(X) == 0:
        raise InputError(f"no samples of class {args.normal_class!r} in {args.data}")
    return X


def train_state_dir(out: Path) -> Path:
    """Where `memae train --out OUT` keeps its training state until the model is saved."""
    return out.parent / f"{out.name}.train-state"


@contextlib.contextmanager
def _stop_on_signals(state: Path, resume: bool):
    """SIGINT and SIGTERM stop training at the next batch boundary; the error then says how
    to resume from the state of the last saved epoch (and a state that cannot be resumed, how
    to start over)."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except TrainingStopped as stop:
        raise InputError(
            f"stopped after {stop.epoch} complete epoch(s); the model was not saved (an earlier "
            f"one is untouched); the training state is in {state}: run the same command with "
            "--resume to continue from its last saved epoch"
        ) from None
    except CheckpointError as exc:
        if not resume:
            raise
        raise CheckpointError(f"{exc}; train without --resume to start over") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
