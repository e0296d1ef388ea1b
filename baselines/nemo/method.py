"""NEMO (Yu et al., ICLR 2025): the fit/embed plug-in.

Self-supervised: a unit's peak-channel waveform and its 3D autocorrelogram (`data`,
`acg`) are embedded by two encoders (`model`) trained with CLIP's symmetric contrastive
loss (`loss`) to pick out each other among the units of a batch, under random
augmentations (`augment`). The embedding of a unit is the pre-projection output of both
encoders, 200 + 300 = 500-d. Nothing about the population is used: a unit's embedding
depends on its own waveform and spike train only, so NEMO embeds units of animals it
never saw (every setting is supported). Spikes with waveforms only: the harness reports
N/A on calcium datasets and on datasets without waveforms (``requires``).

Training, as published (NEMO_ICLR ``bimodal_embedding_main.py`` and ``set_params.py``):
Adam, learning rate 5e-4, batch 1024 units reshuffled every epoch (the last batch may be
smaller), ``CosineAnnealingWarmRestarts(T_0=20, T_mult=1)`` stepped once per epoch,
temperature 0.5 (fixed), projections of 512 dimensions; 3000 epochs in the IBL script
(1500 by default, 6000 for C4), our ``paper`` preset (566,516 parameters, as the
original's). The ``cpu`` preset keeps the published model and optimiser and trains 100
epochs (5 warm-restart cycles); ``tiny`` shrinks the encoders for tests. bf16 autocast on
CUDA only.

Deliberate deviations:
- All units given to `fit` are trained on, for the whole schedule, and the final weights
  are kept: the original holds out a validation split and saves checkpoints by
  validation contrastive accuracy and probe scores (our harness does the probing).
- The ACG estimator and waveform preparation are ours (see `acg` and `data`); the ACG
  jitter augmentation does not wrap around in the presets (``jitter_wrap``, see `augment`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from neuronbench_baselines.nemo.augment import augment_acg, augment_waveforms
from neuronbench_baselines.nemo.data import unit_inputs
from neuronbench_baselines.nemo.loss import clip_loss
from neuronbench_baselines.nemo.model import Nemo
from neuronbench import progress
from neuronbench.data.recording import Recording
from neuronbench.device import autocast, resolve_device, seed_everything, torch_threads
from neuronbench.params import Params

EMBED_BATCH = 4096


def train(model: Nemo, wf: torch.Tensor, acg: torch.Tensor, *, epochs: int, batch_size: int, lr: float,
          temperature: float, restart_epochs: int, augment: bool, jitter_wrap: bool,
          gen: torch.Generator, aug_gen: torch.Generator) -> list[float]:
    """Train ``model`` in place on waveforms (N, 90) and ACGs (N, 10, 101) already on its
    device; returns the mean training loss of every epoch. ``gen`` (CPU) orders the
    batches, ``aug_gen`` (on the device) draws the augmentations."""
    device = wf.device
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=restart_epochs, T_mult=1)
    n = len(wf)
    losses = []
    model.train()
    for _ in progress.steps(epochs, "nemo: fit epochs", unit="epoch"):
        order = torch.randperm(n, generator=gen).to(device)
        total = torch.zeros((), device=device)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            w, a = wf[idx], acg[idx]
            if augment:
                w, a = augment_waveforms(w, aug_gen), augment_acg(a, aug_gen, wrap=jitter_wrap)
            with autocast(device):
                zw, za = model(w, a)
            loss = clip_loss(zw, za, temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        schedule.step()
        losses.append(float(total) / n)
    model.eval()
    return losses


class NemoMethod(Params):
    """NEMO as a neuronbench method. Its parameters are declared below (values: the
    presets of ``neuronbench_baselines.nemo.INFO``); the constructor does no work."""

    # the encoders and projections (`model.Nemo`)
    acg_dim: int  # ACG encoder output (its block of the embedding)
    wf_hidden: int  # hidden width of the waveform encoder
    wf_dim: int  # waveform encoder output (its block of the embedding)
    embed_dim: int  # width of the two projections (the contrastive space)
    acg_dropout: float  # dropout of the ACG encoder
    wf_dropout: float  # dropout of the waveform encoder
    # training (`train`): Adam, cosine annealing with warm restarts
    temperature: float  # CLIP loss temperature (fixed)
    lr: float  # Adam learning rate
    batch_size: int  # units per step
    epochs: int  # epochs
    restart_epochs: int  # epochs per warm-restart cycle (T_0)
    augment: bool  # random waveform and ACG augmentations (`augment`)
    jitter_wrap: bool  # the ACG jitter rolls circularly (False: the edge value repeats)
    # execution
    threads: int | None  # torch CPU threads during fit and embed (None: torch's setting)
    device: str  # "auto", "cpu" or "cuda"

    def build_model(self) -> Nemo:
        return Nemo(self.acg_dim, self.wf_hidden, self.wf_dim, self.embed_dim, self.acg_dropout, self.wf_dropout)

    def fit(self, recordings: Sequence[Recording], *, seed: int, labels: pd.Series | None = None) -> NemoMethod:
        """Train on every unit of ``recordings`` (``labels`` is ignored: self-supervised),
        with ``threads`` torch CPU threads (the numbers depend on it; None: torch's setting)."""
        with torch_threads(self.threads):
            return self._fit(recordings, seed=seed)

    def _fit(self, recordings: Sequence[Recording], *, seed: int) -> NemoMethod:
        _, wf, acg = unit_inputs(recordings)
        device = resolve_device(self.device)
        gen = seed_everything(seed)
        aug_gen = gen if device.type == "cpu" else torch.Generator(device=device).manual_seed(seed)
        model = self.build_model().to(device)
        self.losses_ = train(
            model, torch.as_tensor(wf, device=device), torch.as_tensor(acg, device=device),
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, temperature=self.temperature,
            restart_epochs=self.restart_epochs, augment=self.augment, jitter_wrap=self.jitter_wrap,
            gen=gen, aug_gen=aug_gen,
        )
        self.model_ = model
        self.device_ = str(device)
        return self

    def embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        """The 500-d (``acg_dim + wf_dim``) pre-projection representation of every unit
        (with ``threads`` torch CPU threads)."""
        with torch_threads(self.threads):
            return self._embed(recordings)

    def _embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        ids, wf, acg = unit_inputs(recordings)
        device = next(self.model_.parameters()).device
        self.model_.eval()
        parts = []
        with torch.no_grad():
            for start in range(0, len(ids), EMBED_BATCH):
                w = torch.as_tensor(wf[start:start + EMBED_BATCH], device=device)
                a = torch.as_tensor(acg[start:start + EMBED_BATCH], device=device)
                with autocast(device):
                    parts.append(self.model_.represent(w, a).float().cpu().numpy())
        rep = np.concatenate(parts) if parts else np.zeros((0, self.acg_dim + self.wf_dim), np.float32)
        columns = [f"acg_{i:03d}" for i in range(self.acg_dim)] + [f"wf_{i:03d}" for i in range(self.wf_dim)]
        return pd.DataFrame(rep, index=pd.Index(ids, name="neuron_id"), columns=columns)
