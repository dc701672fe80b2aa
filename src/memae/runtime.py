"""How a fit or a scoring pass uses the machine: torch threads chosen, not inherited.

torch starts one intra-op thread per core. For the small nets memae builds for tables that
buys nothing, and on a machine that other jobs keep busy it costs 10-20x (threads wait on each
other's time slices). ``threads="auto"`` therefore takes one thread for a step too small to
share (``SMALL_STEP_FLOPS``), and otherwise no more threads than there are idle cores, shared
out among the processes of a ``torchrun`` job on this machine.
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Callable, Iterator

import torch
from torch import nn

from .errors import InputError
from .params import AUTO

THREADS_ENV = "MEMAE_THREADS"  # overrides ``threads="auto"`` (tests pin it; users may too)
# a step below this many FLOPs runs no faster on two threads than on one (measured on the tabular
# preset of a 10-column table, 38,700 FLOPs a row: on a 2-core Intel Xeon 2.7 ms per step at
# batch 512 with one thread or two, 6.0 against 4.7 ms at batch 2048; on a 2-core AMD EPYC an
# epoch of 1,800,000 rows at batch 640 13.5 and 11.1 s on two threads against 16.6 and 13.2 s
# on one: benchmarks/large_table.py _one TABLE 640 2|1)
SMALL_STEP_FLOPS = 1.5e7


def step_flops(net: nn.Module, sample_shape: tuple[int, ...], train: bool = True) -> float:
    """FLOPs per sample of a training step (forward and backward) or, ``train=False``, of a
    forward pass; counted on a copy of ``net`` on the meta device in eval mode, so nothing is
    computed and nothing (BatchNorm statistics, a memory's re-seeding) is updated."""
    from torch.utils.flop_counter import FlopCounterMode

    model = copy.deepcopy(net).to("meta").eval()  # a re-seeding memory counts its slots in
    # training, which the meta device cannot do
    x = torch.zeros((2, *sample_shape), device="meta")
    try:
        with FlopCounterMode(display=False) as counter:
            out = model(x)
            if train:
                ((out.reconstruction**2).mean() + out.aux_loss).backward()
    except RuntimeError:  # a forward the counter cannot follow (DSEBM's gradient of its input)
        params = sum(p.numel() for p in net.parameters())
        return float((6 if train else 2) * params)  # each weight used once per sample
    return counter.get_total_flops() / 2


def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_IDLE: dict[str, float] = {}  # the last measurement and when it was taken


def idle_cores(interval: float = 0.05, reuse: float = 2.0) -> float:
    """Cores that no process used over ``interval`` seconds (Linux /proc/stat; all of them
    where that is unavailable or counts other cores than this process may use); a measurement
    younger than ``reuse`` seconds is reused, so repeated scoring calls do not wait."""
    if time.monotonic() - _IDLE.get("at", -reuse) < reuse:
        return _IDLE["cores"]
    _IDLE["cores"] = _measure_idle(interval)
    _IDLE["at"] = time.monotonic()
    return _IDLE["cores"]


def _measure_idle(interval: float) -> float:
    try:
        before = _cpu_times()
        time.sleep(interval)
        after = _cpu_times()
    except OSError:
        return float(cpu_count())
    if before is None or after is None or before[2] != cpu_count():
        return float(cpu_count())
    busy, total = after[0] - before[0], after[1] - before[1]
    if total <= 0:
        return float(cpu_count())
    return cpu_count() * (1 - busy / total)


def _cpu_times() -> tuple[int, int, int] | None:
    """-> (busy jiffies, all jiffies, cores listed) from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as fh:
        lines = fh.read().splitlines()
    cores = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    fields = [int(v) for v in lines[0].split()[1:]]
    if len(fields) < 5:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8]), cores


def local_processes() -> int:
    """Processes of this ``torchrun`` job on this machine (1 outside torchrun)."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def resolve_threads(setting: int | str, flops_per_step: Callable[[], float]) -> int:
    """The intra-op threads for ``threads=setting`` and a step of ``flops_per_step()``."""
    if setting != AUTO:
        return int(setting)
    if os.environ.get(THREADS_ENV):
        try:
            return max(1, int(os.environ[THREADS_ENV]))
        except ValueError:
            raise InputError(f"{THREADS_ENV}={os.environ[THREADS_ENV]!r} is not a number") from None
    if flops_per_step() < SMALL_STEP_FLOPS:
        return 1
    share = cpu_count() // local_processes()
    return max(1, min(share, round(idle_cores() / local_processes())))


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block on ``n`` intra-op threads, then restore the process's setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
