"""Fully connected family for vectors (n, d): the paper's KDDCUP99 net, d-60-30-10-3 with tanh."""

from __future__ import annotations

from torch import nn

from .base import Backbone
from .registry import register_family


def _stack(widths: list[int], last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if last_activation or i < len(widths) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


@register_family("mlp", rank=1)
def build_mlp(input_shape: tuple[int, ...], hidden: tuple[int, ...] = (60, 30, 10, 3)) -> Backbone:
    """Encoder d -> hidden (tanh after each layer), mirrored decoder with a linear output.

    Memory: N = 50 slots on the C = hidden[-1] code (paper, Table 3).
    """
    (width,) = input_shape
    widths = [width, *hidden]
    # tanh after every layer but the network's last, so the code itself is tanh-bounded
    encoder = _stack(widths, last_activation=True)
    decoder = _stack(widths[::-1], last_activation=False)
    return Backbone(encoder, decoder, (hidden[-1],), memory_slots=50, memory_on="flat")
