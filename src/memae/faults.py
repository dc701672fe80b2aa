"""The one fault-injection hook (tests): ``MEMAE_KILL_AT`` names a point where this process is
killed; read once, at import. Production code calls ``point`` at a few places of a save, and
training steps are watched only when a point is named (``watch_batches``): a run without the
variable checks nothing per step.

Names: "epoch 2 batch 3" (after that step), "model weights", "model config", "model backup",
"model swap", "state ..." (the steps of a folder write); "int:NAME" sends SIGINT instead of
SIGKILL; "rank1:NAME" kills only rank 1 of a distributed job.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Iterator
from typing import TypeVar

KILL_AT = "MEMAE_KILL_AT"
WANTED: str | None = os.environ.get(KILL_AT) or None

T = TypeVar("T")


def point(name: str, rank: int = 0) -> None:
    """Kill this process here when ``MEMAE_KILL_AT`` names ``name``."""
    if WANTED is None:
        return
    if WANTED in (name, f"rank{rank}:{name}"):
        os.kill(os.getpid(), signal.SIGKILL)
    if f"int:{name}" == WANTED:
        os.kill(os.getpid(), signal.SIGINT)


def watch_batches(batches: Iterable[T], epoch: int, rank: int = 0) -> Iterable[T]:
    """``batches`` as they are, or, when a point is named, with ``point("epoch E batch I")``
    fired after each batch's step (when the next batch is asked for)."""
    if WANTED is None:
        return batches
    return _watched(batches, epoch, rank)


def _watched(batches: Iterable[T], epoch: int, rank: int) -> Iterator[T]:
    for i, batch in enumerate(batches):
        yield batch
        point(f"epoch {epoch + 1} batch {i + 1}", rank)
