"""Embedding tables: one row per neuron (index ``neuron_id``), one float column per
dimension. What a method's ``embed`` returns, what the cache stores, and what a user
brings to `neuronbench score` as a Parquet file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from neuronbench.atomic import atomic_write
from neuronbench.errors import NeuronbenchError

_META_KEY = b"neuronbench"


def check_embeddings(table: Any, expected_ids: Sequence[str], where: str) -> pd.DataFrame:
    """Validate an embedding table and return its rows for ``expected_ids`` (float64).

    ``where`` names the source (a method or a file) in the error message.
    """
    if not isinstance(table, pd.DataFrame):
        raise NeuronbenchError(f"{where}: expected a pandas DataFrame indexed by neuron_id, got {type(table).__name__}")
    if table.shape[1] == 0:
        raise NeuronbenchError(f"{where}: the embedding has no columns")
    if table.index.has_duplicates:
        raise NeuronbenchError(f"{where}: field 'neuron_id': duplicated ids, e.g. {table.index[table.index.duplicated()][:3].tolist()}")
    missing = pd.Index(expected_ids).difference(table.index)
    if len(missing):
        raise NeuronbenchError(f"{where}: field 'neuron_id': {len(missing)} neuron(s) missing, e.g. {missing[:3].tolist()}")
    rows = table.loc[list(expected_ids)]
    non_numeric = [c for c in rows.columns if not pd.api.types.is_numeric_dtype(rows[c])]
    if non_numeric:
        raise NeuronbenchError(f"{where}: expected numeric embedding columns, got non-numeric {non_numeric[:5]}")
    values = rows.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise NeuronbenchError(
            f"{where}: NaN or infinite values for {int(bad.sum())} neuron(s), e.g. {rows.index[bad][:3].tolist()}"
        )
    out = pd.DataFrame(values, index=pd.Index(rows.index, name="neuron_id"), columns=[str(c) for c in rows.columns])
    return out


def write_embeddings(path: Path, table: pd.DataFrame, meta: dict[str, Any]) -> None:
    """Write an embedding table atomically, with ``meta`` (JSON) in the Parquet footer."""
    frame = table.reset_index()
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()})
    atomic_write(path, lambda f: pq.write_table(arrow, f))


def read_embeddings(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a table written by `write_embeddings`: (table indexed by neuron_id, meta)."""
    try:
        arrow = pq.read_table(path)
    except Exception as e:
        raise NeuronbenchError(f"{path}: unreadable embedding file ({e})") from None
    meta = json.loads((arrow.schema.metadata or {}).get(_META_KEY, b"{}"))
    return arrow.to_pandas().set_index("neuron_id"), meta


def read_user_embeddings(
    path: Path, *, id_column: str = "neuron_id", prefix: str | None = None, exclude: Sequence[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A user's Parquet file: (embedding columns, other columns), both indexed by id.

    Embedding columns are those starting with ``prefix``, or, without a prefix, every
    numeric column; never those in ``exclude`` (the label, the grouping column). Without
    an ``id_column`` in the file, rows are numbered ``row/<i>``.
    """
    path = Path(path)
    if not path.is_file():
        raise NeuronbenchError(f"{path}: no such file")
    try:
        frame = pd.read_parquet(path)
    except Exception as e:
        raise NeuronbenchError(f"{path}: not a readable Parquet file ({e})") from None
    if id_column in frame.columns:
        ids = frame.pop(id_column).astype(str)
    elif id_column == "neuron_id":
        ids = pd.Series([f"row/{i}" for i in range(len(frame))])
    else:
        raise NeuronbenchError(f"{path}: no column {id_column!r} (the neuron id); columns: {list(frame.columns)[:10]}")
    frame.index = pd.Index(ids.to_numpy(), name="neuron_id")
    candidates = [c for c in frame.columns if c not in set(exclude)]
    if prefix is not None:
        emb_cols = [c for c in candidates if str(c).startswith(prefix)]
    else:
        emb_cols = [c for c in candidates if pd.api.types.is_numeric_dtype(frame[c])]
    if not emb_cols:
        raise NeuronbenchError(f"{path}: no embedding columns (prefix {prefix!r}); columns: {list(frame.columns)[:10]}")
    emb = check_embeddings(frame[emb_cols], list(frame.index), str(path))
    return emb, frame.drop(columns=emb_cols)
