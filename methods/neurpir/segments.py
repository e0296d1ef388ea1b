"""Per-neuron segments of binned activity, and the two views of segment-length augmentation.

NeurPIR (Wu et al., ICLR 2025; docs/methods.md) cuts each neuron's binned activity into
segments; segments of the same neuron are positives, and the two views have different
segment lengths. The paper leaves lengths and overlaps open; ours (all in the config):
1, 2 and 4 s segments on spikes (~3.7-15 s on calcium), 8 per view, the two views from
different halves of the recording (and, for tracked neurons, different sessions).
`SegmentStore` holds the training activity in one memory-mapped flat array, filled one
recording at a time. Each choice and why: docs/methods.md ("Segments and views").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from neuronbench.data.binning import activity, percentile_scaled, scratch_array
from neuronbench.data.recording import Recording
from neuronbench.errors import NeuronbenchError


def recording_activity(rec: Recording, bin_s: float, calcium_percentile: float = 99.0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(activity (units, T) float32, the start time of each bin or frame)."""
    act, times = activity(rec, bin_s)
    if rec.modality == "calcium":
        act = percentile_scaled(act, calcium_percentile)
    return np.ascontiguousarray(act, dtype=np.float32), times


def tiling(n_bins: int, length: int) -> np.ndarray:
    """Start bins of non-overlapping segments covering ``n_bins``; the last one shifted
    back to end at ``n_bins`` (one segment from 0 if the recording is shorter)."""
    starts = np.arange(0, max(n_bins - length, 0) + 1, length)
    if starts[-1] + length < n_bins:
        starts = np.append(starts, n_bins - length)
    return starts


def gather_segments(act: torch.Tensor, row_offset: torch.Tensor, n_bins: torch.Tensor, starts: torch.Tensor,
                    length: int, surround: torch.Tensor | None = None,
                    surround_offset: torch.Tensor | None = None) -> torch.Tensor:
    """Segments (rows, segments, 1 + d, length) from flat arrays.

    ``act`` is the flat activity of all rows (row r occupies ``row_offset[r]`` ..
    ``+ n_bins[r]``); ``starts`` (rows, segments) are start bins. ``surround`` (flat
    (bins, d), row r's recording at ``surround_offset[r]``) adds d channels aligned bin
    by bin. Indices past a row's end repeat its last bin.
    """
    idx = starts[..., None] + torch.arange(length)
    idx = torch.minimum(idx, (n_bins - 1)[:, None, None])
    x = act[row_offset[:, None, None] + idx][:, :, None, :]
    if surround is not None and surround.shape[1] > 0:
        aux = surround[surround_offset[:, None, None] + idx]  # (rows, segments, length, d)
        x = torch.cat([x, aux.permute(0, 1, 3, 2)], dim=2)
    return x


@dataclass
class SegmentStore:
    """The training neurons ("rows": one unit of one recording) as flat tensors."""

    activity: torch.Tensor  # (sum of rows' bins,) float32
    row_offset: torch.Tensor  # (rows,) int64
    n_bins: torch.Tensor  # (rows,) int64
    surround: torch.Tensor  # (sum of recordings' bins, d) float32; d = 0 without it
    surround_offset: torch.Tensor  # (rows,) int64: the row's recording in `surround`
    group_members: torch.Tensor  # (rows,) row indices sorted by group
    group_start: torch.Tensor  # (rows,) start of the row's group in `group_members`
    group_size: torch.Tensor  # (rows,) size of the row's group

    @classmethod
    def build(cls, activities: Sequence[np.ndarray], surrounds: Sequence[np.ndarray], groups: Sequence[str]
              ) -> SegmentStore:
        """From per-recording activity (units, T), aligned surround (T, d) and the
        group key of every unit (in recording order)."""
        return cls.stream(zip(activities, surrounds), [a.shape for a in activities], groups)

    @classmethod
    def stream(cls, inputs: Iterable[tuple[np.ndarray, np.ndarray]], shapes: Sequence[tuple[int, int]],
               groups: Sequence[str]) -> SegmentStore:
        """As `build`, from (activity, surround) pairs made one recording at a time and
        the (units, T) shape of each recording's activity, known beforehand."""
        if not shapes:
            raise NeuronbenchError("neurpir: no recordings to train on")
        units = np.array([u for u, _ in shapes], dtype=np.int64)
        rec_bins = np.array([t for _, t in shapes], dtype=np.int64)
        n_bins = np.repeat(rec_bins, units)
        row_offset = np.concatenate([[0], np.cumsum(n_bins)[:-1]]).astype(np.int64)
        flat = scratch_array(int(n_bins.sum()), np.float32)
        surrounds = []
        pairs = iter(inputs)
        for r in range(len(shapes)):  # no enumerate/zip: their cached result tuple would keep the last pair alive
            act, aux = next(pairs)
            if act.shape != tuple(shapes[r]):
                raise NeuronbenchError(f"neurpir: recording {r}: activity of shape {act.shape}, expected {shapes[r]}")
            start = row_offset[units[:r].sum()]
            flat[start : start + act.size] = act.ravel()
            surrounds.append(aux)
            del act  # freed before the next recording's activity is made
        rec_of_row = np.repeat(np.arange(len(shapes)), units)
        codes, group = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
        members = np.argsort(group, kind="stable")
        size = np.bincount(group, minlength=len(codes))
        start = np.concatenate([[0], np.cumsum(size)[:-1]])
        return cls(
            activity=torch.from_numpy(flat),
            row_offset=torch.from_numpy(row_offset),
            n_bins=torch.from_numpy(n_bins),
            surround=torch.from_numpy(np.concatenate(surrounds).astype(np.float32)),
            surround_offset=torch.from_numpy(np.concatenate([[0], np.cumsum(rec_bins)[:-1]])[rec_of_row]),
            group_members=torch.from_numpy(members),
            group_start=torch.from_numpy(start[group]),
            group_size=torch.from_numpy(size[group]),
        )

    @property
    def n_rows(self) -> int:
        return int(self.n_bins.numel())

    def partners(self, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A random row of each row's group (itself when untracked)."""
        pick = (torch.rand(rows.numel(), generator=generator) * self.group_size[rows]).long()
        return self.group_members[self.group_start[rows] + pick]

    def segments(self, rows: torch.Tensor, half: torch.Tensor, length: int, n_segments: int,
                 generator: torch.Generator) -> torch.Tensor:
        """``n_segments`` random segments of ``length`` bins from half ``half`` (0 or 1)
        of each row's recording: (rows, n_segments, 1 + d, length)."""
        n_bins = self.n_bins[rows]
        half_len = n_bins // 2
        span = (half_len - length + 1).clamp(min=1)
        u = torch.rand(rows.numel(), n_segments, generator=generator)
        starts = (half * half_len)[:, None] + (u * span[:, None]).long()
        return gather_segments(self.activity, self.row_offset[rows], n_bins, starts, length,
                               self.surround, self.surround_offset[rows])

    def views(self, rows: torch.Tensor, lengths: tuple[int, int], n_segments: int, generator: torch.Generator,
              cross_session: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Two views of each row: view 1 from a random half of its recording with
        segments of ``lengths[0]``, view 2 from the other half (of a random recording
        of the same tracked neuron if ``cross_session``) with segments of ``lengths[1]``."""
        half = torch.randint(0, 2, (rows.numel(),), generator=generator)
        other = self.partners(rows, generator) if cross_session else rows
        return (self.segments(rows, half, lengths[0], n_segments, generator),
                self.segments(other, 1 - half, lengths[1], n_segments, generator))
