"""Training over several processes on torch's own engine: ``torch.distributed`` as ``torchrun``
starts it (no launcher of memae's own).

Under ``torchrun`` every process (rank) runs the same ``fit`` on the same data and seed, so all
draw the same split and the same shuffled global batches; each rank computes its share of each
global batch, DistributedDataParallel averages the gradients, and the loss is weighted so that
the average is the gradient of the global batch's mean: ``batch_size`` is the global batch, and
N ranks fit what one process fits (up to rounding). Losses, scores and memory statistics are
gathered over the ranks, so every rank ends with the same fitted detector; rank 0 alone writes.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from .errors import InputError

TIMEOUT_ENV = "MEMAE_DIST_TIMEOUT"  # seconds a rank waits for the others before failing
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class World:
    """This process's place in the job: ``rank`` of ``size`` processes, ``local_rank`` on its
    machine; ``backend`` is None for a single process."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def main(self) -> bool:
        return self.rank == 0

    def part(self, items: Tensor) -> Tensor:
        """This rank's contiguous share of ``items`` (shares differ in size by at most 1)."""
        return items.tensor_split(self.size)[self.rank] if self.size > 1 else items

    def describe(self) -> dict[str, Any]:
        return {"world_size": self.size, "backend": self.backend}


ONE = World()  # a single process


SWITCH_ENV = "MEMAE_DISTRIBUTED"  # "0": fit in this process alone, even under a launcher


def launched() -> bool:
    """Started by torchrun (or another launcher setting its variables) with more than one rank,
    and not told otherwise by ``MEMAE_DISTRIBUTED=0``."""
    if os.environ.get(SWITCH_ENV, "1") == "0":
        return False
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_first_rank() -> bool:
    """Rank 0 or a single process; before the process group exists, torchrun's ``RANK``."""
    if dist.is_available() and dist.is_initialized():
        return current().main
    return not launched() or int(os.environ.get("RANK", "0")) == 0


def current() -> World:
    """The job this process is in: the initialised process group, or one process."""
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        return World(dist.get_rank(), dist.get_world_size(), local, dist.get_backend())
    return World()


def join(device: torch.device) -> World:
    """Join torchrun's process group when this process was started by it (nccl on CUDA, gloo on
    CPU; ``MEMAE_DIST_TIMEOUT`` seconds for a rank that does not answer), once per process; the
    group ends when the process exits."""
    if not launched() or (dist.is_available() and dist.is_initialized()):
        return current()
    if not dist.is_available():
        raise InputError("this torch build has no torch.distributed; run one process")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":  # each rank's collectives on its own GPU
        torch.cuda.set_device(device)
    timeout = timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT)))
    _import_group_defaults()
    dist.init_process_group(backend, timeout=timeout)
    # ended while the interpreter is whole: a group left to its teardown can abort the process
    # from gloo's threads ("terminate called without an active exception", pytorch#190489)
    atexit.register(leave)
    return current()


def _import_group_defaults() -> None:
    """Import, before the group exists, the torch modules whose functions take
    ``group=group.WORLD`` as a default: imported later (DistributedDataParallel imports
    ``torch.distributed.nn.functional`` through ``torch.distributed._shard``), ten defaults hold
    the group past ``destroy_process_group``, its gloo threads live on into the interpreter's
    teardown, and rank 0 was seen to abort there. Imported first, the defaults are None."""
    import torch.distributed.nn.functional  # noqa: F401
    import torch.nn.parallel.distributed  # noqa: F401


def check_same(world: World, what: str, value: Any) -> None:
    """Every rank must have loaded the same data and settings (one split, one schedule)."""
    values = gather(world, value)
    if any(v != values[0] for v in values):
        raise InputError(
            f"the ranks disagree on the {what} ({values}): every rank must read the same data "
            "with the same settings"
        )


def broadcast_buffers(world: World, module: torch.nn.Module) -> None:
    """Rank 0's buffers (BatchNorm statistics, which each rank updates with its own share) on
    every rank, so that all validate, keep and score the same model."""
    if world.size == 1:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src=0)


def local_device(device: torch.device) -> torch.device:
    """Under torchrun, a bare ``cuda`` means this rank's own GPU (``LOCAL_RANK``)."""
    if launched() and device.type == "cuda" and device.index is None:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def leave() -> None:
    """End the process group, if there is one (at exit, registered by ``join``), once every rank
    has come this far: a rank that tore its group down while another still wrote (rank 0 saving
    the model) could abort that one from gloo's threads. What the fits left in reference
    cycles is collected first, while the interpreter is whole, so that the group and its
    gloo threads end here, not in the interpreter's teardown (see ``_import_group_defaults``)."""
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        with contextlib.suppress(RuntimeError):  # a rank already gone: nothing to wait for
            dist.barrier()
        dist.destroy_process_group()


def sum_all(world: World, *values: float) -> list[float]:
    """Each value summed over the ranks (float64)."""
    if world.size == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_device(world))
    dist.all_reduce(t)
    return t.tolist()


def gather(world: World, obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable: arrays, dicts), in rank order, on every rank."""
    if world.size == 1:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def _device(world: World) -> torch.device:
    if world.backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
