"""NEMO's two encoders and projection heads (Yu et al., ICLR 2025, App.; NEMO_ICLR
``models/encoders.py`` and ``BiModalEmbedding.py``, default arguments).

- ACG encoder (npyx C4's ``ConvolutionalEncoder``), input (B, 1, 10, 101):
  Conv2d(1 -> 8, kernel 1 x 10) -> AvgPool 2 x 2 -> GELU -> BatchNorm2d(8) ->
  Conv2d(8 -> 16, kernel 5 x 1) -> AvgPool 1 x 2 -> GELU -> BatchNorm2d(16) -> flatten
  (16 x 1 x 23 = 368) -> Linear(368 -> 200) -> GELU -> Dropout(0.2).
- Waveform encoder (``SingleWVFEncoder``): Linear(90 -> 600) -> GELU -> Dropout(0.1) ->
  Linear(600 -> 300) -> GELU -> Dropout(0.1).
- Projections (``LinearProjector``, no layer or batch norm by default): Linear(200 -> 512)
  and Linear(300 -> 512), then L2 normalisation.
- PyTorch's default initialisation (the original builds its encoders with
  ``initialise=False``).
The representation used downstream is the pre-projection output of both encoders,
concatenated: 200 + 300 = 500-d, the ACG block first. The original's probes put the
waveform block first (NEMO_ICLR ``linear_classifier.py``, ``prepare_representation``;
``iclr/predict_region.py``); the order is ours, a permutation of the columns that leaves
the headline linear probe (standardised columns, L2-penalised logistic regression)
unchanged up to rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neuronbench_baselines.nemo.acg import N_DECILES, N_LAGS
from neuronbench_baselines.nemo.data import WAVEFORM_SAMPLES


class AcgEncoder(nn.Module):
    """The convolutional encoder of the 10 x 101 3D ACG image."""

    def __init__(self, dim: int = 200, dropout: float = 0.2):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=(1, 10))
        self.pool1 = nn.AvgPool2d(kernel_size=(2, 2))
        self.norm1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=(5, 1))
        self.pool2 = nn.AvgPool2d(kernel_size=(1, 2))
        self.norm2 = nn.BatchNorm2d(16)
        height = (N_DECILES // 2) - 5 + 1
        width = ((N_LAGS - 10 + 1) // 2) // 2
        self.fc = nn.Linear(16 * height * width, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, acg: torch.Tensor) -> torch.Tensor:
        """(B, 10, 101) -> (B, dim)."""
        x = self.norm1(F.gelu(self.pool1(self.conv1(acg.unsqueeze(1)))))
        x = self.norm2(F.gelu(self.pool2(self.conv2(x))))
        return self.dropout(F.gelu(self.fc(x.flatten(1))))


class WaveformEncoder(nn.Module):
    """The two-layer MLP encoder of the 90-sample waveform."""

    def __init__(self, hidden: int = 600, dim: int = 300, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(WAVEFORM_SAMPLES, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, dim), nn.GELU(), nn.Dropout(dropout),
        )

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, 90) -> (B, dim)."""
        return self.net(waveform)


class Nemo(nn.Module):
    """Both encoders and their projection heads."""

    def __init__(self, acg_dim: int = 200, wf_hidden: int = 600, wf_dim: int = 300, embed_dim: int = 512,
                 acg_dropout: float = 0.2, wf_dropout: float = 0.1):
        super().__init__()
        self.acg_encoder = AcgEncoder(acg_dim, acg_dropout)
        self.wf_encoder = WaveformEncoder(wf_hidden, wf_dim, wf_dropout)
        self.acg_projection = nn.Linear(acg_dim, embed_dim)
        self.wf_projection = nn.Linear(wf_dim, embed_dim)

    def represent(self, waveform: torch.Tensor, acg: torch.Tensor) -> torch.Tensor:
        """The per-unit representation: [ACG encoding, waveform encoding], (B, acg_dim + wf_dim)."""
        return torch.cat([self.acg_encoder(acg), self.wf_encoder(waveform)], dim=1)

    def forward(self, waveform: torch.Tensor, acg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L2-normalised projections (waveform, ACG), each (B, embed_dim)."""
        wf = F.normalize(self.wf_projection(self.wf_encoder(waveform)), dim=1)
        acg = F.normalize(self.acg_projection(self.acg_encoder(acg)), dim=1)
        return wf, acg
