"""NeuPRINT (Mi et al., NeurIPS 2023, "Learning Time-Invariant Representations for
Individual Neurons from Population Dynamics") as a neuronbench method.

A free embedding per neuron (shared across the recordings where it is tracked) and a
dynamics model trained jointly by masked reconstruction of z-scored activity given the
population mean and std and behaviour; `embed` freezes the model and optimises fresh
embeddings by the same objective, so new animals can be embedded (the inductive
setting, which the NuCLR paper marks N/A). Every preset keeps the original code's
quirks (our corrections are options); ``cpu`` is smaller and shorter (150 embedding
steps, lr 0.05). The paper's facts, each quirk, each preset and the measured reason for
its budget: docs/methods.md ("NeuPRINT").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from neuronbench_baselines.neuprint.data import (
    BEHAVIOUR_COLUMNS,
    FORCED_MASKS,
    POPULATION_STATS,
    Session,
    make_batch,
    prepare_session,
)
from neuronbench_baselines.neuprint.model import Dynamics, masked_mse
from neuronbench import progress
from neuronbench.data.recording import Recording
from neuronbench.device import autocast, resolve_device, seed_everything, torch_threads
from neuronbench.errors import NeuronbenchError
from neuronbench.params import Params

REOPTIMIZE: tuple[str, ...] = ("all", "unseen")
Lookup = Callable[[torch.Tensor], torch.Tensor]  # table rows -> embeddings


class NeuPRINT(Params):
    """NeuPRINT: see the module docstring. Its parameters are declared below (values:
    the presets of `neuronbench_baselines.neuprint.INFO`); the constructor does no work."""

    # the model (`model.Dynamics`)
    embedding_dim: int  # width of each neuron's free embedding
    d_model: int  # transformer width
    n_heads: int  # attention heads
    ffn_dim: int  # feed-forward width
    dropout: float  # dropout in the transformer layer
    # data and batches (`data`)
    bin_s: float  # spike count bin (s); calcium is used at its frame rate
    window_len: int  # time steps per window
    n_windows: int  # windows per batch
    batch_neurons: int  # neurons per window
    mask_ratio: float  # share of the entries masked for reconstruction
    train_fraction: float  # share of each session (its start) used for training; the rest validates
    use_behaviour: bool  # behaviour inputs where every fit recording has them
    # training (Adam on the model and the embedding table jointly)
    lr: float  # learning rate of the dynamics model
    embedding_lr: float  # learning rate of the embeddings (training and embed)
    max_grad_norm: float  # gradient-norm clip of the dynamics model
    epochs: int  # training epochs
    steps_per_epoch: int  # steps per epoch (in embed: steps between gradient resets)
    val_steps: int  # validation batches per epoch (0: no validation loss)
    embed_steps: int  # Adam steps when `embed` optimises a fresh table
    # the original's quirks (the presets' values) and our corrections
    reoptimize: str  # "all": embed re-optimises every neuron (original); "unseen": only new ones
    forced_mask: str  # "last_neuron" (original) or "last_step" (see `data`)
    population_stats: str  # "all" (original, includes the neuron itself) or "leave_one_out"
    accumulate_grad_over_epoch: bool  # zero gradients once per epoch (original) or every step
    # execution
    threads: int | None  # torch CPU threads during fit and embed (None: torch's setting)
    device: str  # "auto", "cpu" or "cuda"

    # ------------------------------------------------------------------ public API
    def fit(self, recordings: Sequence[Recording], *, seed: int, labels: pd.Series | None = None) -> NeuPRINT:
        """Train the dynamics model and the embeddings of ``recordings`` jointly, with
        ``threads`` torch CPU threads (the numbers depend on it; None: torch's setting)."""
        with torch_threads(self.threads):
            return self._fit(recordings, seed=seed)

    def _fit(self, recordings: Sequence[Recording], *, seed: int) -> NeuPRINT:
        self._check_options()
        recordings = list(recordings)
        if not recordings:
            raise NeuronbenchError("neuprint: fit needs at least one recording")
        modalities = {r.modality for r in recordings}
        if len(modalities) > 1:
            raise NeuronbenchError(f"neuprint: fit got mixed modalities {sorted(modalities)}; give one modality")
        self.modality_ = modalities.pop()
        self.behaviour_columns_ = tuple(
            c for c in BEHAVIOUR_COLUMNS
            if self.use_behaviour and all(r.behaviour is not None and c in r.behaviour.columns for r in recordings)
        )
        self.device_ = str(resolve_device(self.device))
        device = torch.device(self.device_)
        self.seed_ = seed
        gen = seed_everything(seed)
        rng = np.random.default_rng(seed)
        sessions = self._sessions(recordings)
        keys = sorted({k for s in sessions for k in s.keys})
        self.keys_ = {k: i for i, k in enumerate(keys)}
        model = Dynamics(self.embedding_dim, 2 + len(self.behaviour_columns_), d_model=self.d_model,
                         n_heads=self.n_heads, ffn_dim=self.ffn_dim, dropout=self.dropout,
                         max_len=self.window_len).to(device)
        table = torch.nn.Parameter(self._init_table(len(keys), gen).to(device))
        optimizer = torch.optim.Adam([{"params": model.parameters(), "lr": self.lr},
                                      {"params": [table], "lr": self.embedding_lr}])
        rows = [np.array([self.keys_[k] for k in s.keys]) for s in sessions]
        self.history_: list[dict[str, Any]] = []
        for epoch in progress.steps(self.epochs, "neuprint: fit epochs", unit="epoch"):
            train_loss = self._train_epoch(model, table.__getitem__, sessions, rows, optimizer, rng)
            val_loss = self._validate(model, table.__getitem__, sessions, rows, rng)
            self.history_.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        model.requires_grad_(False)
        self.model_ = model
        self.table_ = table.detach()
        return self

    def embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        """Embeddings of every unit of ``recordings``, optimised against the frozen
        dynamics model (``reoptimize``) with ``threads`` torch CPU threads; index
        neuron_id, columns ``z0..``."""
        with torch_threads(self.threads):
            return self._embed(recordings)

    def _embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        if not hasattr(self, "model_"):
            raise NeuronbenchError("neuprint: call fit before embed")
        recordings = list(recordings)
        wrong = [r.recording for r in recordings if r.modality != self.modality_]
        if wrong:
            raise NeuronbenchError(f"neuprint: fitted on {self.modality_}, but {wrong[:3]} are not")
        device = torch.device(self.device_)
        gen = seed_everything(self.seed_ + 1)
        rng = np.random.default_rng([self.seed_, 1])
        sessions = self._sessions(recordings)
        keys = sorted({k for s in sessions for k in s.keys})
        kept = [k for k in keys if k in self.keys_] if self.reoptimize == "unseen" else []
        free = sorted(set(keys) - set(kept))
        index = {k: i for i, k in enumerate(kept + free)}
        fixed = self.table_[[self.keys_[k] for k in kept]].reshape(len(kept), self.embedding_dim)
        table = torch.nn.Parameter(self._init_table(len(free), gen).to(device))
        rows = [np.array([index[k] for k in s.keys]) for s in sessions]
        todo = [i for i, s in enumerate(sessions) if any(index[k] >= len(kept) for k in s.keys)]
        if free and todo:
            optimizer = torch.optim.Adam([table], lr=self.embedding_lr)
            self.model_.train()  # dropout on, as in the original's test-time optimisation
            for step in progress.steps(self.embed_steps, "neuprint: embed new neurons"):
                if not self.accumulate_grad_over_epoch or step % self.steps_per_epoch == 0:
                    optimizer.zero_grad()
                for i in todo:  # one batch of every recording per step
                    loss = self._loss(self.model_, lambda r: torch.cat([fixed, table])[r], sessions[i], rows[i],
                                      rng, "train")
                    loss.backward()
                optimizer.step()
        values = torch.cat([fixed, table.detach()]).cpu().numpy().astype(np.float64)
        ids, row = [], []
        for rec, s in zip(recordings, sessions):
            ids.extend(rec.neuron_ids)
            row.extend(index[k] for k in s.keys)
        return pd.DataFrame(values[row], index=pd.Index(ids, name="neuron_id"),
                            columns=[f"z{i}" for i in range(self.embedding_dim)])

    # ------------------------------------------------------------------ internals
    def _check_options(self) -> None:
        for name, value, allowed in (("reoptimize", self.reoptimize, REOPTIMIZE),
                                     ("forced_mask", self.forced_mask, FORCED_MASKS),
                                     ("population_stats", self.population_stats, POPULATION_STATS)):
            if value not in allowed:
                raise NeuronbenchError(f"neuprint: {name} must be one of {allowed}, got {value!r}")

    def _sessions(self, recordings: Sequence[Recording]) -> list[Session]:
        return [prepare_session(r, bin_s=self.bin_s, train_fraction=self.train_fraction,
                                behaviour_columns=self.behaviour_columns_) for r in recordings]

    def _init_table(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """Fresh embeddings, uniform(-1, 1) as published."""
        return torch.rand(n, self.embedding_dim, generator=gen) * 2 - 1

    def _loss(self, model: Dynamics, lookup: Lookup, session: Session, rows: np.ndarray,
              rng: np.random.Generator, part: str) -> torch.Tensor:
        device = torch.device(self.device_)
        batch = make_batch(session, rows, rng, part=part, window_len=self.window_len, n_windows=self.n_windows,
                           n_neurons=self.batch_neurons, mask_ratio=self.mask_ratio, forced_mask=self.forced_mask,
                           population_stats=self.population_stats, device=device)
        with autocast(device):
            pred = model(lookup(batch.rows), batch.x, batch.x_prev, batch.ctx, batch.ctx_prev, batch.t)
        return masked_mse(pred.float(), batch.target)

    def _train_epoch(self, model: Dynamics, lookup: Lookup, sessions: list[Session], rows: list[np.ndarray],
                     optimizer: torch.optim.Optimizer, rng: np.random.Generator) -> float:
        """``steps_per_epoch`` Adam steps, each on one random session; mean loss. The
        dynamics model's gradient norm is clipped (a no-op when it is frozen)."""
        model.train()
        optimizer.zero_grad()
        total = 0.0
        for _ in range(self.steps_per_epoch):
            if not self.accumulate_grad_over_epoch:
                optimizer.zero_grad()
            k = int(rng.integers(len(sessions)))
            loss = self._loss(model, lookup, sessions[k], rows[k], rng, "train")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.max_grad_norm)
            optimizer.step()
            total += loss.item()
        return total / self.steps_per_epoch

    @torch.no_grad()
    def _validate(self, model: Dynamics, lookup: Lookup, sessions: list[Session], rows: list[np.ndarray],
                  rng: np.random.Generator) -> float | None:
        """Mean masked MSE on ``val_steps`` batches from the validation parts."""
        usable = [k for k, s in enumerate(sessions) if s.z.shape[1] - s.n_train >= 2]
        if not usable or self.val_steps <= 0:
            return None
        model.eval()
        total = 0.0
        for _ in range(self.val_steps):
            k = usable[int(rng.integers(len(usable)))]
            total += self._loss(model, lookup, sessions[k], rows[k], rng, "val").item()
        model.train()
        return total / self.val_steps

