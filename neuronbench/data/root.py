"""Where datasets live. A module of its own (standard library only), so that
``neuronbench list datasets`` can find the data folder without importing pandas."""

from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path:
    """``$NEURONBENCH_DATA``, else the user's cache folder (``$XDG_CACHE_HOME/neuronbench``)."""
    env = os.environ.get("NEURONBENCH_DATA")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "neuronbench"
