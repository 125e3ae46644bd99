"""Pilot files: one torch file, a dict of plain data plus "state_dict" (Pilot.save / Pilot.load).

Reading is always torch.load(weights_only=True): loading never runs code from the file. The model is
rebuilt from the file's "arch" and "arch_kwargs" with zoo.build (a zoo architecture, a torchvision
classifier, a converted Keras graph), or filled into the model the caller gives.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..outputs import atomic_file
from . import zoo
from .keras import is_keras_file

#: where the pilots shipped with the package live: Pilot.load("<name>") reads weights/<name>.pt
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
FILE_FORMAT = "pilotlens.pilot"
FILE_VERSION = 1
#: the Pilot settings a file holds (how it sees, what its outputs mean)
SETTINGS = ("input_size", "crop", "color", "scale", "mean", "std", "outputs", "units", "default_target", "name")
_PLAIN = (str, int, float, bool, type(None))

# the first bytes of the files people pass as a model, to say what a file is before unpickling it
_MAGIC = {b"PK\x03\x04": "torch", b"\x89HDF\r\n\x1a\n": "hdf5"}


def plain(value: Any, what: str) -> Any:
    """`value` if it is plain data (what weights_only loading accepts), else a ValueError."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v, what) for v in value)
    if isinstance(value, dict):
        return {plain(k, what): plain(v, what) for k, v in value.items()}
    raise ValueError(f"{what} must be plain data (str, numbers, bool, None, lists, tuples, dicts) to be "
                     f"saved and loaded safely; got {type(value).__name__}: {value!r}")


def shipped_pilots() -> list[str]:
    """Names of the pilots shipped with the package (Pilot.load(name) loads them)."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt")) if WEIGHTS_DIR.is_dir() else []


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\n\r\t" for c in text)


def first_line(exc: BaseException) -> str:
    """The first line of a torch.load error, or its type when that line advises loading with
    weights_only=False (running the file's code is advice pilotlens never relays)."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    return type(exc).__name__ if not line or "weights_only" in line else line


def read_torch_file(path: Path) -> Any:
    """torch.load(path, weights_only=True), with errors that say what the file is not, and never the
    advice to load unsafely."""
    with open(path, "rb") as f:
        head = f.read(512)
    kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    if kind == "hdf5":
        raise ValueError(f"{path}: an HDF5 file (a Keras .h5 model?), not a pilotlens pilot file")
    if kind is None and not head.startswith(b"\x80"):   # neither a torch zip nor a legacy pickle
        what = "empty" if not head else ("text" if _is_text(head) else "not a PyTorch file")
        raise ValueError(f"{path}: not a pilot file: it is {what} (a pilot file is what Pilot.save or "
                         "`pilotlens train` writes)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ValueError(f"{path}: refused: it holds pickled Python objects (a whole model or other classes), "
                         "and pilotlens never loads code from a file. Save plain weights instead: "
                         "Pilot(model, ...).save(path) or torch.save(model.state_dict(), path)") from None
    except Exception as e:  # a truncated or corrupt file
        raise ValueError(f"{path}: not a readable PyTorch file, truncated or corrupt ({first_line(e)})") from None


def write_pilot(path, data: dict, state_dict: dict, half: bool = False) -> None:
    """Write `data` (plain) plus "state_dict" (on the CPU; float16 when `half`) to `path`, atomically:
    a temporary file in the same folder, then os.replace."""
    def stored(v: torch.Tensor) -> torch.Tensor:
        v = v.detach().cpu()
        return v.to(torch.float16) if half and v.is_floating_point() else v

    data = {"format": FILE_FORMAT, "version": FILE_VERSION, **data,
            "weights_dtype": "float16" if half else "as trained",
            "state_dict": {k: stored(v) for k, v in state_dict.items()}}
    with atomic_file(Path(path)) as tmp, open(tmp, "xb") as f:  # plain open: the usual permissions
        torch.save(data, f)
        f.flush()
        os.fsync(f.fileno())


def resolve(path_or_name) -> Path:
    """The pilot file a path or a shipped pilot's bare name ("pilotnet") names, or FileNotFoundError."""
    path = Path(path_or_name)
    if is_keras_file(path):
        raise ValueError(f"{path}: a Keras model file, not a pilot file: open it with "
                         "pilotlens.models.open_pilot (or convert it with `pilotlens import`)")
    if path.is_file():
        return path
    text = str(path_or_name)
    if "/" not in text and os.sep not in text and not path.suffix:
        shipped = WEIGHTS_DIR / f"{text}.pt"
        if shipped.exists():
            return shipped
        names = shipped_pilots()
        raise FileNotFoundError(f"no pilot file {text!r} here, and no shipped pilot named {text!r}; shipped: "
                                + (", ".join(names) if names else "none yet"))
    raise FileNotFoundError(f"no pilot file {text}")


def read_pilot(path: Path) -> dict:
    """The checked contents of the pilot file `path` (format, version, arch, settings, state_dict)."""
    data = read_torch_file(path)
    if not (isinstance(data, dict) and data.get("format") == FILE_FORMAT):
        raise ValueError(f"{path}: not a pilotlens pilot file (written by Pilot.save); a bare state_dict "
                         "loads with pilot.model.load_state_dict(torch.load(path, weights_only=True))")
    if data.get("version", 0) > FILE_VERSION:
        raise ValueError(f"{path}: pilot file version {data['version']} is newer than this pilotlens reads "
                         f"({FILE_VERSION})")
    return data


def rebuild(data: dict, path: Path, model: nn.Module | None = None) -> nn.Module:
    """The file's model with its weights: `model` filled in, else built from its arch and arch_kwargs."""
    if model is None:
        model = _build(data.get("arch"), dict(data.get("arch_kwargs") or {}), path)
    model.load_state_dict(data["state_dict"])
    return model


def _build(arch: str | None, arch_kwargs: dict, path: Path) -> nn.Module:
    if arch is None:
        raise ValueError(f"{path}: this pilot was saved without an architecture name; "
                         "pass the model to fill: Pilot.load(path, model=MyNet())")
    if arch.startswith(zoo.TORCHVISION_PREFIX):
        arch_kwargs.pop("weights", None)  # the state_dict brings them; never download
    try:
        return zoo.build(arch, **arch_kwargs)
    except ImportError as e:
        raise ValueError(f"{path}: the pilot's architecture {arch!r} needs a package that is not "
                         f"installed: {e}") from None
