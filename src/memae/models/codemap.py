"""Code-map family for images (n, c, h, w): a U-Net's encoder and decoder without skips, so
the code is a fine feature map (C, h / 4, w / 4 with the default widths) and everything the
decoder sees passes through it. Its memory reads one query per location (``memory_block=b``:
per b x b block), a granularity between MemAE's one query per image and the pixels: the
finer, the better both normal and abnormal inputs are rebuilt (the trade-off of Hou et al.,
ICCV 2021, "Divide-and-Assemble"). Which granularity suits a data set is chosen on its
validation data (``benchmarks/colour_sets.py --validation``; docs/results/images.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Backbone
from .registry import register_family
from .unet import build_unet


# addressing as conv2d's (cosine / 0.1, dead slots re-seeded): the paper's dot product
# collapses on images this size (benchmarks/collapse_study.py)
@register_family("map", rank=3, similarity="cosine", reseed=10)
def build_map(input_shape: tuple[int, ...], channels: Sequence[int] = (32, 64, 128)) -> Backbone:
    """Widths per level as the U-Net's; the code is the deepest level's map. N = 500 slots."""
    return build_unet(input_shape, channels, skips=0)
