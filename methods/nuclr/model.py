"""NuCLR's backbone and projector (Arora et al., NeurIPS 2025; `nerdslab/nuclr`,
``src/models/nuclr_v2ga_bin.py``, ``nuclr_v2ga_ca2.py``, ``src/nn/attention.py``,
``src/nn/rotary_embedding.py``, ``src/losses/sw_contrastive.py``).

Input: tokens (U, L, P), one row per (window, unit): L time tokens of P steps (50 bins
of spike counts, or 4 frames of normalised dF/F). A linear read-in maps P -> d.

Backbone (published: d = 256, 4 heads x 64, ~6.3 M parameters with the projector):
    ``temporal_layers`` (2) temporal blocks: attention across time within a unit -> FFN;
    then ``spatiotemporal_layers`` (2) blocks: attention across the units of the same
    window at each time step -> FFN -> attention across time -> FFN.
    Every attention and FFN is pre-LayerNorm with a residual; the residual branches go
    through dropout (0.2); attention dropout is 0. The FFN is GEGLU: GELU(gate) * value
    with gate and value Linear(d, 4d), dropout, Linear(4d, d).
    Temporal attention: rotary encoding of the token index on half of each head's dims
    (interleaved pairs; ``rotary_fraction`` = 0.5), periods log-spaced from 1 to
    8 x tokens per window; queries, keys and values are rotated and the output is rotated
    back by the query's position, so values carry relative time (as POYO).
    Spatial attention has no unit position encoding (permutation-equivariant, any
    population size). Windows of a batch are laid out padded (windows x max units) and a
    key-padding mask hides the empty slots, so units of different windows (different
    recordings or times) never attend to each other: the original's xformers
    block-diagonal mask, computed with PyTorch scaled-dot-product attention.
    Output per unit and window: the mean over its L tokens (d-dim), no final norm.
    ``spatial=False`` (ours, the population-context ablation of `neuronbench_methods.nuclr`'s
    ``nuclr-nospatial``): the spatio-temporal blocks keep everything but the spatial
    attention, so each unit's output depends on its own tokens only.
    `Encoder.units_alone` (ours, for the capability check): a fitted model whose spatial
    attention, for a while, lets each unit attend to itself only (parameters untouched).

Projector (the loss's): LayerNorm -> Linear(d, d) -> ReLU -> Linear(d, d); the loss
L2-normalises its output.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn


class Layout:
    """Where the rows of a packed (U, L, d) tensor sit in the padded (W, N) layout of the
    spatial attention: ``index`` = window * N + slot, ``mask`` (W, N) True on units."""

    def __init__(self, index: torch.Tensor, mask: torch.Tensor):
        self.index = index
        self.n_windows, self.max_units = mask.shape
        # (W, 1, 1, N): broadcast over (time x heads) and queries; additive float mask
        self.bias = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device).masked_fill(
            ~mask, float("-inf"))[:, None, None, :]
        self.dense = bool(mask.all()) and index.numel() == mask.numel()


def rotary_phases(n_tokens: int, dim_head: int, rotate_dim: int, device: torch.device) -> torch.Tensor:
    """(L, dim_head / 2) complex unit phases exp(i t omega_k) for token index t: rotation of
    the interleaved pairs (0, 1), (2, 3), ... of the first ``rotate_dim`` dims of a head,
    periods 2 pi / omega log-spaced from 1 to 8 L tokens; the other pairs get omega = 0
    (left as they are)."""
    n_freq = rotate_dim // 2
    periods = torch.exp(torch.linspace(math.log(1.0), math.log(8.0 * n_tokens), n_freq, device=device))
    omega = torch.zeros(dim_head // 2, device=device)
    omega[:n_freq] = 2 * math.pi / periods
    angles = torch.arange(n_tokens, device=device, dtype=torch.float32)[:, None] * omega
    return torch.polar(torch.ones_like(angles), angles)


def rotate(x: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs of the last dim of ``x`` by complex ``phases`` (broadcast
    against x's shape with the last dim halved): one complex multiply, in float32."""
    pairs = torch.view_as_complex(x.float().unflatten(-1, (-1, 2)))
    return torch.view_as_real(pairs * phases).flatten(-2).to(x.dtype)


