"""The LOLCAT network: snippet encoder -> multi-head attention pooling -> classifier.

Published sizes (Schneider et al., Cell Reports 2023; docs/methods.md; the
authors' ``hengenlab/lolcat``: ``lolcat/models.py`` ``MLP``, ``GlobalAttention``,
``MultiHeadPooling``, configured in e.g. ``np_dg3_nm3_latest_newdata_testing.py`` with
``mlp_layers=[-1, 32, 16, 16, 16]``, ``net_dropout=0.5``, ``batchnorm=True``):

- Snippet encoder: Linear(bins, 32) -> BatchNorm -> ReLU -> Dropout(0.5) -> Linear(32, 16)
  -> BN -> ReLU -> Dropout -> Linear(16, 16) -> BN -> ReLU -> Dropout -> Linear(16, 16)
  (the last block is linear only). BatchNorm normalises over all snippets of the batch.
- Pooling: 4 independent gated-attention heads (Li et al. 2016's global attention). Head
  h scores each snippet with gate_h = Linear(16, 16, no bias) -> ReLU -> Linear(16, 1, no
  bias), takes the softmax of the scores over the neuron's snippets, and sums
  value_h = Linear(16, 8) -> ReLU -> Linear(8, 8) of the snippets with those weights.
  The 4 x 8 outputs are concatenated: the 32-d neuron embedding.
- Classifier: Linear(32, 16) -> ReLU -> Dropout(0.5) -> Linear(16, classes).

About 6.6 k parameters at 90 bins and 3 classes, as measured for the original. The 4
heads are computed at once (their first layers stacked, their second layers as batched
matrices): the same function as 4 separate modules. (The later ``nerdslab/lolcat``
``MultiHeadGlobalAttention`` shares one gate network with a PReLU across heads; we follow
the ``hengenlab`` classes, whose size matches the ~6.6 k parameters measured for the
original in the reference notes.)

A batch of neurons with different numbers of snippets is given as a boolean ``mask``
(neurons, snippets) of the snippets present and the raw histogram counts ``x`` (present
snippets, bins) of those snippets, in the row-major order of ``mask``. So only present
snippets are normalised (by the training set's per-bin mean and 1/std, kept as buffers
so that the state dict is the whole model), encoded (BatchNorm sees no padding) and
pooled (absent snippets get no attention weight).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class Dropout(nn.Module):
    """Inverted dropout, the function of `nn.Dropout`, drawn with `torch.rand_like`:
    about 3x faster on the CPU, where `nn.Dropout`'s ``bernoulli_`` dominated a step."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return x * (torch.rand_like(x) >= self.p) / (1.0 - self.p)


def mlp(sizes: Sequence[int], dropout: float, batchnorm: bool) -> nn.Sequential:
    """Linear layers of ``sizes``; after every layer but the last: [BatchNorm] -> ReLU ->
    [Dropout] (the original's ``MLP`` with ``drop_last_nonlin=True``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            if batchnorm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(Dropout(dropout))
    return nn.Sequential(*layers)


def _uniform_(t: torch.Tensor, fan_in: int) -> None:
    """nn.Linear's default initialisation range, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    nn.init.uniform_(t, -bound, bound)


class AttentionPool(nn.Module):
    """``heads`` gated-attention heads over a neuron's snippets (see the module docstring)."""

    def __init__(self, dim: int, head_dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.gate_in = nn.Linear(dim, heads * dim, bias=False)
        self.gate_out = nn.Parameter(torch.empty(heads, dim))
        self.value_in = nn.Linear(dim, heads * head_dim)
        self.value_out = nn.Parameter(torch.empty(heads, head_dim, head_dim))
        self.value_out_bias = nn.Parameter(torch.empty(heads, head_dim))
        _uniform_(self.gate_out, dim)
        _uniform_(self.value_out, head_dim)
        _uniform_(self.value_out_bias, head_dim)

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """Gate scores (..., heads) of snippet encodings h (..., dim)."""
        g = torch.relu(self.gate_in(h)).unflatten(-1, (self.heads, -1))
        return (g * self.gate_out).sum(-1)

    def values(self, h: torch.Tensor) -> torch.Tensor:
        """Head values (..., heads, head_dim) of snippet encodings h (..., dim)."""
        v = torch.relu(self.value_in(h)).unflatten(-1, (self.heads, self.head_dim))
        return torch.einsum("...hi,hij->...hj", v, self.value_out) + self.value_out_bias

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """h (present snippets, dim) are the encodings of the True entries of ``mask``
        (neurons, snippets), in row-major order -> (neurons, heads * head_dim)."""
        w = self.weights(self.scores(h), mask)[mask]  # (present, heads)
        weighted = w[..., None] * self.values(h)
        pooled = weighted.new_zeros(mask.shape[0], self.heads, self.head_dim)
        return pooled.index_add_(0, torch.nonzero(mask)[:, 0], weighted).flatten(1)

    @staticmethod
    def weights(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Softmax over each neuron's present snippets of ``scores`` (present, heads):
        (neurons, snippets, heads), 0 at absent snippets."""
        full = scores.new_full((*mask.shape, scores.shape[-1]), float("-inf"))
        full[mask] = scores
        return full.softmax(dim=1)


class LolcatNet(nn.Module):
    """Encoder, pooling and classifier; `embed` is the pooled neuron embedding."""

    def __init__(self, n_bins: int, n_classes: int, encoder_sizes: Sequence[int] = (32, 16, 16, 16),
                 heads: int = 4, head_dim: int = 8, classifier_hidden: int = 16, dropout: float = 0.5,
                 batchnorm: bool = True):
        super().__init__()
        self.encoder = mlp([n_bins, *encoder_sizes], dropout, batchnorm)
        self.pool = AttentionPool(encoder_sizes[-1], head_dim, heads)
        self.classifier = mlp([heads * head_dim, classifier_hidden, n_classes], dropout, batchnorm=False)
        self.embed_dim = heads * head_dim
        self.register_buffer("input_mean", torch.zeros(n_bins))
        self.register_buffer("input_inv_std", torch.ones(n_bins))

    def set_normalisation(self, mean: torch.Tensor, inv_std: torch.Tensor) -> None:
        """Per-bin mean and 1/std of the training snippets (1/std = 0 zeroes a bin)."""
        self.input_mean.copy_(mean)
        self.input_inv_std.copy_(inv_std)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise and encode snippets of raw counts x (snippets, bins) -> (snippets, dim)."""
        return self.encoder((x - self.input_mean) * self.input_inv_std)

    def embed(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The 32-d neuron embeddings (neurons, heads * head_dim) of the present snippets
        x (present, bins) of ``mask`` (neurons, snippets)."""
        return self.pool(self.encode(x), mask)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (neurons, classes), embeddings (neurons, heads * head_dim))."""
        z = self.embed(x, mask)
        return self.classifier(z), z
