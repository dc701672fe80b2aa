"""DSEBM (Zhai et al., ICML 2016): a deep structured energy-based model. The energy of a sample

    E(x) = 1/2 ||x - b||^2 - sum_j softplus(h_j(x)),   h = a linear layer on the family's encoder

is the anomaly score (the paper's DSEBM-e; ``dsebm_score="reconstruction"`` scores by the
reconstruction error instead, its DSEBM-r). It is trained by denoising score matching: the
model's reconstruction is x - dE/dx (a decoder tied to the encoder, through its gradient), and
the loss is the squared error between a sample and the reconstruction of a noisy copy of it
(Gaussian noise of ``noise_std``, in the scaled units of the data). On images the family's
encoder normalises over the batch (BatchNorm), so in training a sample's energy gradient sees
the batch's statistics, at scoring the running ones: a departure from a per-sample energy of
about 1 / batch size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Autoencoder, Backbone, ModelOutput
from .bottlenecks import Bottleneck

# the energy model's settings create_model takes, with their defaults
ENERGY_DEFAULTS = {"noise_std": 0.1, "energy_units": 64, "dsebm_score": "energy"}
SCORES = ("energy", "reconstruction")


class EnergyModel(Autoencoder):
    """The family's encoder -> flatten -> linear -> softplus energy; no decoder of its own."""

    onnx_blocker = "its output is a gradient of its input"  # type: ignore[assignment]
    compilable = False  # torch.compile cannot train through a gradient inside the forward

    def __init__(
        self,
        backbone: Backbone,
        input_shape: tuple[int, ...],
        noise_std: float,
        units: int,
        score: str = "energy",
    ) -> None:
        if score not in SCORES:
            raise ValueError(f"dsebm_score must be one of {SCORES}, got {score!r}")
        super().__init__(backbone, Bottleneck(), flatten=True)
        self.score = score
        self.decoder = nn.Identity()  # the reconstruction is x - dE/dx
        self.noise_std = noise_std
        width = 1
        for s in backbone.latent_shape:
            width *= int(s)
        self.hidden = nn.Linear(width, units)
        self.bias = nn.Parameter(torch.zeros(input_shape))

    def energy(self, x: Tensor) -> Tensor:
        """(B, *shape) -> (B,)."""
        z, _ = self.encode(x)  # (B, width)
        quadratic = 0.5 * (x - self.bias).flatten(1).pow(2).sum(1)
        return quadratic - F.softplus(self.hidden(z)).sum(1)

    def forward(self, x: Tensor) -> ModelOutput:
        with torch.enable_grad():  # scoring runs under no_grad; the reconstruction needs dE/dx
            x = x.detach().requires_grad_(True)
            e = self.energy(x)
            (grad,) = torch.autograd.grad(e.sum(), x, create_graph=self.training)
        reconstruction = x - grad
        if not self.training:
            reconstruction, e = reconstruction.detach(), e.detach()
        score = e if self.score == "energy" else None  # None: the reconstruction error
        return ModelOutput(reconstruction, None, e.new_zeros(()), score=score)

    def training_pair(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(x + Gaussian noise, x): denoising score matching."""
        if generator is None:
            noise = torch.randn_like(x)
        else:  # a CPU generator (validation's fixed draws)
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        return x + self.noise_std * noise, x
