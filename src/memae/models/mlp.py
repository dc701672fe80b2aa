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


PAPER_KDD_HIDDEN = (60, 30, 10, 3)  # the KDDCUP99 net: 120-60-30-10-3


def auto_hidden(width: int) -> tuple[int, ...]:
    """The tabular preset: the paper's KDD proportions scaled to any width,
    d -> d/2 -> d/4 -> d/12 -> d/40 (120 gives exactly 60-30-10-3), with floors so that
    narrow tables keep a code of at least 2 and layers of at least 3 units."""
    code = max(2, round(width / 40))
    h3 = max(code + 1, round(width / 12))
    h2 = max(h3, round(width / 4))
    h1 = max(h2, round(width / 2))
    return (h1, h2, h3, code)


@register_family("mlp", rank=1)
def build_mlp(input_shape: tuple[int, ...], hidden: tuple[int, ...] | None = None) -> Backbone:
    """Encoder d -> hidden (tanh after each layer), mirrored decoder with a linear output.

    ``hidden`` defaults to ``auto_hidden(d)``. Memory: N = 50 slots on the C = hidden[-1]
    code (paper, Table 3).
    """
    (width,) = input_shape
    widths = [width, *(hidden or auto_hidden(width))]
    # tanh after every layer but the network's last, so the code itself is tanh-bounded
    encoder = _stack(widths, last_activation=True)
    decoder = _stack(widths[::-1], last_activation=False)
    return Backbone(encoder, decoder, (widths[-1],), memory_slots=50, memory_on="flat")
