"""What LOLCAT trains on: the validation carve-out, class-rebalanced epochs, snippet dropout.

The validation neurons are carved out of the probe-train labels (per class, whole
tracked groups; ours, since the harness gives a supervised method nothing else). Epochs
are class-rebalanced with per-class factors that adapt after every epoch to the
training and validation losses, and snippets are dropped at random, as the authors'
``hengenlab/lolcat`` (``MySampler``, ``Dropout``), with one correction (a neuron keeps
at least one snippet). The rules in full: docs/methods.md ("What it trains on").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

MAX_OVERSAMPLING = 200.0
ADAPTIVE_RANGE = (0.8, 100.0)  # MySampler.step's clip of the factors
ADAPTIVE_UP, ADAPTIVE_DOWN = 1 / 0.99, 1 / 1.01  # its per-epoch multiplicative steps
OVERFIT_STDS = 2.0  # its overfitting threshold, in std of the training losses


def validation_split(labels: pd.Series, groups: pd.Series, fraction: float, seed: int
                     ) -> tuple[list[str], list[str]]:
    """(train ids, validation ids) of ``labels`` (neuron_id -> class); ``groups`` maps
    each neuron_id to its group. Stratified by class, seeded, groups never split."""
    if not 0 <= fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"label": labels.astype(str), "group": groups.loc[labels.index].astype(str)})
    val_groups: list[str] = []
    for _, g in table.groupby("label", sort=True):
        keys = np.array(sorted(g["group"].unique()))
        n_val = 0 if len(keys) < 2 or fraction == 0 else int(np.clip(round(fraction * len(keys)), 1, len(keys) - 1))
        val_groups.extend(rng.permutation(keys)[:n_val].tolist())
    is_val = table["group"].isin(val_groups)
    return sorted(table.index[~is_val]), sorted(table.index[is_val])


def oversampling_factors(y: np.ndarray, n_classes: int) -> np.ndarray:
    """f_c = clip(n_majority / n_c, 1, 200) for each class present (0 for absent ones)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return np.where(counts > 0, np.clip(counts.max() / np.maximum(counts, 1), 1.0, MAX_OVERSAMPLING), 0.0)


def adapt_factors(factors: np.ndarray, train_loss: np.ndarray, y_train: np.ndarray,
                  val_loss: np.ndarray, y_val: np.ndarray) -> np.ndarray:
    """The next epoch's oversampling factors (``MySampler.step``, see the module
    docstring) from the per-neuron losses of the training and validation neurons and
    their class indices. Classes absent from training (factor 0) stay at 0."""
    factors = np.asarray(factors, dtype=np.float64)
    train_loss, val_loss = np.asarray(train_loss, dtype=np.float64), np.asarray(val_loss, dtype=np.float64)
    n_classes = len(factors)
    if len(train_loss) < 2 or not np.std(train_loss, ddof=1) > 0:
        return factors.copy()
    mean, std = train_loss.mean(), np.std(train_loss, ddof=1)
    n_train = np.bincount(y_train, minlength=n_classes)
    n_val = np.bincount(y_val, minlength=n_classes)
    train_mean = np.bincount(y_train, weights=train_loss, minlength=n_classes) / np.maximum(n_train, 1)
    val_mean = np.bincount(y_val, weights=val_loss, minlength=n_classes) / np.maximum(n_val, 1)
    undertrained = (train_mean - mean) / std
    overfitting = (n_val > 0) & (val_mean - train_mean >= OVERFIT_STDS * std)
    step = np.where(undertrained > 0, np.where(overfitting, 1.0, ADAPTIVE_UP),
                    np.where(undertrained < 0, ADAPTIVE_DOWN, 1.0))
    present = (n_train > 0) & (factors > 0)
    return np.where(present, np.clip(factors * step, *ADAPTIVE_RANGE), 0.0)


def balanced_epoch(y: np.ndarray, n_classes: int, generator: torch.Generator,
                   factors: np.ndarray | None = None) -> np.ndarray:
    """Indices into ``y`` (class index per training neuron) for one class-rebalanced epoch
    of at most ``len(y)`` samples (fewer only when factors below 1 make the pool smaller),
    oversampled by ``factors`` (default: `oversampling_factors`)."""
    pool = []
    if factors is None:
        factors = oversampling_factors(y, n_classes)
    for c, f in enumerate(factors):
        idx = torch.from_numpy(np.nonzero(y == c)[0])
        if f == 0:
            continue
        pool.append(idx.repeat(int(f)))
        extra = int(len(idx) * (f - int(f)))
        pool.append(idx[torch.randperm(len(idx), generator=generator)[:extra]])
    pool_t = torch.cat(pool)
    return pool_t[torch.randperm(len(pool_t), generator=generator)[: len(y)]].numpy()


def snippet_dropout(valid: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Keep-mask (neurons, snippets): each valid snippet kept with probability 1 - p, and
    at least one per neuron (the one with the largest draw when all were dropped)."""
    draw = torch.rand(valid.shape, generator=generator).to(valid.device)
    draw = draw.masked_fill(~valid, -1.0)
    keep = (draw > p) & valid
    empty = ~keep.any(dim=1)
    if empty.any():
        rows = torch.nonzero(empty).squeeze(1)
        keep[rows, draw[rows].argmax(dim=1)] = True
    return keep
