"""The IBL BrainWideBench (BWB) TS3 protocol (``unit_cosmos``), as facts for the task
``ibl/region_bwb`` and for ``neuronbench export --format bwb-ts3``.

Source: the evaluation contract ``ibl-bwb-eval`` 0.1.0 (PyPI; brainbench-org/ibl-bwb):
``protocol.py``, ``tasks/ts3.py``, ``multi_unit.py``, ``predictions.py``,
``scoring/ts3.py``, ``data/eval_recording_ids.txt``, and its TS3 guide and unit table
(``src/ts3/protocol.py``).

- Held-out set: the 29 evaluation sessions (`eval_sessions`, read from the package
  resource `EVAL_SESSIONS_RESOURCE`); the probe is fitted
  on the units of other animals and scored on these (zero-shot on held-out animals).
- Units: ``firing_rate`` > 1 Hz and ``unit_qc`` (``clusters.metrics`` ``label``) == 1
  (`unit_filter`, applied by the task to the label columns the IBL loader keeps);
  void and root are not a class. Deliberate deviation: BWB also drops the units of
  recording probes that fail its probe QC (``qc_neural``, ``qc_neural_alignment`` in its
  ``bwm_qc.csv``), which the public ALF files do not carry, so our evaluated units are a
  superset of BWB's (3,222 after its QC); its scorer reads only the units it scores.
- Classes: `COSMOS_LABELS`, in this order: the column order of every ``pred_proba``.
- Seeds: a reported number is the mean over encoder seeds `EVAL_SEEDS`; `SWEEP_SEED`
  is for tuning only and never reported.
- Scores: macro-F1 single-unit (each unit's own probabilities) and multi-unit (the
  probabilities averaged over the unit's `MULTI_UNIT_MAX_NEIGHBORS` nearest units on the
  same recording probe within `MULTI_UNIT_RADIUS_UM` of depth, itself included; the
  read-out NEMO introduced). BWB's macro-F1 averages over all ten classes (a class absent
  from both the truth and the predictions counts 0); ours over the classes present
  (`neuronbench.protocol.metrics`): the two agree whenever every class occurs.
- Submission: ``<label>/ts3-unit_cosmos/seed_<seed>.safetensors`` with ``entity_ids``
  (unit ids, ASCII, as a NUL-padded uint8 matrix) and ``pred_proba`` (N x 10 float32),
  metadata ``label``, ``task``, ``seed``, ``ibl_bwb_eval_version`` and ``label_names``
  (comma-joined `COSMOS_LABELS`).

Light at import (no numpy): the dataset catalogue reads the session list.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.constants import BWB_EVAL_SEEDS as EVAL_SEEDS  # noqa: F401  (bwb.EVAL_SEEDS)
from neuronbench.protocol.constants import BWB_METRIC as METRIC  # noqa: F401  (bwb.METRIC)
from neuronbench.protocol.constants import BWB_SWEEP_SEED as SWEEP_SEED  # noqa: F401  (bwb.SWEEP_SEED)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

EVAL_SESSIONS_RESOURCE = ("neuronbench.data", "sources/bwb_eval_sessions.txt")
"""(package, path) of the evaluation sessions, shipped with the package data."""
COSMOS_LABELS: tuple[str, ...] = ("CB", "CNU", "CTXsp", "HB", "HPF", "HY", "Isocortex", "MB", "OLF", "TH")
MIN_FIRING_RATE_HZ = 1.0
UNIT_QC_LABEL = 1.0
MULTI_UNIT_RADIUS_UM = 60.0
MULTI_UNIT_MAX_NEIGHBORS = 5
FORMAT = "bwb-ts3"
"""The name of this submission format (``neuronbench export --format``)."""
SUITE_TASK = "ts3-unit_cosmos"
"""The task id a TS3 submission is filed under (``ibl_bwb_eval.tasks.task_id``)."""
CONTRACT_VERSION = "0.1.0"
"""The ``ibl-bwb-eval`` version whose contract the export follows (``ibl_bwb_eval_version``)."""
TASK = ("ibl", "region_bwb")
"""The neuronbench task that runs this protocol (dataset, task name)."""


@lru_cache(maxsize=1)
def eval_sessions() -> tuple[str, ...]:
    """The evaluation sessions (eids), one a line, ``#`` comments ignored."""
    package, path = EVAL_SESSIONS_RESOURCE
    lines = [line.split("#")[0].strip() for line in files(package).joinpath(path).read_text().splitlines()]
    return tuple(line for line in lines if line)


def unit_filter(labels: pd.DataFrame, where: Path) -> np.ndarray:
    """BWB's ``unit_filtering``: the units with ``firing_rate`` > `MIN_FIRING_RATE_HZ` and
    ``unit_qc`` == `UNIT_QC_LABEL`, from the columns of the label table at ``where``."""
    import pandas as pd

    missing = [c for c in ("firing_rate", "unit_qc") if c not in labels.columns]
    if missing:
        raise NeuronbenchError(f"{where}: no column(s) {missing}, which BrainWideBench's unit filter reads "
                               "(prepare the ibl dataset again: `neuronbench data prepare ibl --force`)")
    rate = pd.to_numeric(labels["firing_rate"], errors="coerce").to_numpy(dtype=float)
    qc = pd.to_numeric(labels["unit_qc"], errors="coerce").to_numpy(dtype=float)
    return (rate > MIN_FIRING_RATE_HZ) & (qc == UNIT_QC_LABEL)


def multi_unit_proba(proba: np.ndarray, depths: Sequence[float], probes: Sequence[str]) -> np.ndarray:
    """Each unit's probabilities replaced by the mean over the `MULTI_UNIT_MAX_NEIGHBORS`
    units nearest in depth on its probe within `MULTI_UNIT_RADIUS_UM` (itself included);
    ties in distance are broken by the units' order (BWB's numpy default sort leaves the
    order of ties unspecified: the two can differ only for units equally far apart)."""
    import numpy as np

    proba = np.asarray(proba, dtype=np.float64)
    depths = np.asarray(depths, dtype=np.float64)
    probes = np.asarray(probes, dtype=object)
    out = np.empty_like(proba)
    for probe in np.unique(probes):
        members = np.flatnonzero(probes == probe)
        gap = np.abs(depths[members][:, None] - depths[members][None, :])
        for row, i in enumerate(members):
            near = np.flatnonzero(gap[row] <= MULTI_UNIT_RADIUS_UM)
            near = near[np.argsort(gap[row, near], kind="stable")][:MULTI_UNIT_MAX_NEIGHBORS]
            out[i] = proba[members[near]].mean(axis=0)
    return out
