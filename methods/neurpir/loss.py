"""VICReg (Bardes, Ponce & LeCun, ICLR 2022), NeurPIR's loss.

For the expander outputs Z, Z' (batch n x dims d) of two views of the same neurons::

    invariance  s(Z, Z') = mean over batch and dims of (Z - Z')^2
    variance    v(Z) = mean_j max(0, gamma - sqrt(Var(z_j) + eps))
    covariance  c(Z) = sum_{i != j} Cov(Z)_ij^2 / d
    loss = lambda s + mu (v(Z) + v(Z')) / 2 + nu (c(Z) + c(Z'))

with lambda / mu / nu = 25 / 25 / 1, gamma = 1 and eps = 1e-4 (NeurPIR's setting, the
VICReg defaults; docs/methods.md). Var and Cov are the unbiased (n - 1)
batch estimates. The variance term is the mean of the two branches, as in the authors'
reference implementation (``main_vicreg.py``, for which 25 / 25 / 1 were tuned); the
paper's equation writes their sum (twice ours): a named choice, not an option.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def off_diagonal(m: torch.Tensor) -> torch.Tensor:
    """The off-diagonal entries of a square matrix, flattened."""
    n = m.shape[0]
    return m.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def vicreg_terms(za: torch.Tensor, zb: torch.Tensor, *, gamma: float = 1.0, eps: float = 1e-4
                 ) -> dict[str, torch.Tensor]:
    """The three unweighted terms: ``invariance``, ``variance`` (mean of both views) and
    ``covariance`` (sum of both views)."""
    n, d = za.shape
    invariance = F.mse_loss(za, zb)
    za = za - za.mean(dim=0)
    zb = zb - zb.mean(dim=0)
    std_a = torch.sqrt(za.var(dim=0) + eps)
    std_b = torch.sqrt(zb.var(dim=0) + eps)
    variance = (F.relu(gamma - std_a).mean() + F.relu(gamma - std_b).mean()) / 2
    cov_a = za.T @ za / (n - 1)
    cov_b = zb.T @ zb / (n - 1)
    covariance = off_diagonal(cov_a).pow(2).sum() / d + off_diagonal(cov_b).pow(2).sum() / d
    return {"invariance": invariance, "variance": variance, "covariance": covariance}


def vicreg_loss(za: torch.Tensor, zb: torch.Tensor, *, invariance_weight: float = 25.0,
                variance_weight: float = 25.0, covariance_weight: float = 1.0, gamma: float = 1.0,
                eps: float = 1e-4) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(weighted VICReg loss, its unweighted terms) of two batches of expander outputs."""
    terms = vicreg_terms(za.float(), zb.float(), gamma=gamma, eps=eps)
    loss = (invariance_weight * terms["invariance"] + variance_weight * terms["variance"]
            + covariance_weight * terms["covariance"])
    return loss, terms
