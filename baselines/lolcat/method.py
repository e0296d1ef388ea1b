"""LOLCAT as a neuronbench plug-in: fit on the probe-train labels, embed every neuron.

Schneider et al., "Transcriptomic cell type structures in vivo neuronal activity across
multiple timescales", Cell Reports 2023 (code: ``hengenlab/lolcat``, ``nerdslab/lolcat``).
Fully supervised: the network is trained to classify the neurons whose labels the harness
hands to `fit` (the probe-train neurons of one task, setting and fold: nothing else), and
the probe then reads its 32-d pooled neuron embedding, the layer before the classifier.
Published training as the ``paper`` preset; ``cpu`` the same network and sampling over
40 epochs. Our decisions (validation carved from the training labels, model selection by
validation macro-F1, corrected quirks, histogram forms, threads) and why:
docs/methods.md ("LOLCAT").
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score
from torch import nn

from neuronbench_baselines.lolcat.features import SnippetConfig, n_snippets, normalisation, snippet_histograms
from neuronbench_baselines.lolcat.model import LolcatNet
from neuronbench_baselines.lolcat import sampling
from neuronbench import progress
from neuronbench.data.binning import scratch_array
from neuronbench.data.recording import Recording
from neuronbench.device import autocast, resolve_device, seed_everything, torch_threads
from neuronbench.errors import NeuronbenchError
from neuronbench.params import Params


def neuron_groups(recordings: Sequence[Recording]) -> pd.Series:
    """neuron_id -> group: ``<animal>/<track_id>`` for tracked neurons, else the id."""
    return pd.concat([pd.Series(rec.group_keys, index=rec.neurons["neuron_id"].astype(str)) for rec in recordings])


def histogram_table(recordings: Sequence[Recording], ids: Sequence[str], config: SnippetConfig
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Snippet histograms of the neurons ``ids`` (in that order): (neurons, snippets,
    bins) uint16, padded with zeros to the longest recording, and the number of snippets
    of each neuron. Only recordings holding one of ``ids`` are processed, each once."""
    index = pd.Index(ids)
    found = [(rec, index.get_indexer(rec.neuron_ids)) for rec in recordings]
    found = [(rec, where) for rec, where in found if (where >= 0).any()]
    longest = max(n_snippets(rec, config.snippet_s) for rec, _ in found)
    # file-backed (`scratch_array`): the training set's histograms cost page cache, not anonymous memory
    out = scratch_array(len(ids) * longest * int(config.n_bins), np.uint16).reshape(len(ids), longest,
                                                                                   int(config.n_bins))
    n_snip = np.zeros(len(ids), dtype=np.int64)
    for rec, where in found:
        hist = snippet_histograms(rec, config)
        sel = where >= 0
        out[where[sel], : hist.shape[1]] = hist[sel]
        n_snip[where[sel]] = hist.shape[1]
    return out, n_snip


