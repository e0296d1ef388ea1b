"""NEMO's contrastive objective (Yu et al., ICLR 2025, Sec. 3; NEMO_ICLR
``BiModalContractiveLoss`` with its defaults ``similarity_adjust=False``, no loss flooding).

CLIP's symmetric cross-entropy between the two modalities of a batch: the logits are the
cosine similarities of the L2-normalised waveform and ACG projections divided by a fixed
temperature (0.5); the matching pair (same unit) is the target of each row (waveform ->
ACG) and of each column (ACG -> waveform); the loss is the mean of the two.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def clip_loss(wf: torch.Tensor, acg: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """Symmetric InfoNCE of (B, D) L2-normalised waveform and ACG embeddings (row i of
    each is the same unit)."""
    logits = (wf @ acg.T).float() / temperature
    target = torch.arange(len(wf), device=wf.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
