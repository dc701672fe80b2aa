"""DAGMM (Zong et al., ICLR 2018): a Gaussian mixture over [code, relative Euclidean distance,
cosine similarity] of each sample and its reconstruction, estimated by a small network; the
sample energy -log p(f) is the anomaly score.

Training adds ``energy_weight`` x the mean energy and ``cov_weight`` x the sum of the inverse
covariance diagonals (the paper's lambda1 = 0.1, lambda2 = 0.005: the second keeps a mixture
from collapsing onto a point). The mixture is estimated from each training batch's memberships
(Eq. 5 of the paper); scoring uses a running average of those estimates, kept as buffers (as
BatchNorm keeps its statistics), so a saved model scores like the fitted one. The
reconstruction term is memae's mean squared error per value, as in the most used public DAGMM
code, where the paper sums the squared error of a sample: lambda1 and lambda2 weigh about d
times more against it than in the paper.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .heads import Head, register_head

EPS = 1e-12


def reconstruction_features(x: Tensor, x_hat: Tensor) -> Tensor:
    """(B, *shape) twice -> (B, 2): relative Euclidean distance and cosine similarity."""
    a, b = x.flatten(1), x_hat.flatten(1)
    relative = (a - b).norm(dim=1) / a.norm(dim=1).clamp_min(EPS)
    return torch.stack([relative, F.cosine_similarity(a, b, dim=1, eps=EPS)], dim=1)


def mixture(f: Tensor, gamma: Tensor, ridge: float) -> tuple[Tensor, Tensor, Tensor]:
    """Features (B, D) and memberships (B, K) -> weights (K,), means (K, D), covariances
    (K, D, D) with ``ridge`` on the diagonal."""
    mass = gamma.sum(0)  # (K,)
    phi = mass / len(f)
    mu = gamma.t() @ f / mass[:, None].clamp_min(EPS)
    centred = f[None] - mu[:, None]  # (K, B, D)
    cov = (
        torch.einsum("kb,kbi,kbj->kij", gamma.t(), centred, centred)
        / mass.clamp_min(EPS)[:, None, None]
    )
    return phi, mu, cov + ridge * torch.eye(f.shape[1], dtype=f.dtype, device=f.device)


def energy(f: Tensor, phi: Tensor, mu: Tensor, cov: Tensor) -> Tensor:
    """(B,): -log sum_k phi_k N(f | mu_k, cov_k)."""
    chol = torch.linalg.cholesky(cov)  # (K, D, D)
    centred = (f[None] - mu[:, None]).transpose(1, 2)  # (K, D, B): the batch as columns
    solved = torch.linalg.solve_triangular(chol, centred, upper=False)  # (K, D, B)
    mahalanobis = solved.pow(2).sum(1)  # (K, B)
    log_det = 2 * chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (K,)
    d = f.shape[1]
    log_p = -0.5 * (mahalanobis + log_det[:, None] + d * math.log(2 * math.pi))
    return -torch.logsumexp(phi.clamp_min(EPS).log()[:, None] + log_p, dim=0)


class GMMHead(Head):
    """Estimation network FC(D, hidden, tanh) - dropout - FC(hidden, K) - softmax."""

    onnx_blocker = "ONNX has no Cholesky factorisation for its mixture"

    def __init__(
        self,
        code_width: int,
        mixtures: int,
        hidden: int,
        energy_weight: float,
        cov_weight: float,
        dropout: float = 0.5,
        momentum: float = 0.1,
        ridge: float = 1e-6,
    ) -> None:
        super().__init__()
        d = code_width + 2
        self.estimate = nn.Sequential(
            nn.Linear(d, hidden), nn.Tanh(), nn.Dropout(dropout), nn.Linear(hidden, mixtures)
        )
        self.energy_weight, self.cov_weight = energy_weight, cov_weight
        self.momentum, self.ridge = momentum, ridge
        # float64, as the mixture is computed: a float32 copy of a nearly singular
        # covariance (a wide code, few samples) is not positive definite
        wide = torch.float64
        self.register_buffer("phi", torch.full((mixtures,), 1.0 / mixtures, dtype=wide))
        self.register_buffer("mu", torch.zeros(mixtures, d, dtype=wide))
        self.register_buffer("cov", torch.eye(d, dtype=wide).repeat(mixtures, 1, 1))
        self.register_buffer("estimated", torch.zeros((), dtype=torch.bool))

    def forward(self, x: Tensor, z: Tensor, x_hat: Tensor) -> tuple[Tensor, Tensor]:
        f = torch.cat([z.flatten(1), reconstruction_features(x, x_hat)], dim=1).double()
        if not self.training:
            return energy(f, self.phi, self.mu, self.cov).float(), f.new_zeros((), dtype=z.dtype)
        gamma = torch.softmax(self.estimate(f.float()), dim=1).double()  # (B, K)
        phi, mu, cov = mixture(f, gamma, self.ridge)
        self._track(phi, mu, cov)
        e = energy(f, phi, mu, cov)
        inverse_diag = (1.0 / cov.diagonal(dim1=-2, dim2=-1)).sum()
        loss = self.energy_weight * e.mean() + self.cov_weight * inverse_diag
        return e.float(), loss.float()

    @torch.no_grad()
    def _track(self, phi: Tensor, mu: Tensor, cov: Tensor) -> None:
        m = self.momentum if bool(self.estimated) else 1.0
        for buffer, value in ((self.phi, phi), (self.mu, mu), (self.cov, cov)):
            buffer.lerp_(value, m)
        self.estimated.fill_(True)


@register_head("gmm", mixtures=4, estimation_hidden=10, energy_weight=0.1, cov_weight=0.005)
def _gmm(s: dict[str, Any], width: int) -> GMMHead:
    return GMMHead(
        width,
        int(s["mixtures"]),
        int(s["estimation_hidden"]),
        float(s["energy_weight"]),
        float(s["cov_weight"]),
    )
