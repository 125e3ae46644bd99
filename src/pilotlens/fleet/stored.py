"""A log's explanations read back from its parts: what `batch --movies` draws its movie from.

The parts already hold every frame's maps (at the model's input size, 8 bits: fleet/table.py) and the
pilot's predictions; the movie needs nothing else, so the model does not run again. Frames arrive in the
log's order and the parts are read one at a time as the frames reach them (each map column decoded in one
go), so memory holds a part or two.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.frame import Frame
from ..frame_explainer import Explained
from ..models.pilot import Pilot
from .table import META_KEY, decode_map


@dataclass
class _Part:
    """One part decoded: each frame index's row, every method's maps (n x h x w) and every output (n, ...)."""

    meta: dict
    row: dict[int, int]
    maps: dict[str, np.ndarray]
    predictions: dict[str, np.ndarray]

    @classmethod
    def read(cls, path: Path) -> "_Part":
        import pyarrow.parquet as pq
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[META_KEY])
        (h, w), n = meta["map_shape"], table.num_rows
        # a column's cells end to end are one n*h x w map: decode_map's rule applied to every frame at once
        maps = {label: decode_map(b"".join(table.column(f"map_{label}").to_pylist()), (n * h, w),
                                  meta["signed"][label]).reshape(n, h, w)
                for label in meta["methods"]}
        predictions = {name: np.asarray(table.column(f"pred_{name}").to_pylist(), np.float32)
                       for name in meta["outputs"]}
        row = {int(index): i for i, index in enumerate(table.column("index").to_pylist())}
        return cls(meta, row, maps, predictions)


class StoredExplanations:
    """`StoredExplanations(pilot, [part paths in the log's order])(frames) -> Explained`, as a FrameExplainer
    gives it, from the parts' rows: the maps decoded and put back on the frames (`Pilot.to_frame`)."""

    def __init__(self, pilot: Pilot, parts: Sequence[Path]):
        if not parts:
            raise ValueError("no part to draw the movie from")
        self.pilot, self.unread = pilot, list(parts)
        self.loaded: list[_Part] = []

    def __call__(self, frames: Sequence[Frame]) -> Explained:
        found = [self._find(f.index) for f in frames]
        meta = found[-1][0].meta
        maps = {label: self.pilot.to_frame(np.stack([part.maps[label][i] for part, i in found]), frames[0].image.shape)
                for label in meta["methods"]}
        predictions = {name: np.stack([part.predictions[name][i] for part, i in found]) for name in meta["outputs"]}
        return Explained(maps, predictions, {label: bool(meta["signed"][label]) for label in meta["methods"]},
                         meta["target"], [], dict(meta.get("layers", {})))

    def _find(self, index: int) -> tuple[_Part, int]:
        """(the part holding frame `index`, its row), reading the next parts until one does; the parts before it
        are let go (frames come in the log's order)."""
        while True:
            for k, part in enumerate(self.loaded):
                if index in part.row:
                    del self.loaded[:k]
                    return part, part.row[index]
            if not self.unread:
                raise ValueError(f"frame {index} of the log is in none of its parts: the parts and the log disagree "
                                 "(rerun the batch into a new folder)")
            self.loaded.append(_Part.read(self.unread.pop(0)))
