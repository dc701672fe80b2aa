"""The run plan: every ``auto`` setting of a fit resolved in one place, before training.

``MemAEDetector.plan(X)`` gives it without training (``memae train --dry-run`` prints it);
``fit`` trains by it and keeps it as ``plan_``, which the model folder's config.json records.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunPlan:
    family: str  # the backbone the model is built on
    samples: int  # training samples given
    train_rows: int  # of them, trained on
    held_out: int  # of them, held out for the best epoch and the threshold
    epochs: int
    batch_size: int
    lr: float
    scaling: str  # minmax | global | standard | none
    device: str
    ranks: int  # processes of a torchrun job (1: one process)
    threads: int  # torch threads of each process
    loader_workers: int  # DataLoader workers (Dataset inputs)
    inference_batch_size: int
    precision: str

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """One line per setting, for people."""
        return "\n".join(f"{k}: {v}" for k, v in self.as_dict().items())
