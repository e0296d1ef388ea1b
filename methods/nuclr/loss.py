"""NuCLR's contrastive loss (Arora et al. 2025; `nerdslab/nuclr`,
``src/losses/sw_contrastive.py`` with ``configs/loss/sw_dcl.yaml``: tau 0.2, dcl, full
denominator).

For one window pair with L2-normalised projections z1 (n1 units) and z2 (n2 units) and
m matched units (the same unit in both views; matched unit i is row i of both):

    numerator   = 1 / tau - mean_i s12[i, i] / tau                (i < m)
    denominator = (mean_i LME_1(i) + mean_j LME_2(j)) / 2         (i, j < m)

where s12 = z1 z2^T and LME is the log-mean-exp over the negatives of a positive's row:
view 1 row i: s12[i, j] / tau for every j != i of view 2, and s11[i, k] * c for every
k != i of view 1; view 2 row j likewise with s12[:, j] and s22. Decoupled (DCL): the
positive is not in the denominator. Only units of the same recording and pair are
negatives. The loss of a batch is the mean of numerator + denominator over pairs,
weighted by each pair's number of matched units.

Deliberate choices:
- ``scale_within_view`` (default False, the original's objective): c = 1, only the
  cross-view s12 is divided by tau, as the original does. ``True`` (our correction, an
  option): c = 1 / tau, every similarity at one temperature.
- The log-mean-exp divides by the number of negatives (n1 + n2 - 2); the original
  divides by n1 + n2 (it counts the two excluded entries). The difference is a constant
  per pair: same gradients, a slightly different loss value.
"""

from __future__ import annotations

import torch


def dcl_loss(z1: torch.Tensor, z2: torch.Tensor, mask1: torch.Tensor, mask2: torch.Tensor,
             n_matched: torch.Tensor, *, tau: float = 0.2, scale_within_view: bool = False) -> torch.Tensor:
    """Decoupled contrastive loss of a batch of window pairs in the padded layout.

    Args:
        z1, z2: (P, N1, D), (P, N2, D) L2-normalised projections of the two views; padded
            slots may hold anything.
        mask1, mask2: (P, N1), (P, N2) bool, True on real units.
        n_matched: (P,) number of matched units; they occupy slots 0..m-1 of both views.
    """
    z1, z2 = z1.float(), z2.float()
    c = 1.0 / tau if scale_within_view else 1.0
    n1, n2 = z1.shape[1], z2.shape[1]
    s12 = torch.bmm(z1, z2.transpose(1, 2)) / tau
    s11 = torch.bmm(z1, z1.transpose(1, 2)) * c
    s22 = torch.bmm(z2, z2.transpose(1, 2)) * c
    i1 = torch.arange(n1, device=z1.device)
    i2 = torch.arange(n2, device=z1.device)
    m = n_matched[:, None]
    pos1, pos2 = i1[None, :] < m, i2[None, :] < m  # rows that are positives
    same12 = i1[:, None] == i2[None, :]  # (N1, N2): (i, i), a positive where i < m
    positive12 = same12[None] & pos1[:, :, None]

    k = min(n1, n2)
    numerator = 1.0 / tau - (s12.diagonal(dim1=1, dim2=2) * pos1[:, :k]).sum(1) / n_matched

    neg_inf = torch.finfo(s12.dtype).min
    keep12 = mask1[:, :, None] & mask2[:, None, :] & ~positive12
    keep11 = mask1[:, :, None] & mask1[:, None, :] & ~torch.eye(n1, dtype=torch.bool, device=z1.device)
    keep22 = mask2[:, :, None] & mask2[:, None, :] & ~torch.eye(n2, dtype=torch.bool, device=z1.device)
    count1 = (mask1.sum(1) + mask2.sum(1) - 2).to(s12.dtype)  # negatives of every positive row
    lme1 = torch.cat([s12.masked_fill(~keep12, neg_inf), s11.masked_fill(~keep11, neg_inf)], dim=2).logsumexp(2)
    lme2 = torch.cat([s12.transpose(1, 2).masked_fill(~keep12.transpose(1, 2), neg_inf),
                      s22.masked_fill(~keep22, neg_inf)], dim=2).logsumexp(2)
    lme1 = lme1 - torch.log(count1)[:, None]
    lme2 = lme2 - torch.log(count1)[:, None]
    denominator = 0.5 * ((lme1 * pos1).sum(1) + (lme2 * pos2).sum(1)) / n_matched

    weights = n_matched.to(s12.dtype) / n_matched.sum()
    return ((numerator + denominator) * weights).sum()

