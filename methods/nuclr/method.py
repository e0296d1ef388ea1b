"""NuCLR as a neuronbench method: self-supervised pretraining (`NuCLR.fit`) and the
frozen read-out (`NuCLR.embed`). Arora et al., NeurIPS 2025, "Know Thyself by Knowing
Others"; facts from the paper and `nerdslab/nuclr`.

`fit` trains with AdamW (warm-up then cosine, clipping 1.0, bf16 autocast on CUDA) on
pairs of views from `data`; `embed` runs the frozen backbone over non-overlapping
windows and averages a unit's pre-projector output over the windows where it has tokens
(the zero vector if it has none). The final checkpoint is used: the harness gives `fit`
no validation labels. Published settings, read-out and presets in detail:
docs/methods.md ("Training and read-out").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from neuronbench_methods.nuclr.data import Batch, build_store, epoch_pairs, make_batch, pair_batch, readout_views, sampling_periods
from neuronbench_methods.nuclr.loss import dcl_loss
from neuronbench_methods.nuclr.model import Encoder, Layout, projector
from neuronbench import progress
from neuronbench.data.recording import Recording
from neuronbench.device import autocast, load_checkpoint, resolve_device, save_checkpoint, seed_everything, torch_threads
from neuronbench.errors import NeuronbenchError
from neuronbench.params import Params
from neuronbench.plugin import scale_count


def batch_loss(encoder: Encoder, proj: torch.nn.Module, batch: Batch, *, tau: float,
               scale_within_view: bool) -> torch.Tensor:
    """The contrastive loss of a training batch (see `loss.dcl_loss`)."""
    h = encoder(batch.tokens, Layout(batch.index, batch.mask))
    z = F.normalize(proj(h).float(), dim=-1)
    w, n = batch.mask.shape
    padded = z.new_zeros(w * n, z.shape[1]).index_copy(0, batch.index, z).view(2, w // 2, n, -1)
    mask = batch.mask.view(2, w // 2, n)
    return dcl_loss(padded[0], padded[1], mask[0], mask[1], batch.n_matched, tau=tau,
                    scale_within_view=scale_within_view)


def learning_rate(step: int, peak: float, warmup: int, total: int) -> float:
    """Linear warm-up from 0 over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return peak * step / warmup
    return peak * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def parameter_groups(modules: Sequence[torch.nn.Module], weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only (not on LayerNorm parameters or biases)."""
    params = [p for m in modules for p in m.parameters()]
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


class NuCLR(Params):
    """NuCLR (Arora et al. 2025): a permutation-equivariant spatio-temporal transformer
    trained so that a unit's representation in one window identifies it in another.
    Its parameters are declared below (values: the presets of `neuronbench_methods.nuclr.INFO`);
    the constructor does no work."""

    # backbone (`model.Encoder`)
    dim: int  # model width d; also the embedding width
    heads: int  # attention heads
    dim_head: int  # width of each head
    temporal_layers: int  # temporal blocks (attention over each unit's tokens)
    spatiotemporal_layers: int  # spatio-temporal blocks (across units, then over time)
    ffn_mult: int  # GEGLU hidden width, in multiples of dim
    dropout: float  # dropout in the blocks
    rotary_fraction: float  # share of each head's width with rotary position encoding
    # attention across units in the spatio-temporal blocks (False: the ``nuclr-nospatial``
    # ablation). The one default: the parameter came after the ``nuclr`` configs, which
    # leave it out and so keep their hash.
    spatial_attention: bool = True
    # tokens and views (`data`)
    bin_s: float  # spike count bin (s)
    bins_per_token: int  # spike bins per token
    tokens_spikes: int  # tokens per window, spikes
    frames_per_token: int  # calcium frames per token
    tokens_calcium: int  # tokens per window, calcium
    max_distance_s_spikes: float  # how far view 2 may lie from view 1 (s), spikes
    max_distance_s_calcium: float  # the same, calcium
    keep_min: float  # unit dropout: a view keeps k of n units, k uniform in [keep_min n, n]
    min_matched: int  # a pair with this many units or fewer is dropped (see pair_filter)
    pair_filter: str  # "views": count each view's units (original); "matched": the matched units
    # objective (`loss`)
    tau: float  # temperature
    scale_within_view: bool  # divide within-view similarities by tau too (original: False)
    calcium_unit_dropout: bool  # apply unit dropout on calcium (original: a no-op, False)
    # optimisation (AdamW, warm-up then cosine; see the module docstring)
    lr_spikes: float  # peak learning rate, spikes
    lr_calcium: float  # peak learning rate, calcium
    batch_pairs_spikes: int  # window pairs per step, spikes
    batch_pairs_calcium: int  # window pairs per step, calcium
    epochs_spikes: float  # epochs, spikes (a fraction trains a prefix of the last epoch's batches)
    epochs_calcium: float  # epochs, calcium
    weight_decay: float  # on weight matrices only
    warmup_epochs: int  # epochs of linear warm-up
    grad_clip: float  # gradient-norm clip, backbone and projector separately
    # read-out and execution
    readout_rows: int  # unit-windows per read-out forward pass (memory bound)
    threads: int | None  # torch CPU threads during fit and embed (None: torch's setting)
    checkpoint_dir: str | None  # where fit saves the final checkpoint (None: nowhere)
    device: str  # "auto", "cpu" or "cuda"

    # -- the pieces, per modality --------------------------------------------------------

    def _store(self, recordings: Sequence[Recording], device: torch.device):
        if not recordings:
            raise NeuronbenchError("nuclr: expected at least one recording")
        return build_store(recordings, bin_s=self.bin_s, bins_per_token=self.bins_per_token,
                           frames_per_token=self.frames_per_token, device=device)

    def _window_tokens(self, modality: str) -> int:
        return self.tokens_spikes if modality == "spikes" else self.tokens_calcium

    def build_modules(self, modality: str, device: torch.device) -> tuple[Encoder, torch.nn.Sequential]:
        """A freshly initialised backbone and projector for a modality."""
        encoder = Encoder(
            tokens_in=self.bins_per_token if modality == "spikes" else self.frames_per_token,
            dim=self.dim, heads=self.heads, dim_head=self.dim_head, temporal_layers=self.temporal_layers,
            spatiotemporal_layers=self.spatiotemporal_layers, ffn_mult=self.ffn_mult, dropout=self.dropout,
            rotary_fraction=self.rotary_fraction, spatial=self.spatial_attention,
        )
        return encoder.to(device), projector(self.dim).to(device)

    def train_step(self, encoder: Encoder, proj: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: Batch,
                   device: torch.device) -> torch.Tensor:
        """One optimisation step on a batch (autocast on CUDA, clipping backbone and
        projector separately, as the original); returns the detached loss."""
        with autocast(device):
            loss = batch_loss(encoder, proj, batch, tau=self.tau, scale_within_view=self.scale_within_view)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), self.grad_clip)
        torch.nn.utils.clip_grad_norm_(proj.parameters(), self.grad_clip)
        optimizer.step()
        return loss.detach()

    # -- fit -----------------------------------------------------------------------------

    def fit(self, recordings: Sequence[Recording], *, seed: int, labels: pd.Series | None = None) -> NuCLR:
        """Pretrain on ``recordings`` (labels are not used: NuCLR is self-supervised)."""
        with torch_threads(self.threads):
            return self._fit(recordings, seed)

    def _fit(self, recordings: Sequence[Recording], seed: int) -> NuCLR:
        device = resolve_device(self.device)
        seed_everything(seed)
        store = self._store(recordings, device)
        spikes = store.modality == "spikes"
        window_steps = self._window_tokens(store.modality) * store.token_steps
        max_distance = np.round(
            (self.max_distance_s_spikes if spikes else self.max_distance_s_calcium) / store.step_s).astype(np.int64)
        periods = sampling_periods(store, window_steps)
        if not any(len(p) for p in periods):
            raise NeuronbenchError(
                f"nuclr: no stimulus period of any recording is at least two windows long "
                f"({window_steps} steps each); use shorter windows (tokens_spikes / tokens_calcium)")
        lr = self.lr_spikes if spikes else self.lr_calcium
        batch_pairs = self.batch_pairs_spikes if spikes else self.batch_pairs_calcium
        epochs = self.epochs_spikes if spikes else self.epochs_calcium
        unit_dropout = spikes or self.calcium_unit_dropout

        plan = [epoch_pairs(periods, window_steps, max_distance, np.random.default_rng([seed, epoch]))
                for epoch in range(math.ceil(epochs))]
        n_batches = [max(1, len(p) // batch_pairs) if len(p) else 0 for p in plan]
        if epochs % 1:  # a fractional budget (`--budget`): the first batches of the last epoch
            n_batches[-1] = scale_count(n_batches[-1], epochs % 1) if n_batches[-1] else 0
        total = sum(n_batches)
        warmup = sum(n_batches[: self.warmup_epochs])

        encoder, proj = self.build_modules(store.modality, device)
        optimizer = torch.optim.AdamW(parameter_groups([encoder, proj], self.weight_decay), lr=lr, fused=True)
        encoder.train()
        proj.train()
        history, step = [], 0
        for epoch, pairs in enumerate(progress.steps(plan, "nuclr: fit epochs", unit="epoch")):
            rng = np.random.default_rng([seed, epoch, 1])  # unit dropout
            size = batch_pairs if len(pairs) >= batch_pairs else len(pairs)
            for b in range(n_batches[epoch]):
                batch = pair_batch(store, pairs[b * size : (b + 1) * size], window_steps, keep_min=self.keep_min,
                                   unit_dropout=unit_dropout, min_matched=self.min_matched, rng=rng,
                                   pair_filter=self.pair_filter)
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(step, lr, warmup, total)
                step += 1
                if batch is None:
                    continue
                history.append(self.train_step(encoder, proj, optimizer, batch, device))
        if not history:
            raise NeuronbenchError(f"nuclr: no window pair passed the pair filter ({self.pair_filter!r}: more than "
                                   f"{self.min_matched} units per view or matched units)")

        self.encoder_, self.projector_ = encoder.eval(), proj.eval()
        self.modality_ = store.modality
        self.loss_history_ = torch.stack(history).float().cpu().numpy()
        self.n_steps_ = step
        self.device_ = str(device)
        if self.checkpoint_dir is not None:
            self.save(Path(self.checkpoint_dir) / f"nuclr-{store.modality}-seed{seed}.pt")
        return self

    # -- checkpoints ---------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write config + weights + versions (`neuronbench.device.save_checkpoint`)."""
        state = {**{f"encoder.{k}": v for k, v in self.encoder_.state_dict().items()},
                 **{f"projector.{k}": v for k, v in self.projector_.state_dict().items()}}
        save_checkpoint(path, self.get_params(), state, modality=self.modality_)

    @classmethod
    def from_checkpoint(cls, path: Path, device: str = "auto") -> NuCLR:
        """A fitted NuCLR from a checkpoint written by `save` (loaded ``weights_only``)."""
        ckpt = load_checkpoint(path)
        model = cls(**{**ckpt["config"], "device": device})
        dev = resolve_device(device)
        encoder, proj = model.build_modules(ckpt["modality"], dev)
        state = ckpt["state_dict"]
        encoder.load_state_dict({k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")})
        proj.load_state_dict({k[len("projector."):]: v for k, v in state.items() if k.startswith("projector.")})
        model.encoder_, model.projector_ = encoder.eval(), proj.eval()
        model.modality_, model.device_ = ckpt["modality"], str(dev)
        return model

    # -- embed ---------------------------------------------------------------------------

    def embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        """One row per unit (index ``neuron_id``), ``dim`` columns ``nuclr_000``...: the
        mean pre-projector output over the windows where the unit has tokens (zeros if none)."""
        if not hasattr(self, "encoder_"):
            raise NeuronbenchError("nuclr: call fit before embed")
        with torch_threads(self.threads):
            return self._embed(recordings)

    def _embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        device = torch.device(self.device_)
        store = self._store(recordings, device)
        if store.modality != self.modality_:
            raise NeuronbenchError(f"nuclr: fitted on {self.modality_} recordings, cannot embed {store.modality}")
        n_units = int(store.first_unit[-1])
        sums = torch.zeros(n_units, self.dim, dtype=torch.float64, device=device)
        counts = torch.zeros(n_units, dtype=torch.float64, device=device)
        self.encoder_.eval()
        with torch.inference_mode(), autocast(device):
            for window, views in readout_views(store, self._window_tokens(store.modality)).items():
                for chunk in _chunks(views, self.readout_rows):
                    batch = make_batch(store, chunk, window)
                    h = self.encoder_(batch.tokens, Layout(batch.index, batch.mask))
                    rows = torch.from_numpy(batch.units).to(device)
                    sums.index_add_(0, rows, h.double())
                    counts.index_add_(0, rows, torch.ones_like(rows, dtype=torch.float64))
        values = (sums / counts.clamp(min=1.0)[:, None]).cpu().numpy()
        index = pd.Index(np.concatenate(store.neuron_ids), name="neuron_id")
        return pd.DataFrame(values, index=index, columns=[f"nuclr_{i:03d}" for i in range(self.dim)])


def _chunks(views: list, max_rows: int) -> list[list]:
    """Consecutive groups of views with at most ``max_rows`` unit rows (>= one view each)."""
    out, current, rows = [], [], 0
    for v in views:
        if current and rows + len(v[2]) > max_rows:
            out.append(current)
            current, rows = [], 0
        current.append(v)
        rows += len(v[2])
    if current:
        out.append(current)
    return out
