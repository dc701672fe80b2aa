"""Future-frame prediction family for clips (n, c, t, h, w): a U-Net over the ``context``
frames before a clip's last, stacked as channels, predicts that last frame (the prediction task
of Park et al., CVPR 2020, after Liu et al., CVPR 2018). The model's output and its error
cover the one predicted frame: (n, c, 1, h, w)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from .base import Backbone
from .registry import register_family
from .unet import UNetDecoder, UNetEncoder, checked_skips, level_sizes, unet_backbone


class ContextEncoder(nn.Module):
    """(B, c, T, h, w) -> U-Net encoding of frames T-1-context .. T-2 as (B, c*context, h, w)."""

    def __init__(self, channels_in: int, context: int, widths: Sequence[int]) -> None:
        super().__init__()
        self.context = context
        self.unet = UNetEncoder(channels_in * context, widths)

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        frames = x[:, :, x.shape[2] - 1 - self.context : x.shape[2] - 1]  # (B, c, K, h, w)
        return self.unet(frames.flatten(1, 2))


class FrameDecoder(nn.Module):
    """U-Net decoder whose output (B, c, h, w) is the predicted frame, (B, c, 1, h, w)."""

    def __init__(self, unet: UNetDecoder) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, z: Tensor, skips: list[Tensor]) -> Tensor:
        return self.unet(z, skips).unsqueeze(2)


@register_family("pred", rank=4)
def build_pred(
    input_shape: tuple[int, ...],
    channels: Sequence[int] = (8, 16, 32, 64, 64),
    context: int = 4,
    skips: int | None = None,
) -> Backbone:
    """Park et al. predict from 4 frames; widths 8-16-32-64-64 take 128x128 frames to 8x8x64
    (per-location memory). ``skips``: the coarsest levels that keep their skip (None: all)."""
    c, t, h, w = input_shape
    if not 1 <= context < t:
        raise ValueError(f"context must be in [1, {t - 1}] for clips of {t} frames, got {context}")
    sizes = level_sizes((h, w), len(channels))
    skips = checked_skips(channels, skips)
    encoder = ContextEncoder(c, int(context), channels)  # built first: the seed's draws as before
    unet = UNetDecoder(c, channels, sizes, skips)
    return unet_backbone(encoder, unet, channels, sizes, decoder=FrameDecoder(unet), predicts=1)
