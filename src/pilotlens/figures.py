"""Still pictures: one explained PNG per input, and grids of inputs x methods (or x models)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .data.frame import Frame
from .models.pilot import Pilot
from .pipeline import FrameExplainer, Look, batches
from .render import grid, save_image


def explain_to_pngs(pilot: Pilot, frames: Sequence[Frame], out_dir: str | Path, methods: Sequence[str], *,
                    layer=None, target=None, options=None, look: Look | None = None, batch_size: int = 32) -> list[Path]:
    """One PNG per frame in `out_dir` (named after the frame's file, else its index): input and methods side by side."""
    look = look or Look()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    explain = FrameExplainer(pilot, methods, layer, target, options)
    written = []
    try:
        for batch in batches(frames, batch_size):
            maps, preds = explain(batch)
            for i, frame in enumerate(batch):
                prediction = {k: float(np.ravel(v[i])[0]) for k, v in preds.items()}
                path = out_dir / f"{Path(frame.source).stem or 'frame'}_{frame.index:05d}.png"
                save_image(path, look.compose(frame, {m: maps[m][i] for m in maps}, prediction))
                written.append(path)
    finally:
        explain.close()
    return written


def grid_figure(pilots: dict[str, Pilot], frames: Sequence[Frame], methods: Sequence[str], *, layer=None,
                target=None, options=None, look: Look | None = None) -> np.ndarray:
    """Rows: the frames. Columns: the input, then each (model, method) pair; titles say which."""
    look = look or Look()
    columns: list[list[np.ndarray]] = [[f.image for f in frames]]
    titles = ["input"]
    for model_name, pilot in pilots.items():
        explain = FrameExplainer(pilot, methods, layer, target, options)
        try:
            maps, _ = explain(list(frames))
        finally:
            explain.close()
        for m in methods:
            columns.append([look.draw(f.image, maps[m][i]) for i, f in enumerate(frames)])
            titles.append(m if len(pilots) == 1 else (model_name if len(methods) == 1 else f"{model_name}: {m}"))
    rows = [[col[i] for col in columns] for i in range(len(frames))]
    row_titles = [Path(f.source).name if Path(f.source).suffix else f"#{f.index}" for f in frames]
    return grid(rows, row_titles=row_titles, col_titles=titles, scale=look.scale)
