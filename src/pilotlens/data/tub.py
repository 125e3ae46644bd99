"""donkeycar tubs: read v2 and v1, write v2.

Tub v2 (donkeycar >= 4), a folder::

    manifest.json            JSON lines: 1 input names, 2 types, 3 user metadata, 4 manifest metadata,
                             5 catalog metadata {"paths": [...], "current_index", "max_len",
                             "deleted_indexes": [...]}
    catalog_N.catalog        JSON lines, one record each: {"_index", "_session_id", "_timestamp_ms",
                             "cam/image_array": "<file under images/>", "user/angle", "user/throttle", ...}
    catalog_N.catalog_manifest   one JSON line: {"path", "created_at", "start_index", "line_lengths"}
    images/                  N_cam_image_array_.jpg

Records whose ``_index`` is in ``deleted_indexes`` are not frames: they are dropped before
numbering, so a Frame's index counts the kept records. Tub v1 is a folder of ``record_N.json``
files (same keys, ``milliseconds`` optional) with the images beside them.

Labels are {"angle": user/angle, "throttle": user/throttle} (donkeycar units: both in [-1, 1]).
``time`` is seconds from the first kept record's timestamp; ``fps`` is estimated from the median
step between timestamps (None without timestamps). A malformed catalog line or record file becomes
a bad frame at its position: skipped with a warning, or FrameError under strict.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from PIL import Image

from .frame import Frame
from .images import natural_key, read_image
from ..outputs import discard, partial_path, publish_folder
from .files import confined, parse_json, read_text
from .source import Record, Source, broken, clock, label

log = logging.getLogger("pilotlens.data")

IMAGE_KEY, ANGLE_KEY, THROTTLE_KEY = "cam/image_array", "user/angle", "user/throttle"
MAX_LEN = 1000  # records per catalog file, as donkeycar writes them


@dataclass
class _Entry:
    where: str  # file (and line) to report
    image: Path | None = None
    labels: dict | None = None
    stamp: float | None = None  # milliseconds, absolute
    error: str | None = None


def _stamp(value) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else None


def _entry(where: str, rec, image_dir: Path, stamp_key: str) -> _Entry:
    if not isinstance(rec, dict):
        return _Entry(where, error=f"expected a JSON object, got {type(rec).__name__}")
    name = rec.get(IMAGE_KEY)
    if not isinstance(name, str) or not name:
        return _Entry(where, error=f"no '{IMAGE_KEY}' file name in the record")
    labels = {}
    for key, value in ((ANGLE_KEY, "angle"), (THROTTLE_KEY, "throttle")):
        if key in rec:  # an absent label is absent; a present one must be a sound number
            try:
                labels[value] = label(key, rec[key])
            except ValueError as exc:
                return _Entry(where, error=str(exc))
    return _Entry(where, image_dir / name, labels, _stamp(rec.get(stamp_key)))


class TubSource(Source):
    """Frames of a donkeycar tub folder (v2 with manifest.json, or v1 with record_N.json files)."""

    kind, unit = "tub", "record"

    def __init__(self, path: str | os.PathLike, *, start: int = 0, end: int | None = None, step: int = 1,
                 strict: bool = False):
        super().__init__(start, end, step, strict)
        path = Path(path)
        self.path = path.parent if path.name == "manifest.json" else path
        self.name = str(self.path)
        if (self.path / "manifest.json").exists():
            self.version, self._entries = 2, self._read_v2()
        elif self.path.is_dir() and any(self.path.glob("record_*.json")):
            self.version, self._entries = 1, self._read_v1()
        else:
            raise ValueError(f"{self.path}: not a donkeycar tub (no manifest.json, no record_*.json)")
        self._times, self.fps = clock([e.stamp for e in self._entries])

    def _inside(self, path: Path, what: str) -> Path:
        return confined(path, self.path, f"{what} of the tub:")

    def _read_v2(self) -> list[_Entry]:
        meta = {}
        manifest = self.path / "manifest.json"
        text = read_text(self._inside(manifest, "manifest"), "JSON")
        for n, line in enumerate(text.splitlines(), 1):
            try:
                obj = parse_json(line, f"{manifest}:{n}", "line") if line.strip() else None
            except ValueError as exc:
                # this line may be the one listing the deleted records: reading on would bring them back
                raise ValueError(f"{exc}; it may be the catalog metadata that "
                                 "lists the deleted records, so pilotlens refuses to read the tub rather than "
                                 "bring deleted records back. Repair the line (donkeycar writes "
                                 '{"paths": [...], "deleted_indexes": [...], ...}) or remove the tub\'s '
                                 "manifest.json to read every record") from None
            if isinstance(obj, dict) and ("paths" in obj or "deleted_indexes" in obj):
                meta = obj  # the catalog metadata is the last such line
        deleted = meta.get("deleted_indexes") or []
        if not (isinstance(deleted, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in deleted)):
            raise ValueError(f"{manifest}: deleted_indexes must be a list of record indexes, got {deleted!r:.80}; "
                             "pilotlens refuses to read the tub rather than bring deleted records back")
        deleted = set(deleted)
        paths = meta.get("paths") or sorted((p.name for p in self.path.glob("catalog_*.catalog")), key=natural_key)
        if not (isinstance(paths, list) and all(isinstance(p, str) and p for p in paths)):
            raise ValueError(f"{manifest}: paths must be a list of catalog file names, got {paths!r:.80}")
        entries, position = [], 0
        for name in paths:
            catalog = self.path / name
            try:
                text = read_text(self._inside(catalog, "catalog"), "catalog")
            except (OSError, ValueError) as exc:
                message = (f"{catalog}: catalog listed in manifest.json is missing"
                           if isinstance(exc, FileNotFoundError) else f"{exc}")
                if self.strict:
                    raise ValueError(message) from None
                log.warning("%s; its records are not read", message)
                continue
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                where = f"{catalog}:{n}"
                try:
                    rec, error = parse_json(line, what="catalog line"), None
                except ValueError as exc:
                    rec, error = None, str(exc)
                # donkeycar numbers records by their line position; _index says the same when present
                index = rec.get("_index") if isinstance(rec, dict) else None
                index = index if isinstance(index, int) else position
                position += 1
                if index in deleted:
                    continue  # checked before the record's content, as a deleted line need not be valid
                entries.append(_Entry(where, error=error) if error
                               else _entry(where, rec, self.path / "images", "_timestamp_ms"))
        return entries

    def _read_v1(self) -> list[_Entry]:
        entries = []
        for f in sorted(self.path.glob("record_*.json"), key=lambda p: natural_key(p.name)):
            try:
                rec = parse_json(read_text(self._inside(f, "record"), "JSON"), what="record file")
            except (OSError, ValueError) as exc:
                entries.append(_Entry(str(f), error=str(exc)))
                continue
            entries.append(_entry(str(f), rec, self.path, "milliseconds"))
        return entries

    def _image(self, path: Path):
        return read_image(self._inside(path, "image"))

    def _count(self) -> int:
        return len(self._entries)

    def _records(self) -> Iterator[Record]:
        for i, (e, t) in enumerate(zip(self._entries, self._times)):
            if e.error is not None:
                yield broken(i, e.where, e.error)
            else:
                yield Record(i, str(e.image), lambda p=e.image: self._image(p), time=t, labels=e.labels)


def write_tub(path: str | os.PathLike, frames: Iterable[Frame], fps: float = 20.0, *,
              overwrite: bool = False, quality: int = 95) -> Path:
    """Write Frames as a donkeycar v2 tub at `path`; return the path.

    Each frame becomes a record with its image (JPEG, `quality`), ``user/angle`` and
    ``user/throttle`` from its labels (0.0 when absent; other labels are not written) and a
    timestamp from its ``time`` (or index / `fps` when it has none). Frames are streamed, not held.
    The tub is built in a temporary folder beside `path` and renamed into place at the end, so a
    failure never leaves a half-written tub. An existing `path` raises FileExistsError unless
    `overwrite`.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: already exists (pass overwrite=True to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(target)
    try:
        os.mkdir(tmp)
        _write_v2(Path(tmp), frames, fps, quality)
        publish_folder(tmp, target)   # an old tub is dropped only once the new one is in
    except BaseException:
        discard(tmp)
        raise
    return target


def _write_line(f, obj) -> int:
    # donkeycar keeps each line's length (in characters, newline included) in the catalog manifest
    line = json.dumps(obj, allow_nan=False, sort_keys=True) + "\n"
    f.write(line)
    return len(line)


def _write_v2(root: Path, frames: Iterable[Frame], fps: float, quality: int) -> None:
    (root / "images").mkdir()
    session = f"{time.strftime('%y-%m-%d')}_0"
    t0_ms = int(round(time.time() * 1000))
    catalogs: list[str] = []
    f, lengths, count = None, [], 0

    def close_catalog():
        f.close()
        name = catalogs[-1] + "_manifest"  # catalog_N.catalog_manifest; donkeycar stores this name as "path"
        with open(root / name, "w", encoding="utf-8", newline="\n") as m:
            _write_line(m, {"path": name, "created_at": time.time(),
                            "start_index": (len(catalogs) - 1) * MAX_LEN, "line_lengths": lengths})

    for i, frame in enumerate(frames):
        if i % MAX_LEN == 0:
            if f is not None:
                close_catalog()
            catalogs.append(f"catalog_{len(catalogs)}.catalog")
            f, lengths = open(root / catalogs[-1], "w", encoding="utf-8", newline="\n"), []
        image_name = f"{i}_cam_image_array_.jpg"
        Image.fromarray(frame.image).save(root / "images" / image_name, quality=quality)
        t = frame.time if frame.time is not None else i / fps
        labels = frame.labels or {}
        lengths.append(_write_line(f, {
            "_index": i, "_session_id": session, "_timestamp_ms": t0_ms + int(round(t * 1000)),
            IMAGE_KEY: image_name, ANGLE_KEY: float(labels.get("angle", 0.0)),
            THROTTLE_KEY: float(labels.get("throttle", 0.0)), "user/mode": "user"}))
        count = i + 1
    if f is None:  # an empty tub still has its first (empty) catalog, as donkeycar makes it
        catalogs.append("catalog_0.catalog")
        f = open(root / catalogs[-1], "w", encoding="utf-8", newline="\n")
    close_catalog()

    with open(root / "manifest.json", "w", encoding="utf-8", newline="\n") as m:
        for obj in (["cam/image_array", ANGLE_KEY, THROTTLE_KEY, "user/mode"],
                    ["image_array", "float", "float", "str"],
                    {},
                    {"created_at": time.time(),
                     "sessions": {"all_full_ids": [session], "last_id": 0, "last_full_id": session}},
                    {"paths": catalogs, "current_index": count, "max_len": MAX_LEN, "deleted_indexes": []}):
            m.write(json.dumps(obj) + "\n")
