"""U-Net family for images (n, c, h, w): ARNet's restoration network.

Each level: two 3x3 conv + BN + LeakyReLU; down by a stride-2 conv, up by a stride-2
transposed conv (output_padding chosen per level, so any size works) and, on the coarsest
``skips`` levels, a skip connection (all levels by default: a U-Net; 0: a plain
encoder-decoder). The bottleneck (none, or MemAE's memory per location) sits at the deepest
level.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .base import Backbone
from .registry import register_family


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, 1, 1),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2),
        nn.Conv2d(cout, cout, 3, 1, 1),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2),
    )


class UNetEncoder(nn.Module):
    def __init__(self, in_ch: int, channels: Sequence[int]) -> None:
        super().__init__()
        self.stem = _block(in_ch, channels[0])
        self.downs = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(a, b, 3, 2, 1), nn.BatchNorm2d(b), nn.LeakyReLU(0.2), _block(b, b)
            )
            for a, b in zip(channels[:-1], channels[1:], strict=True)
        )

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        h = self.stem(x)  # (B, c0, H, W)
        skips = []
        for down in self.downs:
            skips.append(h)
            h = down(h)  # channels up, size halved (rounded up)
        return h, skips


class UNetDecoder(nn.Module):
    def __init__(
        self, out_ch: int, channels: Sequence[int], sizes: Sequence[tuple[int, int]], skips: int
    ):
        super().__init__()
        levels = len(channels) - 1
        self.skip = [i >= levels - skips for i in range(levels)]  # level 0 = full resolution
        self.ups = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for i in range(levels):
            big, small = sizes[i], sizes[i + 1]
            pad = tuple(b - (2 * s - 1) for b, s in zip(big, small, strict=True))
            self.ups.append(
                nn.ConvTranspose2d(channels[i + 1], channels[i], 3, 2, 1, output_padding=pad)
            )
            self.fuse.append(_block((2 if self.skip[i] else 1) * channels[i], channels[i]))
        self.head = nn.Conv2d(channels[0], out_ch, 1)

    def skip_shapes(
        self, channels: Sequence[int], sizes: Sequence[tuple[int, int]]
    ) -> dict[int, tuple[int, ...]]:
        """(C, h, w) of each level whose skip this decoder takes."""
        return {i: (int(channels[i]), *sizes[i]) for i, used in enumerate(self.skip) if used}

    def forward(self, z: Tensor, skips: list[Tensor]) -> Tensor:
        h = z
        for i in range(len(self.ups) - 1, -1, -1):
            h = self.ups[i](h)  # (B, c_i, H_i, W_i)
            h = self.fuse[i](torch.cat([h, skips[i]], dim=1) if self.skip[i] else h)
        return self.head(h)


def level_sizes(size: tuple[int, int], levels: int) -> list[tuple[int, int]]:
    """(h, w) of each level: the input's, then halved (rounded up) at each stride-2 conv."""
    sizes = [tuple(size)]
    for _ in range(levels - 1):
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    return sizes


@register_family("unet", rank=3)
def build_unet(
    input_shape: tuple[int, ...], channels: Sequence[int] = (32, 64, 128), skips: int | None = None
) -> Backbone:
    """Default widths 32-64-128: 28x28 digits -> 7x7x128 at the bottom; pass more levels for
    larger images (e.g. (32, 64, 128, 256, 256) for 256x256 textures). ``skips``: how many of
    the coarsest levels keep their skip connection (None: all)."""
    c, h, w = input_shape
    sizes = level_sizes((h, w), len(channels))
    encoder = UNetEncoder(c, channels)  # built first: the seed's draws as before
    unet = UNetDecoder(c, channels, sizes, checked_skips(channels, skips))
    return unet_backbone(encoder, unet, channels, sizes)


def checked_skips(channels: Sequence[int], skips: int | None) -> int:
    """How many of the coarsest levels keep their skip (None: all), checked."""
    levels = len(channels) - 1
    skips = levels if skips is None else int(skips)
    if not 0 <= skips <= levels:
        raise ValueError(f"skips must be in [0, {levels}] for {len(channels)} widths, got {skips}")
    return skips


def unet_backbone(
    encoder: nn.Module,
    unet: UNetDecoder,
    channels: Sequence[int],
    sizes: list,
    decoder: nn.Module | None = None,
    predicts: int = 0,
) -> Backbone:
    """A U-Net's backbone: a memory per bottleneck location by default, the skips' shapes for
    memories on them; ``decoder`` wraps ``unet`` where the output is not the U-Net's own."""
    return Backbone(
        encoder,
        decoder or unet,
        (channels[-1], *sizes[-1]),
        memory_slots=500,
        memory_on="location",
        predicts=predicts,
        skip_shapes=unet.skip_shapes(channels, sizes),
    )
