"""Still pictures: one explained PNG per input, and grids of inputs x methods (or x models)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from .data.frame import Frame
from .frame_explainer import FrameExplainer
from .models.pilot import Pilot
from .outputs import check_output_dir
from .data.source import screened
from .pipeline import batches, check_output_size, fits
from .render import grid, save_image
from .render.look import Look, frame_title
from .render.notice import no_evidence_text
from .render.panels import _scaled


def _output_name(frame: Frame, used: set[str]) -> str:
    """`<file stem>_explained.png` (or `frame_<index>_explained.png`), made unique among `used`."""
    stem = Path(str(frame.source)).stem if Path(str(frame.source)).suffix else ""
    base = f"{stem}_explained" if stem and frame_title(frame) != f"#{frame.index}" else f"frame_{frame.index:05d}_explained"
    name, n = f"{base}.png", 1
    while name in used:
        n += 1
        name = f"{base}-{n}.png"
    used.add(name)
    return name


def explain_to_pngs(pilot: Pilot, frames: Iterable[Frame], out_dir: str | Path, methods: Sequence[str], *,
                    layer=None, target=None, options=None, look: Look | None = None, batch_size: int = 32,
                    inputs: Sequence[str | Path] = (), strict: bool = False) -> list[Path]:
    """One PNG per frame in `out_dir`, named after the frame's file (`road_explained.png`; a second
    `road.jpg` from another folder becomes `road_explained-2.png`), the input and each method side by
    side. `inputs`: the input paths, which are never written over. A frame too small for the pilot's
    crop is skipped by name, or raises FrameError when `strict`. Raises ValueError when no frame could
    be read."""
    look = look or Look()
    out_dir = check_output_dir(out_dir, inputs=inputs)
    protected = {Path(p).resolve() for p in inputs}
    used_here: set[str] = set()
    written: list[Path] = []
    with FrameExplainer(pilot, methods, layer, target, options) as explain:
        for batch in batches(screened(frames, fits(pilot), strict=strict), batch_size):
            result = explain(batch)
            for i, frame in enumerate(batch):
                path = out_dir / _output_name(frame, used_here)
                if path.resolve() in protected or Path(str(frame.source)).resolve() == path.resolve():
                    raise ValueError(f"{path} is one of the inputs: pilotlens never overwrites its input")
                check_output_size(look, frame, len(result.maps_of(i)) + 1)   # --scale 1000: refused, not drawn
                save_image(path, look.compose(frame, result.maps_of(i), result.prediction(i), result.signed,
                                              target=result.target, layers=result.layers))
                written.append(path)
    if not written:
        raise ValueError("no readable image among the inputs: nothing was written")
    return written


def _steering(value) -> str:
    return "?" if value is None or not np.isfinite(value) else f"{value:+.2f}"


def row_title(frame: Frame, predicted: Mapping[str, Mapping[str, float]]) -> str:
    """A grid row's title: the frame's name, its recorded steering and each pilot's, one per line
    ("#40", "recorded +0.12", "pilotnet +0.10"); lines without an angle are left out."""
    lines = [frame_title(frame)]
    recorded = (getattr(frame, "labels", {}) or {}).get("angle")
    if recorded is not None:
        lines.append(f"recorded {_steering(float(recorded))}")
    for name, prediction in predicted.items():
        if "angle" in prediction:
            lines.append(f"{name} {_steering(prediction['angle'])}")
    return "\n".join(lines)


def grid_figure(pilots: Mapping[str, Pilot], frames: Sequence[Frame], methods: Sequence[str], *, layer=None,
                target=None, options=None, look: Look | None = None, strict: bool = False) -> np.ndarray:
    """Rows: the frames, titled with the recorded steering and each pilot's. Columns: the input, then
    each (model, method) pair; titles say which. `pilots` maps a distinct label to each pilot. An
    empty map says "no evidence for <target> at <layer>" on its cell. A frame too small for a pilot's
    crop is skipped by name (FrameError when `strict`)."""
    checks = [fits(pilot) for pilot in pilots.values()]
    frames = list(screened(frames, lambda frame: [check(frame) for check in checks], strict=strict))
    if not frames:
        raise ValueError("no readable image to put in the grid")
    look = look or Look()
    check_output_size(look, frames[0], len(frames) * (1 + len(pilots) * max(1, len(methods))))
    scale = look.scale_for(frames[0].image.shape[1])
    images = [_scaled(f.image, scale) for f in frames]      # drawn at the output's size: sharp maps and text
    columns: list[list[np.ndarray]] = [images]
    titles, legends = ["input"], [None]
    predicted: list[dict[str, dict[str, float]]] = [{} for _ in frames]
    for model_name, pilot in pilots.items():
        with FrameExplainer(pilot, methods, layer, target, options) as explain:
            result = explain(list(frames))
        for i in range(len(frames)):
            predicted[i][model_name] = result.prediction(i)
        for label in result.maps:
            signed = result.signed[label]
            notes = [no_evidence_text(result.target, result.prediction(i), result.layers.get(label))
                     for i in range(len(frames))]
            columns.append([look.draw(image, result.maps[label][i], signed, note=notes[i], text_scale=scale)
                            for i, image in enumerate(images)])
            titles.append(label if len(pilots) == 1 else (model_name if len(methods) == 1 else f"{model_name}: {label}"))
            legends.append(look.legend_for(images[0].shape[1], signed, scale) if look.legend else None)
    rows = [[col[i] for col in columns] for i in range(len(frames))]
    row_titles = [row_title(f, p) for f, p in zip(frames, predicted)]
    if look.legend:
        rows.append(legends)
        row_titles.append("")
    return grid(rows, row_titles=row_titles, col_titles=titles, scale=1, text_scale=scale)