def per_neuron_loss(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cross-entropy of each neuron's logits against its class index."""
    return nn.functional.cross_entropy(torch.tensor(logits, dtype=torch.float64), torch.tensor(y, dtype=torch.long),
                                       reduction="none").numpy()


def check_labels(recordings: Sequence[Recording], labels: pd.Series | None) -> pd.Series:
    """The labels as a Series of str sorted by neuron_id; refused if missing, duplicated,
    of one class, or naming a neuron none of ``recordings`` holds."""
    if labels is None or len(labels) == 0:
        raise NeuronbenchError("lolcat is supervised: fit needs labels= (the probe-train labels)")
    labels = pd.Series(labels).astype(str)
    labels.index = labels.index.astype(str)
    if labels.index.has_duplicates:
        dup = labels.index[labels.index.duplicated()][:3].tolist()
        raise NeuronbenchError(f"lolcat: duplicated neuron ids in labels, e.g. {dup}")
    known = pd.Index(np.concatenate([r.neuron_ids for r in recordings]).astype(str))
    missing = labels.index.difference(known)
    if len(missing):
        raise NeuronbenchError(f"lolcat: {len(missing)} labelled neuron(s) are in none of the fit's recordings, "
                               f"e.g. {missing[:3].tolist()}")
    if labels.nunique() < 2:
        raise NeuronbenchError(f"lolcat: labels need at least 2 classes, got {sorted(labels.unique())}")
    return labels.sort_index()


class Lolcat(Params):
    """LOLCAT (see the module docstring). Its parameters are declared below (values: the
    presets of `neuronbench_baselines.lolcat.INFO`); the constructor does no work."""

    # the input (`features.SnippetConfig`)
    snippet_s: float  # snippet length (s)
    spike_histogram: str  # "linear" or "log" interval histogram, spikes
    spike_bins: int  # its number of bins
    calcium_histogram: str  # "linear" or "log" inter-event histogram, calcium
    calcium_bins: int  # its number of bins
    add_onset: bool  # a pseudo spike at each snippet's start (the latency counts as an interval)
    event_threshold: float  # calcium events: innovation above this many noise std
    event_decay_s: float  # calcium events: indicator decay time of the AR(1) deconvolution (s)
    # the network (`model.LolcatNet`); the embedding has ``heads * head_dim`` columns
    encoder_sizes: Sequence[int]  # widths of the snippet encoder's layers
    heads: int  # attention-pooling heads
    head_dim: int  # width of each head
    classifier_hidden: int  # hidden width of the classifier
    dropout: float  # dropout in the encoder and classifier
    batchnorm: bool  # batch normalisation in the encoder
    # training: Adam + MultiStepLR
    snippet_dropout: float  # probability of removing each snippet of a training sample
    batch_size: int  # neurons per step
    lr: float  # Adam learning rate
    weight_decay: float  # Adam weight decay
    epochs: int  # epochs
    milestones: Sequence[int]  # epochs at which the learning rate is multiplied by gamma
    gamma: float  # that factor
    # re-tune each class's oversampling factor after every epoch from the per-class training
    # and validation losses (the authors' ``MySampler.step``; `sampling.adapt_factors`);
    # False keeps the initial factors
    adaptive_oversampling: bool
    val_fraction: float  # share of each class's labelled groups used for model selection
    # execution
    eval_batch_size: int  # neurons per forward pass when evaluating and embedding
    threads: int | None  # CPU intra-op threads during fit and embed (None: torch's setting)
    device: str  # "auto", "cpu" or "cuda"

    # --- helpers --------------------------------------------------------------------

    def _snippet_config(self, modality: str) -> SnippetConfig:
        histogram, bins = ((self.spike_histogram, self.spike_bins) if modality == "spikes"
                           else (self.calcium_histogram, self.calcium_bins))
        return SnippetConfig(float(self.snippet_s), str(histogram), int(bins), bool(self.add_onset),
                             float(self.event_threshold), float(self.event_decay_s))

    def _threads(self):
        """On the CPU, run with ``threads`` intra-op threads (None: torch's setting)."""
        return torch_threads(self.threads if self.torch_device_.type == "cpu" else None)

    def _forward(self, hist: np.ndarray, n_snip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits, embeddings) of every neuron of ``hist`` in evaluation mode (all
        snippets, no dropout), in chunks of ``eval_batch_size`` neurons."""
        self.model_.eval()
        logits, embeds = [], []
        with torch.inference_mode(), autocast(self.torch_device_):
            for i in range(0, len(hist), int(self.eval_batch_size)):
                x, mask = self._batch(hist, n_snip, np.arange(i, min(i + int(self.eval_batch_size), len(hist))))
                out, z = self.model_(x, mask)
                logits.append(out.float().cpu().numpy())
                embeds.append(z.float().cpu().numpy())
        return np.concatenate(logits), np.concatenate(embeds)

    def _batch(self, hist: np.ndarray, n_snip: np.ndarray, idx: np.ndarray,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Neurons ``idx`` as model input on the device: (counts of the present snippets
        (present, bins) float32, mask (neurons, snippets)). With a ``generator``, snippet
        dropout decides which snippets are present; else all of them are."""
        width = int(n_snip[idx].max())
        mask = torch.arange(width)[None, :] < torch.from_numpy(n_snip[idx])[:, None]
        if generator is not None:
            mask = sampling.snippet_dropout(mask, float(self.snippet_dropout), generator)
        x = hist[idx, :width][mask.numpy()].astype(np.float32)
        return torch.from_numpy(x).to(self.torch_device_), mask.to(self.torch_device_)

    # --- the protocol -----------------------------------------------------------------

    def fit(self, recordings: Sequence[Recording], *, seed: int, labels: pd.Series | None = None) -> Lolcat:
        """Train on the neurons of ``labels`` (neuron_id -> class) only; keep the epoch
        with the best validation macro-F1 (validation carved out of ``labels``)."""
        if not recordings:
            raise NeuronbenchError("lolcat: fit needs at least one recording")
        modalities = sorted({r.modality for r in recordings})
        if len(modalities) != 1:
            raise NeuronbenchError(f"lolcat: fit got recordings of several modalities {modalities}")
        labels = check_labels(recordings, labels)
        self.modality_ = modalities[0]
        config = self._snippet_config(self.modality_)
        generator = seed_everything(seed)
        self.torch_device_ = resolve_device(self.device)

        groups = neuron_groups(recordings)
        train_ids, val_ids = sampling.validation_split(labels, groups, float(self.val_fraction), seed)
        self.classes_ = sorted(labels.unique())
        self.train_ids_, self.val_ids_ = list(train_ids), list(val_ids)
        code = {c: i for i, c in enumerate(self.classes_)}
        hist, n_snip = histogram_table(recordings, train_ids + val_ids, config)
        y = labels.loc[train_ids + val_ids].map(code).to_numpy()
        n_tr = len(train_ids)
        train = (hist[:n_tr], n_snip[:n_tr], y[:n_tr])
        val = (hist[n_tr:], n_snip[n_tr:], y[n_tr:]) if val_ids else None

        model = LolcatNet(int(config.n_bins), len(self.classes_), tuple(self.encoder_sizes), int(self.heads),
                          int(self.head_dim), int(self.classifier_hidden), float(self.dropout), bool(self.batchnorm))
        mean, inv_std = normalisation(*train[:2])
        model.set_normalisation(torch.from_numpy(mean), torch.from_numpy(inv_std))
        self.model_ = model.to(self.torch_device_)
        self.n_features_ = model.embed_dim
        self.device_ = str(self.torch_device_)
        with self._threads():
            self._train(train, val, generator)
        return self

    def _train(self, train: tuple[np.ndarray, np.ndarray, np.ndarray],
               val: tuple[np.ndarray, np.ndarray, np.ndarray] | None, generator: torch.Generator) -> None:
        """The training loop on (histograms, snippet counts, class indices); sets
        ``history_`` (per epoch: training loss, validation macro-F1, and the oversampling
        factors used), ``best_epoch_``, ``best_val_macro_f1_`` and loads the best model."""
        model, (hist, n_snip, y) = self.model_, train
        optimizer = torch.optim.Adam(model.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(self.milestones),
                                                         gamma=float(self.gamma))
        batch = int(self.batch_size)
        history: dict[str, list] = {"train_loss": [], "val_macro_f1": [], "oversampling_factors": []}
        best_f1, best_state, best_epoch = -np.inf, None, int(self.epochs) - 1
        factors = sampling.oversampling_factors(y, len(self.classes_))
        for epoch in progress.steps(int(self.epochs), "lolcat: fit epochs", unit="epoch"):
            model.train()
            history["oversampling_factors"].append(factors.tolist())
            order = sampling.balanced_epoch(y, len(self.classes_), generator, factors)
            losses = []
            # drop_last, but at least one batch (none only if adaptive factors < 1 emptied the pool)
            n_batches = max(1, len(order) // batch) if len(order) else 0
            for b in range(n_batches):
                idx = order[b * batch: (b + 1) * batch]
                x, keep = self._batch(hist, n_snip, idx, generator)
                with autocast(self.torch_device_):
                    logits, _ = model(x, keep)
                loss = nn.functional.cross_entropy(logits.float(), torch.from_numpy(y[idx]).to(self.torch_device_))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            scheduler.step()
            history["train_loss"].append(float(np.mean(losses)) if losses else float("nan"))
            val_logits = None if val is None else self._forward(val[0], val[1])[0]
            if self.adaptive_oversampling:  # after the epoch, as the original's sampler.step
                val_loss = np.zeros(0) if val is None else per_neuron_loss(val_logits, val[2])
                factors = sampling.adapt_factors(factors, per_neuron_loss(self._forward(hist, n_snip)[0], y), y,
                                                 val_loss, np.zeros(0, dtype=np.int64) if val is None else val[2])
            if val is not None:
                pred = val_logits.argmax(axis=1)
                f1 = float(f1_score(val[2], pred, labels=np.unique(val[2]), average="macro", zero_division=0))
                history["val_macro_f1"].append(f1)
                if f1 > best_f1:
                    best_f1, best_epoch, best_state = f1, epoch, copy.deepcopy(model.state_dict())
        if best_state is not None:
            model.load_state_dict(best_state)
        self.history_ = history
        self.best_epoch_ = best_epoch
        self.best_val_macro_f1_ = None if best_state is None else best_f1

    def embed(self, recordings: Sequence[Recording]) -> pd.DataFrame:
        """The 32-d pooled embedding of every unit of ``recordings`` (index neuron_id),
        from all of its snippets, with the trained network in evaluation mode."""
        if not hasattr(self, "model_"):
            raise NeuronbenchError("lolcat: call fit(recordings, seed=..., labels=...) before embed")
        if not recordings:
            raise NeuronbenchError("lolcat: embed needs at least one recording")
        other = sorted({r.modality for r in recordings} - {self.modality_})
        if other:
            raise NeuronbenchError(f"lolcat: fitted on {self.modality_} data, cannot embed {other}")
        config = self._snippet_config(self.modality_)
        blocks, ids = [], []
        with self._threads():
            for rec in recordings:  # one recording's histograms at a time bounds the memory
                hist = snippet_histograms(rec, config)
                blocks.append(self._forward(hist, np.full(rec.n_units, hist.shape[1]))[1])
                ids.append(rec.neuron_ids.astype(str))
        index = pd.Index(np.concatenate(ids), name="neuron_id")
        if index.has_duplicates:
            raise NeuronbenchError(f"lolcat: duplicated neuron ids, e.g. {index[index.duplicated()][:3].tolist()}")
        columns = [f"lolcat_{j:02d}" for j in range(self.n_features_)]
        return pd.DataFrame(np.concatenate(blocks).astype(np.float64), index=index, columns=columns)
