"""NEMO's training augmentations, on whole batches of tensors.

The original (NEMO_ICLR ``AcgAug.get_acg_transform``, ``WvfAug.get_wf_transform`` and
``ACG_augmentation_dataloader.EmbeddingDataset``) draws them per item in numpy inside a
DataLoader (about 0.5 s per batch of 1024 on our 2 cores); here every sample of a batch
gets its own independent draws in a few tensor operations, on the model's device.

ACG (B, 10, 101), in this order, each applied to a sample with probability 0.5:
1. temporal Gaussian smoothing along the lag axis, sigma 2 bins (scipy's
   ``gaussian_filter(acg, sigma=(0, 2))``: 'reflect' edges, truncated at 4 sigma; applied
   as the exact same 101 x 101 linear map);
2. temporal jitter: every row (decile) shifted by its own integer in [-3, 3] lag bins;
3. amplitude scaling by one factor from U(0.9, 1.1);
4. additive Gaussian noise of std 0.1 x the sample's maximum, then clipped at 0;
5. pepper noise: each bin set to 0 with probability 0.05.
The original's ``decile_adjust_*`` transforms are commented out there and absent here.
These steps commute with the x10 scaling of the ACG (all are positively homogeneous), so
applying them to the scaled ACG equals the original's order (augment, then x10).

Quirk of the original, corrected by default: its jitter rolls each row circularly, so a
shift of +s moves the ACG at ~1 s lags into the first s bins (the refractory period) and a
shift of -s moves lag 0 to ~1 s. We shift with the edge value repeated instead;
``wrap=True`` restores the circular roll.

Waveform (B, 90): Gaussian noise of std 0.1 x the waveform's own std (ddof 0) with
probability 0.3 (the original's only active waveform transform, ``--std 0.1``), then every
waveform is divided by its max |value|, as the original does after augmenting.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

ACG_P = 0.5
SMOOTH_SIGMA = 2.0
MAX_JITTER = 3
SCALE_RANGE = (0.9, 1.1)
ACG_NOISE = 0.1
PEPPER_P = 0.05
WAVEFORM_P = 0.3
WAVEFORM_NOISE = 0.1


@lru_cache(maxsize=4)
def smoothing_matrix(n: int, sigma: float = SMOOTH_SIGMA) -> np.ndarray:
    """(n, n) matrix S with S @ x == scipy.ndimage.gaussian_filter1d(x, sigma)."""
    return gaussian_filter1d(np.eye(n), sigma, axis=0)


def smooth_lags(acg: torch.Tensor) -> torch.Tensor:
    """Gaussian smoothing (sigma `SMOOTH_SIGMA` bins) along the last axis (step 1)."""
    smooth = torch.as_tensor(smoothing_matrix(acg.shape[-1]), dtype=acg.dtype, device=acg.device)
    return acg @ smooth.T


def shift_lags(acg: torch.Tensor, shift: torch.Tensor, wrap: bool = False) -> torch.Tensor:
    """Each row moved right by its integer ``shift`` (B, rows, 1) along the lag axis (step 2):
    out[..., c] = acg[..., c - shift], the edge value repeated, or circular if ``wrap``."""
    lags = acg.shape[-1]
    src = torch.arange(lags, device=acg.device) - shift
    return torch.gather(acg, -1, src % lags if wrap else src.clamp(0, lags - 1))


def _chosen(b: int, p: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """(b, 1, 1) bool: the samples a transform of probability p is applied to."""
    return torch.rand(b, 1, 1, generator=gen, device=device) < p


def augment_acg(acg: torch.Tensor, gen: torch.Generator, *, wrap: bool = False) -> torch.Tensor:
    """A randomly augmented copy of a batch of 3D ACGs (B, rows, lags): steps 1-5, each
    applied to a sample with probability `ACG_P`."""
    b, rows, _ = acg.shape
    dev, dtype = acg.device, acg.dtype
    x = torch.where(_chosen(b, ACG_P, gen, dev), smooth_lags(acg), acg)

    shift = torch.randint(-MAX_JITTER, MAX_JITTER + 1, (b, rows, 1), generator=gen, device=dev)
    x = torch.where(_chosen(b, ACG_P, gen, dev), shift_lags(x, shift, wrap), x)

    lo, hi = SCALE_RANGE
    factor = lo + (hi - lo) * torch.rand(b, 1, 1, generator=gen, device=dev, dtype=dtype)
    x = torch.where(_chosen(b, ACG_P, gen, dev), x * factor, x)

    std = ACG_NOISE * x.amax(dim=(1, 2), keepdim=True)
    noisy = (x + std * torch.randn(x.shape, generator=gen, device=dev, dtype=dtype)).clamp_min(0.0)
    x = torch.where(_chosen(b, ACG_P, gen, dev), noisy, x)

    pepper = torch.rand(x.shape, generator=gen, device=dev) < PEPPER_P
    return torch.where(_chosen(b, ACG_P, gen, dev) & pepper, torch.zeros_like(x), x)


def augment_waveforms(wf: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A randomly augmented (noise), max-|value|-normalised copy of waveforms (B, samples)."""
    std = WAVEFORM_NOISE * wf.std(dim=1, unbiased=False, keepdim=True)
    noise = std * torch.randn(wf.shape, generator=gen, device=wf.device, dtype=wf.dtype)
    chosen = torch.rand(wf.shape[0], 1, generator=gen, device=wf.device) < WAVEFORM_P
    x = torch.where(chosen, wf + noise, wf)
    scale = x.abs().amax(dim=1, keepdim=True)
    return x / torch.where(scale > 0, scale, torch.ones_like(scale))