class Attention(nn.Module):
    """Pre-norm multi-head self-attention, either across time (rotary) or across the
    units of a window (masked, no position)."""

    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * heads * dim_head)
        self.out = nn.Linear(heads * dim_head, dim)

    def temporal(self, x: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
        """x (U, L, d), phases (L, dh / 2) from `rotary_phases`."""
        u, n_tok, _ = x.shape
        qkv = self.qkv(self.norm(x)).view(u, n_tok, 3, self.heads, self.dim_head)
        qkv = rotate(qkv, phases[:, None, None, :])  # queries, keys and values
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (U, H, L, dh)
        y = F.scaled_dot_product_attention(q, k, v)
        y = rotate(y, phases.conj())  # back to the query's frame
        return self.out(y.transpose(1, 2).reshape(u, n_tok, -1))

    def spatial(self, x: torch.Tensor, layout: Layout, alone: bool = False) -> torch.Tensor:
        """``alone``: every unit attends to itself only (an identity mask), so its output
        is its own value: the same parameters with no information from other units."""
        u, n_tok, d = x.shape
        w, n = layout.n_windows, layout.max_units
        qkv = self.qkv(self.norm(x))
        if alone:
            return self.out(qkv.view(u, n_tok, 3, -1)[:, :, 2])  # (heads, dh) order, as y below
        if not layout.dense:  # scatter the packed rows into the padded layout
            qkv = qkv.new_zeros(w * n, n_tok, qkv.shape[-1]).index_copy_(0, layout.index, qkv)
        # (W, N, L, 3, H, dh) -> (3, W, L*H, N, dh): time and heads as attention "heads"
        qkv = qkv.view(w, n, n_tok, 3, self.heads, self.dim_head).permute(3, 0, 2, 4, 1, 5)
        q, k, v = qkv.reshape(3, w, n_tok * self.heads, n, self.dim_head).unbind(0)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None if layout.dense else layout.bias.to(q.dtype))
        y = y.view(w, n_tok, self.heads, n, self.dim_head).permute(0, 3, 1, 2, 4).reshape(w * n, n_tok, -1)
        if not layout.dense:
            y = y.index_select(0, layout.index)
        return self.out(y)


class GEGLU(nn.Module):
    """Pre-norm GEGLU feed-forward: GELU(x W_gate) * (x W_value) -> dropout -> Linear(m d, d).
    The original's single Linear(d, 2 m d) split in two halves is the same function; two
    Linear(d, m d) avoid the split's copy and concatenation in the backward pass."""

    def __init__(self, dim: int, mult: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.value = nn.Linear(dim, mult * dim)
        self.gate = nn.Linear(dim, mult * dim)
        self.out = nn.Linear(mult * dim, dim)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        return self.out(self.drop(F.gelu(self.gate(h)) * self.value(h)))


class Encoder(nn.Module):
    """The NuCLR backbone: tokens (U, L, P) + layout -> (U, d), the mean over time of
    each unit's output tokens (the pre-projector representation)."""

    def __init__(self, *, tokens_in: int, dim: int, heads: int, dim_head: int, temporal_layers: int,
                 spatiotemporal_layers: int, ffn_mult: int, dropout: float, rotary_fraction: float,
                 spatial: bool = True):
        super().__init__()
        self.dim_head = dim_head
        self.spatial = spatial
        self.alone = False  # see `units_alone`
        self.rotate_dim = 2 * int(dim_head * rotary_fraction / 2)
        self.read_in = nn.Linear(tokens_in, dim)
        self.temporal = nn.ModuleList(
            nn.ModuleList([Attention(dim, heads, dim_head), GEGLU(dim, ffn_mult, dropout)])
            for _ in range(temporal_layers)
        )
        self.spatiotemporal = nn.ModuleList(
            nn.ModuleList([Attention(dim, heads, dim_head) if spatial else nn.Identity(),
                           GEGLU(dim, ffn_mult, dropout), Attention(dim, heads, dim_head),
                           GEGLU(dim, ffn_mult, dropout)])
            for _ in range(spatiotemporal_layers)
        )
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()  # no mask drawn at 0

    def forward(self, tokens: torch.Tensor, layout: Layout) -> torch.Tensor:
        x = self.read_in(tokens)
        phases = rotary_phases(x.shape[1], self.dim_head, self.rotate_dim, x.device)
        for attn, ffn in self.temporal:
            x = x + self.drop(attn.temporal(x, phases))
            x = x + self.drop(ffn(x))
        for s_attn, s_ffn, t_attn, t_ffn in self.spatiotemporal:
            if self.spatial:
                x = x + self.drop(s_attn.spatial(x, layout, self.alone))
            x = x + self.drop(s_ffn(x))
            x = x + self.drop(t_attn.temporal(x, phases))
            x = x + self.drop(t_ffn(x))
        return x.mean(dim=1)

    @contextmanager
    def units_alone(self) -> Iterator[Encoder]:
        """Within the block, the spatial attention lets each unit attend to itself only
        (an identity mask; every parameter kept): NuCLR without its population context,
        for the capability check that fails when the population channel is cut."""
        self.alone = True
        try:
            yield self
        finally:
            self.alone = False


def projector(dim: int) -> nn.Sequential:
    """The loss's projector: LayerNorm -> Linear -> ReLU -> Linear (output not normalised)."""
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
