"""What is on disk for a run: its settings, which parts are done, and the manifest written last.

    OUT/_RUN.json        the run's settings, written first; a rerun with other settings is refused
    OUT/LOG/part-*.parquet  the parts, each appearing only when complete
    OUT/LOG/_VIDEO.json  a video's list of parts, written after its last part (a video is one unit)
    OUT/LOG/movie.mp4    with movies: one explained video per log
    OUT/_SUCCESS.json    the manifest, written LAST: the only sign that the run finished

A rerun into the same folder skips the parts (and videos, and movies) already there; part names are
fixed by the plan, so nothing can be written twice.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ..outputs import remove_stale_partials, write_text
from .plan import Part, Plan
from .table import META_KEY

RUN, SUCCESS, VIDEO, MOVIE = "_RUN.json", "_SUCCESS.json", "_VIDEO.json", "movie.mp4"


def start_run(out: Path, settings: Mapping[str, Any], plan: Plan) -> None:
    """Create OUT (or reuse it for the same run); refuse a folder that holds another run's output."""
    out.mkdir(parents=True, exist_ok=True)
    mine = json.loads(json.dumps(settings))
    run = out / RUN
    if run.is_file():
        before = json.loads(run.read_text(encoding="utf-8"))
        changed = sorted(k for k in set(before) | set(mine) if before.get(k) != mine.get(k))
        if changed:
            raise ValueError(f"{out} holds the output of a run with other settings ({', '.join(changed)}): "
                             "give another --out, or remove it to start again")
    elif any(p.name != RUN for p in out.iterdir() if not p.name.startswith(".")):
        raise ValueError(f"{out} is not empty and is not a pilotlens batch output: give an empty or new folder")
    else:
        write_text(run, json.dumps(mine, indent=1))
    remove_stale_partials(out)
    for log in plan.logs:
        remove_stale_partials(out / log.folder)


def part_done(out: Path, part: Part) -> bool:
    return (out / part.folder / (VIDEO if part.whole else part.name)).is_file()


def movie_done(out: Path, folder: str) -> bool:
    return (out / folder / MOVIE).is_file()


def video_parts(out: Path, folder: str) -> list[str]:
    return json.loads((out / folder / VIDEO).read_text(encoding="utf-8"))["parts"]


def log_parts(out: Path, folder: str) -> list[Path]:
    """A log's finished parts in the log's order: a video's as its marker lists them, else every part on disk
    (a run's folder holds one run's settings: `start_run` refuses others)."""
    if (out / folder / VIDEO).is_file():
        return [out / folder / name for name in video_parts(out, folder)]
    return sorted((out / folder).glob("part-*.parquet"))


def mark_video(out: Path, folder: str, parts: list[str]) -> None:
    write_text(out / folder / VIDEO, json.dumps({"parts": parts}))


def incomplete(out: Path, plan: Plan, movies: bool) -> list[str]:
    """The logs with a part (or their movie) still missing."""
    return [log.path for log in plan.logs
            if not all(part_done(out, p) for p in plan.parts_of(log.folder)) or (movies and not movie_done(out, log.folder))]


def write_manifest(out: Path, plan: Plan, head: Mapping[str, Any], movies: bool) -> dict:
    """Write `_SUCCESS.json` from the parts on disk (every one must be there) and return it."""
    missing = incomplete(out, plan, movies)
    if missing:
        raise RuntimeError(f"cannot finish: logs still incomplete: {', '.join(missing)}")
    logs, parts, frames = [], [], 0
    for log in plan.logs:
        names = []
        for p in plan.parts_of(log.folder):
            names += video_parts(out, log.folder) if p.whole else [p.name]
        rel = [f"{log.folder}/{n}" for n in names]
        infos = [_part_info(out / r) for r in rel]
        count = sum(n for n, _ in infos)
        frames += count
        parts += rel
        logs.append({"log": log.path, "folder": log.folder, "frames": count, "parts": rel,
                     "skipped": [s for _, skipped in infos for s in skipped],
                     **({"movie": f"{log.folder}/{MOVIE}"} if movies else {})})
    manifest = {**head, "logs": logs, "frames": frames, "parts": parts}
    write_text(out / SUCCESS, json.dumps(manifest, indent=1))
    return manifest


def read_manifest(out: str | Path) -> dict:
    path = Path(out) / SUCCESS
    if not path.is_file():
        raise ValueError(f"{out}: no {SUCCESS}, so the run did not finish (rerun it to resume)")
    return json.loads(path.read_text(encoding="utf-8"))


def _part_info(path: Path) -> tuple[int, list]:
    """A part's row count and the frames skipped while making it (kept in its metadata)."""
    import pyarrow.parquet as pq
    meta = pq.ParquetFile(path).metadata
    return meta.num_rows, json.loads(meta.metadata[META_KEY]).get("skipped", [])
