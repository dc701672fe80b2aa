"""3-D conv family for clips (n, c, t, h, w): the paper's video net (released code)."""

from __future__ import annotations

from collections.abc import Sequence

from .base import Backbone
from .convnet import conv_pair, init_normal
from .registry import register_family

VIDEO_CHANNELS = (96, 128, 256, 256)
VIDEO_STRIDES = ((1, 2, 2), 2, 2, 2)  # 16x256x256 -> 2x16x16 positions, one query each


@register_family("conv3d", rank=4)
def build_conv3d(
    input_shape: tuple[int, ...], channels: Sequence[int] = VIDEO_CHANNELS
) -> Backbone:
    """3x3x3 convs, strides (1,2,2), 2, 2, 2; per-location memory of N = 2000 slots of C =
    channels[-1]. Pass smaller ``channels`` for a CPU-sized net."""
    if len(channels) != len(VIDEO_STRIDES):
        raise ValueError(f"conv3d takes {len(VIDEO_STRIDES)} channel widths, got {channels}")
    c, t, h, w = input_shape
    spec = [(3, s, int(ch)) for s, ch in zip(VIDEO_STRIDES, channels, strict=True)]
    encoder, decoder, latent = conv_pair(c, (t, h, w), spec)
    init_normal(encoder)
    init_normal(decoder)
    return Backbone(encoder, decoder, latent, memory_slots=2000, memory_on="location")
