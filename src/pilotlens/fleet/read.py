"""Reading a finished run back: the manifest's parts as one table."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .manifest import read_manifest


def read_frames(out: str | Path, columns: Sequence[str] | None = None):
    """A finished run's table (every part its manifest names) as a pyarrow Table in (log, index) order.
    A run without `_SUCCESS.json` did not finish and is refused."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    manifest = read_manifest(out)
    tables = [pq.read_table(Path(out) / rel, columns=columns) for rel in manifest["parts"]]
    table = pa.concat_tables(tables, promote_options="default") if tables else pa.table({})
    return table.sort_by([("log", "ascending"), ("index", "ascending")]) if table.num_rows else table
