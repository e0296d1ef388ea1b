"""The one prepare path of the datasets made from downloads (``neuronbench data prepare``).

A loader is a module with:

- ``NAME``: the dataset's name (the first part of its neuron ids);
- ``LABEL_COLUMNS``: the label columns it writes; ``PARAMS``: the manifest parameters
  (source, unit filter, ...); ``DESCRIPTION``: one line for the manifest;
- ``download(to, *, progress)``: fetch the raw files into ``to`` and return it;
- ``load(raw_dir, report)``: the canonical recordings of the raw files, appending to
  ``report`` each problem that was skipped rather than fatal.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType


def loader_module(loader: str | ModuleType) -> ModuleType:
    return importlib.import_module(loader) if isinstance(loader, str) else loader


def prepare(loader: str | ModuleType, raw_dir: Path, out_dir: Path, *, replace: bool = False) -> Path:
    """Read the raw files under ``raw_dir`` with ``loader`` and write the canonical
    dataset at ``out_dir`` (``replace``: rebuilt aside, then swapped in); the problems
    skipped are printed on stderr and kept in the manifest (``params.reported``)."""
    from neuronbench.data.store import write_dataset

    module = loader_module(loader)
    report: list[str] = []
    recordings = module.load(Path(raw_dir), report)
    for line in report:
        print(f"neuronbench: {module.NAME}: {line}", file=sys.stderr)
    return write_dataset(out_dir, module.NAME, recordings, label_columns=module.LABEL_COLUMNS, replace=replace,
                         params={**module.PARAMS, "reported": report}, description=module.DESCRIPTION)
