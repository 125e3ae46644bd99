"""The per-frame table: its columns, how a map is stored, and a part written atomically.

One row per frame: `log` (the log's path), `index`, `time` (seconds, null without a clock), one
`label_<name>` per label recorded in any log of the run (null where a log has none), one
`pred_<output>` per pilot output (float64; a list of float32 for an output spanning several
columns), and one `map_<method>` per method: the map at the model's input size, h x w bytes row by
row (uint8). Unsigned maps in [0, 1] are stored as round(255 m); signed maps in [-1, 1] as
128 + round(127 m), so 128 is exactly zero. The shape and which maps are signed are in the file's
metadata (key b"pilotlens") and in the run's manifest; `decode_map` turns a cell back into floats.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..outputs import atomic_file

META_KEY = b"pilotlens"


def map_bytes(maps: np.ndarray, signed: bool) -> list[bytes]:
    """B x h x w maps (floats, [0, 1] or [-1, 1] when signed) -> one uint8 buffer per map."""
    m = np.nan_to_num(np.asarray(maps, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    q = 128.0 + np.rint(127.0 * np.clip(m, -1, 1)) if signed else np.rint(255.0 * np.clip(m, 0, 1))
    q = q.astype(np.uint8)
    return [row.tobytes() for row in q]


def decode_map(cell: bytes, shape: Sequence[int], signed: bool) -> np.ndarray:
    """A stored map back to float32 h x w: [0, 1], or [-1, 1] when signed."""
    q = np.frombuffer(cell, np.uint8).reshape(int(shape[0]), int(shape[1])).astype(np.float32)
    return (q - 128.0) / 127.0 if signed else q / 255.0


def build_table(rows: Mapping[str, list], labels: Sequence[str], meta: Mapping):
    """Columns (as built by the worker) -> a pyarrow Table with the schema above and `meta`."""
    import pyarrow as pa
    columns = {"log": pa.array(rows["log"], pa.string()), "index": pa.array(rows["index"], pa.int64()),
               "time": pa.array(rows["time"], pa.float64())}
    for name in labels:
        columns[f"label_{name}"] = pa.array(rows[f"label_{name}"], pa.float64())
    for key, values in rows.items():
        if key.startswith("pred_"):
            several = values and np.ndim(values[0]) > 0
            columns[key] = pa.array([np.asarray(v, np.float32) for v in values], pa.list_(pa.float32())) \
                if several else pa.array(values, pa.float64())
        elif key.startswith("map_"):
            columns[key] = pa.array(values, pa.binary())
    table = pa.table(columns)
    return table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})


def write_part(table, path: Path) -> None:
    """Write one part: it appears under its final name only when complete."""
    import pyarrow.parquet as pq
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, ".parquet") as tmp:
        pq.write_table(table, tmp)
