"""A stand-in for torchvision, so that pytorch-grad-cam and zennit import where torchvision cannot (the CPU torch
build here has no matching torchvision): the tests use pytorch-grad-cam as a reference for the CAM family
(tests/methods/test_pytorch_grad_cam.py) and zennit for LRP (tests/methods/test_lrp_zennit.py), and
bench/explain_speed.py times pytorch-grad-cam's GradCAM.

Both import torchvision at module level for things the compared methods never use. pytorch-grad-cam 1.5, in
three files: `utils/image.py` (Compose, Normalize, ToTensor for `preprocess_image`), `sess.py` (`resize`) and
`utils/model_targets.py` (`torchvision.ops.box_iou`, for detection targets). zennit 0.5: torchvision's ResNet
blocks, for its ResNet canonizer's isinstance tests. The stand-in provides those names and nothing else: each
function raises if it is called, and each class cannot be made, so no object is an instance of it; a test or a
timing that reached one would stop with an error instead of measuring something other than the library's own
code. It stands in only while the libraries import (`standing_in()`), so nothing else in the process finds a
torchvision.
"""
from __future__ import annotations

import contextlib
import importlib
import sys
import types
from typing import Iterator

#: module -> the names pytorch-grad-cam and zennit import from it (zennit: the ResNet blocks its canonizer knows)
NAMES = {
    "torchvision": (),
    "torchvision.transforms": ("Compose", "Normalize", "ToTensor"),
    "torchvision.transforms.functional": ("resize",),
    "torchvision.ops": ("box_iou",),
    "torchvision.models": (),
    "torchvision.models.resnet": ("Bottleneck", "BasicBlock"),
}
#: the names that must be classes (a library tests isinstance against them): classes no object is an instance of
CLASSES = ("Bottleneck", "BasicBlock")


def _refusing(qualname: str):
    def missing(*_args, **_kwargs):
        raise RuntimeError(f"{qualname} is tests/torchvision_stand_in.py's stand-in (torchvision is not importable "
                           "here): the code that called it needs the real torchvision, so no test or timing may "
                           "go through it")
    missing.__name__ = qualname.rsplit(".", 1)[-1]
    missing.__qualname__ = qualname
    return missing


def _refusing_class(qualname: str) -> type:
    """A class that cannot be instantiated, so no object is ever an instance of it."""
    def __new__(cls, *args, **kwargs):
        _refusing(qualname)()
    return type(qualname.rsplit(".", 1)[-1], (), {"__new__": __new__, "__qualname__": qualname})


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
            setattr(module, attr, _refusing_class(f"{name}.{attr}") if attr in CLASSES else _refusing(f"{name}.{attr}"))
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
