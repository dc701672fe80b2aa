"""2-D conv family for images (n, c, h, w): the paper's MNIST and CIFAR-10 nets."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .base import Backbone
from .convnet import LayerSpec, conv_pair
from .registry import register_family

MNIST_LAYERS: list[LayerSpec] = [(3, 2, 32), (3, 2, 16), (3, 3, 8)]  # 1x28x28 -> 8x3x3, N = 100
CIFAR_LAYERS: list[LayerSpec] = [(3, 2, 64), (3, 2, 128), (3, 2, 128), (3, 2, 256)]  # -> 256x2x2


def default_layers(channels: int, height: int, width: int) -> list[LayerSpec]:
    """MNIST spec for grayscale, CIFAR-10 spec for colour; inputs larger than 32 pixels get extra
    stride-2 layers in front until they are down to about 32, so the flat code stays small."""
    base = MNIST_LAYERS if channels == 1 else CIFAR_LAYERS
    extra = max(0, math.ceil(math.log2(max(height, width) / 32)))
    return [(3, 2, base[0][2])] * extra + list(base)


# The paper's dot-product addressing collapses on images larger than MNIST (one to three slots
# take every query; benchmarks/collapse_study.py): cosine / 0.1 with dead slots re-seeded every
# 10 batches keeps 77-158 effective slots there. similarity="dot", reseed=0 is the paper's.
@register_family("conv2d", rank=3, similarity="cosine", reseed=10)
def build_conv2d(
    input_shape: tuple[int, ...], layers: Sequence[Sequence[int]] | None = None
) -> Backbone:
    """Memory: one query per image on the flattened code; N = 100 (grayscale) or 500 (colour)."""
    channels, height, width = input_shape
    spec = [tuple(x) for x in layers] if layers else default_layers(channels, height, width)
    encoder, decoder, latent = conv_pair(channels, (height, width), spec)
    slots = 100 if channels == 1 else 500
    return Backbone(encoder, decoder, latent, memory_slots=slots, memory_on="flat")
