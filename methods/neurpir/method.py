"""NeurPIR as a neuronbench plug-in: VICReg on per-neuron segments, conditioned on the
CEBRA-encoded surrounding information.

Wu, Liao, Deng, Guo & Wang, "Neuron Platonic Intrinsic Representation From Dynamics Using
Contrastive Learning", ICLR 2025 (the authors' public repository is a different model and
was not followed). Pieces: `segments` (activity, views), `surround` (CEBRA), `model`
(encoder, pooling, expander), `loss` (VICReg). Optimisation, where the paper gives none,
is ours (AdamW, warm-up then cosine). ``surround=False`` is the ablation registered as
``neurpir-nocebra``. The published facts and each of our choices: docs/methods.md ("NeurPIR").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from neuronbench_methods.neurpir.loss import vicreg_loss
from neuronbench_methods.neurpir.model import NeurPIRNet, expander
from neuronbench_methods.neurpir.segments import SegmentStore, gather_segments, recording_activity, tiling
from neuronbench_methods.neurpir.surround import SurroundEncoder
from neuronbench import progress
from neuronbench.data.binning import activity_shape
from neuronbench.data.recording import Recording
from neuronbench.device import autocast, resolve_device, seed_everything, torch_threads
from neuronbench.errors import NeuronbenchError
from neuronbench.params import Params


def learning_rate(step: int, peak: float, warmup: int, total: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


class NeurPIR(Params):
    """Neuron Platonic Intrinsic Representation (see the module docstring). Its
    parameters are declared below (values: the presets of `neuronbench_methods.neurpir.INFO`); the
    constructor does no work."""

    surround: bool  # give the encoder the CEBRA embedding of the surrounding information
    # activity and views (`neuronbench_methods.neurpir.segments`)
    bin_s: float  # spike count bin (s)
    segment_bins: Sequence[int]  # segment lengths (bins), spikes; each view takes one
    calcium_segment_frames: Sequence[int]  # segment lengths (frames), calcium
    n_segments: int  # segments per view
    cross_session: bool  # a tracked neuron's view 2 may come from another of its recordings
    calcium_percentile: float  # calcium dF/F is divided by this percentile of the recording
    # the network (`neuronbench_methods.neurpir.model`)
    patch_bins: int  # spike bins per patch
    calcium_patch_frames: int  # calcium frames per patch
    hidden: int  # width of the patch embedding and the residual convolutions
    dim: int  # embedding width
    conv_layers: int  # residual convolution blocks
    kernel: int  # their kernel size
    expander: Sequence[int]  # widths of the VICReg expander's three layers
    # VICReg (`neuronbench_methods.neurpir.loss`)
    invariance_weight: float  # weight of the invariance term
    variance_weight: float  # weight of the variance term
    covariance_weight: float  # weight of the covariance term
    variance_target: float  # target standard deviation (gamma)
    eps: float  # added to the variance under the square root
    # optimisation (AdamW, warm-up then cosine; see the module docstring)
    batch_size: int  # neurons per step
    steps: int  # optimisation steps
    lr: float  # peak learning rate
    weight_decay: float  # AdamW weight decay
    # CEBRA (`neuronbench_methods.neurpir.surround`)
    cebra_dim: int  # output dimension
    cebra_iterations: int  # training steps
    cebra_batch_size: int  # samples per step
    cebra_lr: float  # Adam learning rate
    cebra_temperature: float  # InfoNCE temperature (fixed)
    cebra_hidden: int  # hidden units of the offset10-model
    cebra_time_offset: int  # grid points between a positive pair
    cebra_bin_s: float  # grid step of CEBRA's input (s)
    # read-out and execution
    readout_values: int  # activity values per read-out forward pass (memory bound)
    threads: int | None  # torch CPU threads during fit and embed, fixed (1 in every preset) so
    # that a fit's numbers do not depend on the executor (None: leave torch's setting)
    device: str  # "auto", "cpu" or "cuda"

    # ------------------------------------------------------------------ helpers

    def _lengths(self, modality: str) -> tuple[list[int], int]:
        """(segment lengths, patch) of a modality, in bins or frames."""
        calcium = modality == "calcium"
        lengths = [int(v) for v in (self.calcium_segment_frames if calcium else self.segment_bins)]
        patch = int(self.calcium_patch_frames if calcium else self.patch_bins)
        if patch < 1 or not lengths or any(v < patch or v % patch for v in lengths):
            raise NeuronbenchError(f"neurpir: config segment lengths {lengths} must be positive multiples of the "
                                   f"patch ({patch}) for {modality}")
        return lengths, patch

    def _inputs(self, rec: Recording) -> tuple[np.ndarray, np.ndarray]:
        """(activity (units, T), aligned surround (T, d); d = 0 without it)."""
        act, times = recording_activity(rec, self.bin_s, self.calcium_percentile)
        if self.surround_ is None:
            return act, np.zeros((act.shape[1], 0), dtype=np.float32)
        return act, self.surround_.transform(rec, times)

    def _check_modality(self, recordings: Sequence[Recording]) -> str:
        if not recordings:
            raise NeuronbenchError("neurpir: no recordings given")
        modalities = {rec.modality for rec in recordings}
        if len(modalities) > 1:
            raise NeuronbenchError(f"neurpir: recordings of one modality expected, got {sorted(modalities)}")
        return modalities.pop()

    def loss(self, net: NeurPIRNet, head: torch.nn.Module, xa: torch.Tensor, xb: torch.Tensor
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """VICReg loss of two views (neurons, segments, channels, length)."""
        return vicreg_loss(head(net(xa)), head(net(xb)), invariance_weight=self.invariance_weight,
                           variance_weight=self.variance_weight, covariance_weight=self.covariance_weight,
                           gamma=self.variance_target, eps=self.eps)

    # ------------------------------------------------------------------ fit / embed

    def fit(self, recordings: Sequence[Recording], *, seed: int, labels: pd.Series | None = None) -> NeurPIR:
        """Self-supervised training on ``recordings`` (``labels`` is not used)."""
        with torch_threads(self.threads):
            return self._fit(recordings, seed)

    def embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        """One row per unit of ``recordings``: the pooled embedding over every segment."""
        if not hasattr(self, "net_"):
            raise NeuronbenchError("neurpir: call fit(recordings, seed=...) before embed")
        with torch_threads(self.threads), torch.no_grad():
            return self._embed(recordings)

    def _fit(self, recordings: Sequence[Recording], seed: int) -> NeurPIR:
        modality = self._check_modality(recordings)
        lengths, patch = self._lengths(modality)
        device = resolve_device(self.device)
        generator = seed_everything(seed)
        self.surround_ = None
        if self.surround:
            self.surround_ = SurroundEncoder(
                output_dimension=self.cebra_dim, max_iterations=self.cebra_iterations,
                batch_size=self.cebra_batch_size, learning_rate=self.cebra_lr, temperature=self.cebra_temperature,
                num_hidden_units=self.cebra_hidden, time_offsets=self.cebra_time_offset, bin_s=self.cebra_bin_s,
            ).fit(recordings, seed=seed, device=device.type)
        store = SegmentStore.stream((self._inputs(rec) for rec in recordings),
                                    [activity_shape(rec, self.bin_s) for rec in recordings],
                                    [g for rec in recordings for g in rec.group_keys])
        if store.n_rows < 2:
            raise NeuronbenchError("neurpir: VICReg needs at least 2 neurons to train on")
        in_channels = 1 + store.surround.shape[1]
        net = NeurPIRNet(in_channels, patch, self.hidden, self.dim, self.conv_layers, self.kernel).to(device)
        head = expander(self.dim, self.expander).to(device)
        params = [*net.parameters(), *head.parameters()]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        batch = min(int(self.batch_size), store.n_rows)
        warmup = max(1, int(0.05 * self.steps))
        order, position = torch.randperm(store.n_rows, generator=generator), 0
        self.loss_history_: list[float] = []
        net.train()
        head.train()
        for step in progress.steps(int(self.steps), "neurpir: fit steps"):
            if position + batch > store.n_rows:  # a new epoch: a new permutation
                order, position = torch.randperm(store.n_rows, generator=generator), 0
            rows = order[position:position + batch]
            position += batch
            pick = torch.randperm(len(lengths), generator=generator)[:2]
            pair = (lengths[int(pick[0])], lengths[int(pick[-1])])
            xa, xb = store.views(rows, pair, self.n_segments, generator, self.cross_session)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, self.lr, warmup, int(self.steps))
            with autocast(device):
                loss, _ = self.loss(net, head, xa.to(device), xb.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self.loss_history_.append(float(loss.detach()))
        self.net_ = net.eval()
        self.expander_ = head.eval()
        self.modality_ = modality
        self.readout_length_ = max(lengths)
        self.n_features_ = int(self.dim)
        self.device_ = str(device)
        return self

    def _embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        modality = self._check_modality(recordings)
        if modality != self.modality_:
            raise NeuronbenchError(f"neurpir: fitted on {self.modality_} recordings, cannot embed {modality}")
        device = torch.device(self.device_)
        length = self.readout_length_
        ids, parts = [], []
        for rec in recordings:
            act, aux = self._inputs(rec)
            n_units, n_bins = act.shape
            starts = torch.from_numpy(tiling(n_bins, length))
            per_unit = len(starts) * length * (1 + aux.shape[1])
            chunk = max(1, int(self.readout_values) // per_unit)
            flat, surround = torch.from_numpy(act.ravel()), torch.from_numpy(aux)
            for u0 in range(0, n_units, chunk):
                units = torch.arange(u0, min(u0 + chunk, n_units))
                x = gather_segments(flat, units * n_bins, torch.full_like(units, n_bins),
                                    starts.expand(len(units), -1), length, surround, torch.zeros_like(units))
                with autocast(device):
                    parts.append(self.net_(x.to(device)).float().cpu().numpy())
            ids.extend(str(i) for i in rec.neuron_ids)
        width = max(2, len(str(self.n_features_ - 1)))
        columns = [f"neurpir_{j:0{width}d}" for j in range(self.n_features_)]
        return pd.DataFrame(np.concatenate(parts).astype(np.float64), index=pd.Index(ids, name="neuron_id"),
                            columns=columns)
