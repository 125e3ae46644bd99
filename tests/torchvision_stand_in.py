"""A stand-in for torchvision, so that pytorch-grad-cam imports where torchvision cannot (the CPU torch build
here has no matching torchvision): the tests use pytorch-grad-cam as a reference for the CAM family
(tests/methods/test_pytorch_grad_cam.py), and bench/explain_speed.py times its GradCAM.

pytorch-grad-cam 1.5 imports torchvision at module level in three files, for helpers the benched GradCAM path
never calls: `utils/image.py` (Compose, Normalize, ToTensor for `preprocess_image`), `sess.py` (`resize`) and
`utils/model_targets.py` (`torchvision.ops.box_iou`, for detection targets). The stand-in provides those names
and nothing else; each raises if it is called, so a timing that reached one would stop with an error instead
of measuring something other than the library's own code. It stands in only while pytorch-grad-cam imports
(`standing_in()`), so nothing else in the process finds a torchvision.
"""
from __future__ import annotations

import contextlib
import importlib
import sys
import types
from typing import Iterator

#: module -> the names pytorch-grad-cam imports from it
NAMES = {
    "torchvision": (),
    "torchvision.transforms": ("Compose", "Normalize", "ToTensor"),
    "torchvision.transforms.functional": ("resize",),
    "torchvision.ops": ("box_iou",),
}


def _refusing(qualname: str):
    def missing(*_args, **_kwargs):
        raise RuntimeError(f"{qualname} is tests/torchvision_stand_in.py's stand-in (torchvision is not importable "
                           "here): the code that called it needs the real torchvision, so no test or timing may "
                           "go through it")
    missing.__name__ = qualname.rsplit(".", 1)[-1]
    missing.__qualname__ = qualname
    return missing


@contextlib.contextmanager
def standing_in() -> Iterator[bool]:
    """Within the block, `import torchvision` finds the stand-in when the real one does not import (yields
    whether it stands in). Afterwards sys.modules is as before: what was imported inside keeps the names it
    took, and nothing else (pilotlens's optional torchvision zoo, its tests) ever sees a torchvision."""
    try:
        importlib.import_module("torchvision")
        yield False
        return
    except Exception:  # noqa: BLE001 - missing, or installed but built for another torch: either way unusable
        pass
    before = {n: m for n, m in sys.modules.items() if n == "torchvision" or n.startswith("torchvision.")}
    for name in before:
        del sys.modules[name]  # a half-imported real package must not shadow the stand-in
    for name, attrs in NAMES.items():
        module = types.ModuleType(name, "stand-in: see tests/torchvision_stand_in.py")
        for attr in attrs:
            setattr(module, attr, _refusing(f"{name}.{attr}"))
        sys.modules[name] = module
    for name in NAMES:  # parents hold their submodules as attributes, as an import would leave them
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, sys.modules[name])
    try:
        yield True
    finally:
        for name in NAMES:
            sys.modules.pop(name, None)
