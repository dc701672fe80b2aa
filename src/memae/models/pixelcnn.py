"""PixelCNN (van den Oord et al., 2016): each pixel's value, given the pixels above and to its
left, as a softmax over ``pixel_levels`` intensities; the negative log-likelihood of an image is
its anomaly score (the MemAE paper's PixCNN row).

A 7x7 convolution masked to the pixels before the centre ("A"), ``pixel_blocks`` 3x3
convolutions masked to those and the centre ("B", ReLU between), and a 1x1 convolution to the
logits. The channels of one pixel are predicted from the pixels before it, each independently
of the others (no colour ordering within a pixel). Inputs are expected in [0, 1] (min-max
scaled: ``scaling="standard"`` would put half of every value at level 0), quantised to the
levels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Autoencoder, Backbone, ModelOutput
from .bottlenecks import Bottleneck

# the settings create_model takes for PixelCNN, with their defaults
PIXELCNN_DEFAULTS = {"pixel_levels": 256, "pixel_width": 32, "pixel_blocks": 5}


class MaskedConv2d(nn.Conv2d):
    """A same-size convolution that sees only the rows above and the pixels to the left of the
    centre (and the centre itself, ``kind="B"``)."""

    def __init__(self, kind: str, c_in: int, c_out: int, k: int) -> None:
        super().__init__(c_in, c_out, k, padding=k // 2)
        mask = torch.ones(k, k)
        mask[k // 2, k // 2 + (kind == "B") :] = 0
        mask[k // 2 + 1 :] = 0
        # built here, not saved: the causal mask is the code's, never a checkpoint's
        self.register_buffer(
            "mask", mask[None, None].expand_as(self.weight).clone(), persistent=False
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNN(Autoencoder):
    """forward: the expected image under the model as the reconstruction (for error maps), the
    image's negative log-likelihood in nats as the score; trained on the NLL per value."""

    def __init__(self, input_shape: tuple[int, ...], levels: int, width: int, blocks: int) -> None:
        channels, height, w = input_shape
        layers: list[nn.Module] = [MaskedConv2d("A", channels, width, 7), nn.ReLU()]
        for _ in range(blocks):
            layers += [MaskedConv2d("B", width, width, 3), nn.ReLU()]
        backbone = Backbone(
            nn.Sequential(*layers),
            nn.Conv2d(width, channels * levels, 1),
            (width, height, w),
            memory_slots=0,
            memory_on="location",
        )
        super().__init__(backbone, Bottleneck(), flatten=False)
        self.levels = levels
        self.register_buffer("values", torch.linspace(0, 1, levels), persistent=False)

    def forward(self, x: Tensor) -> ModelOutput:
        b, c, h, w = x.shape
        logits = self.decoder(self.encoder(x)).reshape(b, c, self.levels, h, w)
        log_p = torch.log_softmax(logits.float(), dim=2)  # (B, C, L, H, W)
        target = (x.clamp(0, 1) * (self.levels - 1)).round().long()  # (B, C, H, W)
        nll = -log_p.gather(2, target.unsqueeze(2)).squeeze(2)  # (B, C, H, W)
        expected = torch.einsum("bclhw,l->bchw", log_p.exp(), self.values)
        return ModelOutput(expected, None, nll.new_zeros(()), score=nll.flatten(1).sum(1))

    def reconstruction_loss(self, out: ModelOutput, target: Tensor) -> Tensor:
        """The negative log-likelihood per value, in nats (not a squared error)."""
        assert out.score is not None
        return out.score.mean() / target[0].numel()
