"""Conv encoder/decoder pairs (2-D or 3-D) built from a list of (kernel, stride, channels).

Every conv has padding kernel // 2 and is followed by BatchNorm + LeakyReLU(0.2); the decoder
mirrors the encoder with transposed convs whose output_padding is computed so that the
reconstruction has exactly the input's size (any size works), and its last layer is linear.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

Stride = int | Sequence[int]
LayerSpec = tuple[int, Stride, int]  # (kernel, stride, out_channels)

_OPS = {
    2: (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d),
    3: (nn.Conv3d, nn.ConvTranspose3d, nn.BatchNorm3d),
}


def _per_dim(value: Stride, ndim: int) -> tuple[int, ...]:
    return (int(value),) * ndim if isinstance(value, int) else tuple(int(v) for v in value)


def conv_pair(
    in_channels: int, spatial: tuple[int, ...], layers: Sequence[LayerSpec]
) -> tuple[nn.Sequential, nn.Sequential, tuple[int, ...]]:
    """-> (encoder, decoder, latent_shape (C, *S)) for inputs (B, in_channels, *spatial)."""
    ndim = len(spatial)
    conv, deconv, norm = _OPS[ndim]
    sizes = [tuple(spatial)]
    channels = [in_channels]
    encoder: list[nn.Module] = []
    for kernel, stride, out_ch in layers:
        k, s = int(kernel), _per_dim(stride, ndim)
        pad = k // 2
        size = tuple((n + 2 * pad - k) // st + 1 for n, st in zip(sizes[-1], s, strict=True))
        if min(size) < 1:
            raise ValueError(f"input of spatial size {tuple(spatial)} is too small for {layers}")
        encoder += [conv(channels[-1], out_ch, k, s, pad), norm(out_ch), nn.LeakyReLU(0.2)]
        sizes.append(size)
        channels.append(int(out_ch))

    decoder: list[nn.Module] = []
    for i in range(len(layers) - 1, -1, -1):
        k, s = int(layers[i][0]), _per_dim(layers[i][1], ndim)
        pad = k // 2
        out_pad = tuple(
            big - ((small - 1) * st - 2 * pad + k)
            for big, small, st in zip(sizes[i], sizes[i + 1], s, strict=True)
        )
        decoder.append(deconv(channels[i + 1], channels[i], k, s, pad, output_padding=out_pad))
        if i > 0:
            decoder += [norm(channels[i]), nn.LeakyReLU(0.2)]
    return nn.Sequential(*encoder), nn.Sequential(*decoder), (channels[-1], *sizes[-1])


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """The released video code's init: conv weights N(0, std), BN scale N(1, std), biases 0."""
    for m in module.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
