"""NeurPIR's network: a segment encoder, adaptive average pooling over a neuron's
segments, and the VICReg expander.

NeurPIR (Wu et al., ICLR 2025; docs/methods.md) encodes each activity
segment of a neuron, pools the per-segment embeddings with adaptive average pooling into
one time-invariant embedding of the neuron, and trains it through a 3-layer, 1024-wide
expander with VICReg. The paper does not specify the segment encoder; ours (a choice):

- Input of a segment: (channels, L) with channel 0 the neuron's binned activity and the
  other channels the CEBRA embedding of the surrounding information at the same time
  bins (`neuronbench_methods.neurpir.surround`), so the auxiliary input is aligned in time.
- Patches: the segment is cut into L / p patches of p bins (``patch_bins`` = 10 bins =
  200 ms for spikes, ``calcium_patch_frames`` = 4 frames, about 0.9 s, for calcium, as
  NuCLR's calcium tokens). Each patch becomes one vector, Linear(p + d, h) of its p
  activity values (their order inside the patch kept, so bursts and pauses stay
  visible) and the mean of its d surround channels, then GELU: a strided convolution
  written as a matrix product, because 1-D convolutions at the bin rate cost ~50 times
  more on a CPU.
- ``conv_layers`` (2 in ``paper``, 1 in ``cpu``) residual blocks over the patches,
  h <- h + GELU(Conv1d(h, h, k=3)),
  adaptive average pooling over the segment's patches (any segment length), and a
  per-segment head Linear(h, d) -> GELU -> Linear(d, d).
- The neuron embedding: `torch.nn.AdaptiveAvgPool1d` (output size 1) over the segment
  embeddings of a view; at read-out, over every segment of the recording.
- Expander (VICReg's): Linear(d, e) -> BatchNorm -> ReLU -> Linear(e, e) -> BatchNorm ->
  ReLU -> Linear(e, e), e = 1024 in the ``paper`` preset. Used in training only; the
  representation is the pooled embedding before it, as in VICReg.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class SegmentEncoder(nn.Module):
    """(segments, channels, L) -> (segments, dim): one embedding per segment; L must be
    a multiple of ``patch``."""

    def __init__(self, in_channels: int, patch: int, hidden: int, dim: int, conv_layers: int = 2,
                 kernel: int = 3):
        super().__init__()
        self.patch = patch
        self.patch_embed = nn.Linear(patch + in_channels - 1, hidden)
        self.convs = nn.ModuleList(nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2) for _ in range(conv_layers))
        self.time_pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Sequential(nn.Linear(hidden, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_patches = x.shape[-1] // self.patch
        patches = x.unflatten(-1, (n_patches, self.patch))  # (N, C, P, p)
        tokens = torch.cat([patches[:, 0], patches[:, 1:].mean(-1).transpose(1, 2)], dim=-1)  # (N, P, p + d)
        h = F.gelu(self.patch_embed(tokens)).transpose(1, 2)  # (N, h, P)
        for conv in self.convs:
            h = h + F.gelu(conv(h))
        return self.head(self.time_pool(h).squeeze(-1))


class NeurPIRNet(nn.Module):
    """Segment encoder + adaptive average pooling over a neuron's segments:
    (neurons, segments, channels, L) -> (neurons, dim)."""

    def __init__(self, in_channels: int, patch: int, hidden: int, dim: int, conv_layers: int = 2, kernel: int = 3):
        super().__init__()
        self.segment_encoder = SegmentEncoder(in_channels, patch, hidden, dim, conv_layers, kernel)
        self.segment_pool = nn.AdaptiveAvgPool1d(1)

    def segments(self, x: torch.Tensor) -> torch.Tensor:
        """Per-segment embeddings (neurons, segments, dim)."""
        n, s = x.shape[:2]
        return self.segment_encoder(x.flatten(0, 1)).unflatten(0, (n, s))

    def pool(self, h: torch.Tensor) -> torch.Tensor:
        """(neurons, segments, dim) -> (neurons, dim)."""
        return self.segment_pool(h.transpose(1, 2)).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.segments(x))


def expander(dim: int, widths: Sequence[int]) -> nn.Sequential:
    """VICReg's expander: Linear -> BatchNorm -> ReLU between layers, the last linear."""
    sizes = [dim, *widths]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.BatchNorm1d(b), nn.ReLU()]
    return nn.Sequential(*layers)
