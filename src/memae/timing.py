"""Wall time spent inside one sub-module, e.g. the memory's share of a model's inference."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class ModuleTime:
    seconds: float = 0.0
    calls: int = 0


@contextmanager
def module_time(module: nn.Module | None) -> Iterator[ModuleTime]:
    """Adds up the seconds spent in ``module``'s forward while the block runs (CUDA work is
    synchronised at both ends of each call, so the figure is real device time). ``None``
    yields a zero record, so callers need not special-case models without the module."""
    record = ModuleTime()
    if module is None:
        yield record
        return
    started: list[float] = []

    def sync(t: torch.Tensor) -> None:
        if t.is_cuda:
            torch.cuda.synchronize(t.device)

    def before(_: nn.Module, args: tuple) -> None:
        if args and isinstance(args[0], torch.Tensor):
            sync(args[0])
        started.append(time.perf_counter())

    def after(_: nn.Module, args: tuple, out: object) -> None:
        if args and isinstance(args[0], torch.Tensor):
            sync(args[0])
        record.seconds += time.perf_counter() - started.pop()
        record.calls += 1

    handles = [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    try:
        yield record
    finally:
        for h in handles:
            h.remove()
