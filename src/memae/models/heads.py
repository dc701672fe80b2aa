"""Scoring heads: what a model scores besides its reconstruction. A head sees the input, the
code and the reconstruction of a batch and returns each sample's anomaly score (higher = more
anomalous) and the scalar it adds to the training loss; the model's output carries that score,
and the one scoring path (``memae.scoring.Scorer``) reports it instead of the reconstruction
error. Each head is one file (``dagmm.py``, ``dcn.py``), registered here with its settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

# builder(settings, code width) -> Head
HeadBuilder = Callable[[dict[str, Any], int], "Head"]


@dataclass(frozen=True)
class HeadEntry:
    build: HeadBuilder
    defaults: dict[str, Any]


HEADS: dict[str, HeadEntry] = {}


def register_head(name: str, **defaults: Any) -> Callable[[HeadBuilder], HeadBuilder]:
    """Register ``name``'s builder with its settings and their defaults."""

    def wrap(build: HeadBuilder) -> HeadBuilder:
        HEADS[name] = HeadEntry(build, defaults)
        return build

    return wrap


def build_head(name: str, settings: dict[str, Any], width: int) -> Head:
    entry = HEADS[name]
    return entry.build({k: settings.get(k, v) for k, v in entry.defaults.items()}, width)


class Head(nn.Module):
    """(x (B, *shape), code (B, C), reconstruction (B, *shape)) -> (score (B,), loss term)."""

    def forward(self, x: Tensor, z: Tensor, x_hat: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError
