"""The user's own PyTorch class: `--model mynet.py:MyNet --weights state.pth`.

The user names their own Python file, so importing it is what they asked for; the weights still load
with torch.load(weights_only=True), so a weights file can never run code.
"""
from __future__ import annotations

import hashlib
import importlib.util
import pickle
import sys
from pathlib import Path

import torch
from torch import nn

from .pilot import Pilot
from .pilot_file import FILE_FORMAT, first_line


def split_spec(spec: str) -> tuple[Path, str] | None:
    """'mynet.py:MyNet' -> (Path('mynet.py'), 'MyNet'); None when `spec` is not of that form."""
    text = str(spec)
    path, sep, name = text.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        return None
    return Path(path), name


def is_user_class(spec) -> bool:
    """True when `spec` looks like 'file.py:ClassName'."""
    return split_spec(spec) is not None


def _import_file(path: Path):
    """Import the user's file as a module of its own (a unique name per path, so two files called
    model.py do not collide), with its folder on sys.path while it imports (for its sibling imports)."""
    resolved = path.resolve()
    name = f"pilotlens_user_{resolved.stem}_{hashlib.sha1(str(resolved).encode()).hexdigest()[:10]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(resolved.parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:   # the user's typo: where it is, not our traceback
        sys.modules.pop(name, None)
        where = f"{Path(e.filename).name if e.filename else path.name} line {e.lineno}"
        raise ValueError(f"{where}: SyntaxError: {e.msg} (importing {path})") from None
    except (Exception, SystemExit) as e:   # the file ran and raised: name the file and its line
        sys.modules.pop(name, None)
        raise ValueError(f"{path}{_line_in(e, resolved)} raised {type(e).__name__} at import: {e}") from None
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
    return module


def _line_in(exc: BaseException, path: Path) -> str:
    """' line N' for the deepest line of `path` in `exc`'s traceback ('' when it has none)."""
    line, tb = "", exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename) == path:
            line = f" line {tb.tb_lineno}"
        tb = tb.tb_next
    return line


def read_state_dict(weights) -> dict[str, torch.Tensor]:
    """A state_dict from a file: a raw state_dict, or a pilotlens pilot file's "state_dict"; always
    torch.load(weights_only=True)."""
    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"no weights file {weights}")
    try:
        data = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message advises weights_only=False, i.e. running the file's code: never relay it
        raise ValueError(f"{weights}: refused: it holds pickled Python objects; pilotlens only loads tensors "
                         "(save weights with torch.save(model.state_dict(), path))") from None
    except Exception as e:  # a truncated or corrupt file; its first line only (torch's may give advice below)
        raise ValueError(f"{weights}: not a readable torch weights file ({first_line(e)})") from None
    if isinstance(data, dict) and data.get("format") == FILE_FORMAT:
        data = data.get("state_dict")
    elif isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]  # a training checkpoint {"state_dict": ..., "epoch": ...}
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(f"{weights}: holds no state_dict (a dict of parameter names to tensors)")
    return data


def _short(keys: list[str], n: int = 8) -> str:
    return ", ".join(keys[:n]) + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def user_model(spec: str, weights=None, **kwargs) -> nn.Module:
    """The user's class `MyNet` from `mynet.py`, built with **kwargs, its weights loaded (strictly)
    from `weights` when given, in eval mode.

    Errors (one line, naming the file): no such file, no such class, not an nn.Module, a weights
    file that does not load with weights_only=True, or weights that do not fit (missing and
    unexpected keys, or the first shape mismatch).
    """
    parts = split_spec(spec)
    if parts is None:
        raise ValueError(f"a model class is given as FILE.py:ClassName (e.g. mynet.py:MyNet), got {spec!r}")
    path, name = parts
    if not path.is_file():
        raise FileNotFoundError(f"no Python file {path} (from --model {spec})")
    cls = _user_class(path, name)
    try:
        model = cls(**kwargs)
    except TypeError as e:
        raise ValueError(f"{path}: {name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) failed: {e}") from e
    if weights is not None:
        _load_weights(model, weights, name)
    return model.eval()


def _user_class(path: Path, name: str) -> type[nn.Module]:
    """The nn.Module class `name` from the user's file `path`, or a ValueError naming what it has."""
    module = _import_file(path)
    cls = getattr(module, name, None)
    if cls is None:
        found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, nn.Module)
                       and v.__module__ == module.__name__)
        raise ValueError(f"{path} has no {name!r}; the nn.Module classes it defines: {', '.join(found) or 'none'}")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(f"{path}: {name} is not a torch.nn.Module class")
    return cls


def _load_weights(model: nn.Module, weights, name: str) -> None:
    """Load the state_dict in `weights` into `model` strictly, with errors that say what does not fit."""
    state = read_state_dict(weights)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ValueError(f"{weights} does not fit {name}: missing keys: {_short(missing) or 'none'}; "
                         f"unexpected keys: {_short(unexpected) or 'none'}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(f"{weights} does not fit {name}: {k} has shape {tuple(v.shape)} in the file, "
                             f"{tuple(own[k].shape)} in the model")
    model.load_state_dict(state)


def class_seeing(model: nn.Module) -> dict:
    """The Pilot settings a user's class says of itself: its `preprocessing` dict, `input_size` and
    `output_names` (the flags of the command line win over them)."""
    settings: dict = {}
    if isinstance(getattr(model, "preprocessing", None), dict):
        settings.update(model.preprocessing)
    if getattr(model, "input_size", None) is not None:
        settings["input_size"] = tuple(model.input_size)
    if getattr(model, "output_names", None):
        settings["outputs"] = tuple(model.output_names)
    return settings


def user_pilot(spec: str, weights=None, *, model_kwargs: dict | None = None, **pilot_settings) -> Pilot:
    """A Pilot around the user's class: how it sees comes from the class where it says (a
    `preprocessing` dict of Pilot settings, `input_size`, `output_names`), then from
    `pilot_settings`, else the Pilot defaults. Saved pilots of user classes carry no architecture:
    `Pilot.load(path, model=user_model(spec))` fills them."""
    model = user_model(spec, weights, **(model_kwargs or {}))
    settings = class_seeing(model)
    settings.setdefault("name", split_spec(spec)[1])
    settings.update(pilot_settings)
    return Pilot(model, **settings)
