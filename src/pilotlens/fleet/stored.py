"""A log's explanations read back from its parts: what `batch --movies` draws its movie from.

The parts already hold every frame's maps (at the model's input size, 8 bits: fleet/table.py) and the
pilot's predictions; the movie needs nothing else, so the model does not run again. Frames arrive in the
log's order and the parts are read one at a time as the frames reach them, so memory holds one part.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.frame import Frame
from ..frame_explainer import Explained
from ..models.pilot import Pilot
from .table import META_KEY, decode_map


class StoredExplanations:
    """`StoredExplanations(pilot, [part paths in the log's order])(frames) -> Explained`, as a FrameExplainer
    gives it, from the parts' rows: the maps decoded and put back on the frames (`Pilot.to_frame`)."""

    def __init__(self, pilot: Pilot, parts: Sequence[Path]):
        if not parts:
            raise ValueError("no part to draw the movie from")
        self.pilot, self.parts = pilot, list(parts)
        self.rows: dict[int, dict] = {}
        self.meta: dict = {}

    def __call__(self, frames: Sequence[Frame]) -> Explained:
        rows = [self._row(f.index) for f in frames]
        shape, signed = self.meta["map_shape"], self.meta["signed"]
        methods = self.meta["methods"]
        maps = {label: self.pilot.to_frame(np.stack([decode_map(r[f"map_{label}"], shape, signed[label]) for r in rows]),
                                           frames[0].image.shape)
                for label in methods}
        predictions = {name: np.stack([np.asarray(r[f"pred_{name}"], np.float32) for r in rows])
                       for name in self.meta["outputs"]}
        return Explained(maps, predictions, {label: bool(signed[label]) for label in methods}, self.meta["target"],
                         [], dict(self.meta.get("layers", {})))

    def _row(self, index: int) -> dict:
        """Frame `index`'s row, reading the next parts until it is there (the rows before it are dropped)."""
        while index not in self.rows:
            if not self.parts:
                raise ValueError(f"frame {index} of the log is in none of its parts: the parts and the log disagree "
                                 "(rerun the batch into a new folder)")
            self._read(self.parts.pop(0))
        row = self.rows.pop(index)
        for older in [i for i in self.rows if i < index]:
            del self.rows[older]
        return row

    def _read(self, path: Path) -> None:
        import pyarrow.parquet as pq
        table = pq.read_table(path)
        self.meta = json.loads(table.schema.metadata[META_KEY])
        columns = ["index", *(f"pred_{n}" for n in self.meta["outputs"]), *(f"map_{m}" for m in self.meta["methods"])]
        data = {name: table.column(name).to_pylist() for name in columns}
        for i, index in enumerate(data["index"]):
            self.rows[int(index)] = {name: data[name][i] for name in columns}
