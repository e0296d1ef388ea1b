"""NeuPRINT's dynamics model: a 1-layer, 2-head pre-norm transformer over one neuron's
window of activity whose causal mask lets step t attend to steps t-1 and t only.

Published model (Mi et al., NeurIPS 2023; `lumimim/NeuPRINT`, `dynamical_models.py`,
the ``transformer`` model with ``context_backward=1, context_forward=0,
attend_to_self=True`` as in its ``main.py``). The token of step t is the concatenation
    [Linear(1 -> a)(x_t), e_neuron, context_t]
(activity, the neuron's free embedding, the population statistics and behaviour at t),
multiplied by sqrt(d_model), plus a sinusoidal position code of t, then dropout 0.1;
one ``nn.TransformerEncoderLayer``-style block (pre-LayerNorm, 2 heads, ReLU FFN,
dropout 0.1 on the attention weights, after attention, inside and after the FFN; no
final norm); a linear read-out of the predicted activity. The published d_model is 76
(a = 5 activity features + 64 embedding + 7 context: running, pupil, brain state,
population mean and std, neighbour mean and std); here d_model is kept and ``a`` is what
is left after the embedding and the context features of our data (e.g. 8 with the 4
context features of the synthetic data), so that d_model stays divisible by the heads.
The log-variance head of the original is not built: the published loss is MSE.

Band attention: the mask lets each step see only itself and its predecessor, and the
loss reads the output only at masked entries, so the model is evaluated on *(current,
previous) token pairs* at the requested positions: a 2-way softmax per head instead of
a masked T x T matrix, and the FFN only where an output is needed. In eval mode this is
exactly the function of the published layer (`tests/test_neuprint.py` checks it against
``nn.TransformerEncoderLayer`` with the band mask). In training, the dropout applied to
a token used as key/value by its successor is drawn independently of the dropout on the
same token as a query: every loss term has the same distribution as in the original,
so the expected objective and gradient are the same. The FFN (`feed_forward`), which
dominates the cost at the published width, is one autograd function (`_FeedForward`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """The standard (Vaswani et al.) sinusoidal code, shape (length, dim): sin on even
    and cos on odd dimensions, wavelengths 2 pi .. 10000 * 2 pi."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq)[:, : dim // 2]
    return pe


