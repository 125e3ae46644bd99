"""Where frames come from: one Source per input format, and `open_source` to pick one from a path."""
from __future__ import annotations

import inspect
import os
from pathlib import Path

from .files import check_regular
from .frame import Frame
from .images import IMAGE_EXTENSIONS, ImageSource, list_images
from .source import FrameError, Skipped, Source, screened
from .sullychen import SullyChenSource
from .tub import TubSource, write_tub
from .udacity import UdacitySource
from .video import VIDEO_EXTENSIONS, VideoSource

__all__ = ["Frame", "Source", "FrameError", "Skipped", "open_source", "screened", "write_tub",
           "ImageSource", "VideoSource", "TubSource", "UdacitySource", "SullyChenSource"]

FORMATS = ("a donkeycar tub folder (manifest.json, or record_*.json), "
           "a Udacity simulator driving_log.csv (or its folder), "
           "a SullyChen data.txt (or its folder), "
           f"a folder of images, an image ({', '.join(IMAGE_EXTENSIONS)}), "
           f"a video ({', '.join(VIDEO_EXTENSIONS)}), "
           "or 'synthetic' for the built-in driving world")


def _pick(path: Path) -> type[Source] | None:
    if path.is_dir():
        if (path / "manifest.json").is_file() or any(path.glob("record_*.json")):
            return TubSource
        if (path / "driving_log.csv").is_file():
            return UdacitySource
        if (path / "data.txt").is_file():
            return SullyChenSource
        return ImageSource if list_images(path) else None
    suffix = path.suffix.lower()
    if path.name == "manifest.json":
        return TubSource
    if suffix == ".csv":
        return UdacitySource
    if path.name == "data.txt":
        return SullyChenSource
    if suffix in VIDEO_EXTENSIONS:
        return VideoSource
    if suffix in IMAGE_EXTENSIONS:
        return ImageSource
    return None


def _options(cls: type, given: dict) -> None:
    """Refuse options the chosen format does not take, naming those it does."""
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return  # the source takes anything; let it judge
    valid = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
             and p.name not in ("self", "path", "start", "end", "step", "strict")]
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise TypeError(f"{cls.__name__} does not take {', '.join(unknown)}; "
                        f"its options are: {', '.join(valid) or 'none'} (and start, end, step, strict)")


def open_source(spec: str | os.PathLike, *, start: int = 0, end: int | None = None, step: int = 1,
                strict: bool = False, **options) -> Source:
    """Open frames from `spec`, the format told by the path (see FORMATS), or "synthetic".

    start/end/step select frames by index (end exclusive); strict=True raises FrameError on the
    first unreadable frame instead of skipping it. `options` go to the format's source, e.g.
    ``camera="left"`` for a Udacity log; an option the format does not know raises TypeError.
    """
    selection = dict(start=start, end=end, step=step, strict=strict)
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"open_source takes a path or 'synthetic', got {type(spec).__name__}")
    if not os.fspath(spec).strip():
        # Path("") is the current folder: an empty spec (an unset variable, a stray comma) must not read it
        raise ValueError(f"the input is empty: give a path or 'synthetic'. pilotlens reads {FORMATS}")
    if isinstance(spec, str) and spec == "synthetic" and not Path(spec).exists():
        from .synthetic import SyntheticSource  # imported lazily: the world is not needed to read files

        _options(SyntheticSource, options)
        source = SyntheticSource(**selection, **options)
        source.check_range()
        return source
    path = Path(spec).expanduser()
    if not path.exists():
        raise ValueError(f"{spec}: no such file or folder. pilotlens reads {FORMATS}")
    if not path.is_dir():
        check_regular(path)  # a FIFO or device would block (or never end) the first read
    cls = _pick(path)
    if cls is None and path.is_dir():
        what = "an empty folder" if not any(path.iterdir()) else "a folder with no images, tub, Udacity or SullyChen log"
        raise ValueError(f"{spec}: {what}. pilotlens reads {FORMATS}")
    if cls is None:
        raise ValueError(f"{spec}: not a format pilotlens reads. It reads {FORMATS}")
    _options(cls, options)
    source = cls(path, **selection, **options)
    source.check_range()  # a start past the end is said now, before a model is loaded
    return source