class Dynamics(nn.Module):
    """Predicts a neuron's (z-scored) activity at step t from its (masked) activity at
    t and t-1, its embedding, and the context (population statistics, behaviour) at
    t and t-1.

    Args:
        embedding_dim: width of the per-neuron embedding (published 64).
        n_context: number of context features per step.
        d_model: token width (published 76); the activity gets
            ``d_model - embedding_dim - n_context`` features.
        n_heads: attention heads (published 2).
        ffn_dim: FFN width (published: PyTorch's default 2048).
        dropout: every dropout of the block and of the position code (published 0.1).
        max_len: longest window (positions 0 .. max_len - 1).
    """

    def __init__(self, embedding_dim: int, n_context: int, d_model: int = 76, n_heads: int = 2,
                 ffn_dim: int = 2048, dropout: float = 0.1, max_len: int = 200):
        super().__init__()
        activity_dim = d_model - embedding_dim - n_context
        if activity_dim < 1:
            raise ValueError(f"d_model={d_model} leaves no room for the activity after "
                             f"{embedding_dim} embedding and {n_context} context features")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads = d_model, n_heads
        self.activity_in = nn.Linear(1, activity_dim)
        self.norm1 = nn.LayerNorm(d_model)
        self.in_proj = nn.Linear(d_model, 3 * d_model)  # q, k, v (as nn.MultiheadAttention)
        self.out_proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, d_model)
        self.head = nn.Linear(d_model, 1)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("positions", sinusoidal_positions(max_len, d_model), persistent=False)

    def tokens(self, x: torch.Tensor, emb: torch.Tensor, ctx: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Input tokens (M, d_model) of activity x (M,), embeddings (M, E), context
        (M, C) at window positions t (M,)."""
        tok = torch.cat([self.activity_in(x[:, None]), emb, ctx], dim=-1)
        return self.dropout(tok * math.sqrt(self.d_model) + self.positions[t])

    def forward(self, emb: torch.Tensor, x: torch.Tensor, x_prev: torch.Tensor, ctx: torch.Tensor,
                ctx_prev: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predicted activity (M,) at M positions: step t of a window with input x at t
        and x_prev at t - 1 (ignored where t == 0, where a step sees only itself)."""
        d, h = self.d_model, self.n_heads
        cur = self.tokens(x, emb, ctx, t)
        prev = self.tokens(x_prev, emb, ctx_prev, (t - 1).clamp(min=0))
        q, k, v = self.in_proj(self.norm1(cur)).split(d, dim=-1)
        k_prev, v_prev = F.linear(self.norm1(prev), self.in_proj.weight[d:], self.in_proj.bias[d:]).split(d, dim=-1)
        m = x.shape[0]
        q, k, v, k_prev, v_prev = (a.reshape(m, h, d // h) for a in (q, k, v, k_prev, v_prev))
        scale = 1.0 / math.sqrt(d // h)
        s_prev = (q * k_prev).sum(-1) * scale
        s_prev = s_prev.masked_fill((t == 0)[:, None], float("-inf"))
        w = self.dropout(torch.softmax(torch.stack([s_prev, (q * k).sum(-1) * scale], dim=-1), dim=-1))  # (M, h, 2)
        attn = (w[..., :1] * v_prev + w[..., 1:] * v).reshape(m, d)
        y = cur + self.dropout(self.out_proj(attn))
        p = self.dropout.p if self.training else 0.0
        ffn = feed_forward(self.norm2(y), self.linear1.weight, self.linear1.bias, self.linear2.weight,
                           self.linear2.bias, p)
        y = y + self.dropout(ffn)
        return self.head(y).squeeze(-1)


class _FeedForward(torch.autograd.Function):
    """linear2(dropout(relu(linear1(x)))) in place, with cheap dropout draws: four
    16-bit draws per 64-bit random integer (p is exact to 2^-16; about twice as fast as
    ``bernoulli_`` on the CPU). The dropout scale is folded into linear2; the backward
    derives the ReLU-and-dropout mask from the saved output (zero exactly where the
    pre-activation was <= 0 or the unit was dropped) and skips the weight gradients
    when the model is frozen."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")
    def forward(ctx, x, w1, b1, w2, b2, p):  # noqa: ANN001, ANN205 (autograd signature)
        h = torch.addmm(b1, x, w1.t()).relu_()
        if p > 0:
            n = h.numel()
            bits = torch.randint(-(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=h.device)
            h.masked_fill_(bits.view(torch.int16)[:n].view(h.shape) < round(p * 2**16) - 2**15, 0.0)
        ctx.save_for_backward(x, w1, w2, h)
        ctx.scale = 1.0 / (1.0 - p)
        return torch.addmm(b2, h, w2.t(), alpha=ctx.scale)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, g):  # noqa: ANN001, ANN205
        x, w1, w2, h = ctx.saved_tensors
        need_x, need_w1, need_b1, need_w2, need_b2, _ = ctx.needs_input_grad
        gw2 = torch.mm(g.t(), h).mul_(ctx.scale) if need_w2 else None
        gb2 = g.sum(0) if need_b2 else None
        gh = torch.mm(g, w2 * ctx.scale).masked_fill_(h <= 0, 0.0)
        gx = torch.mm(gh, w1) if need_x else None
        gw1 = torch.mm(gh.t(), x) if need_w1 else None
        gb1 = gh.sum(0) if need_b1 else None
        return gx, gw1, gb1, gw2, gb2, None


def feed_forward(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
                 p: float) -> torch.Tensor:
    """The FFN of the layer: ``linear2(dropout_p(relu(linear1(x))))``."""
    return _FeedForward.apply(x, w1, b1, w2, b2, p)


def masked_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked entries (the model is evaluated there only)."""
    return (pred - target).pow(2).mean()
