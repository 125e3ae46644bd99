"""A stand-in for torchvision, so that pytorch-grad-cam imports where torchvision cannot (the CPU torch build
here has no matching torchvision).

pytorch-grad-cam 1.5 imports torchvision at module level in three files, for helpers the benched GradCAM path
never calls: `utils/image.py` (Compose, Normalize, ToTensor for `preprocess_image`), `sess.py` (`resize`) and
`utils/model_targets.py` (`torchvision.ops.box_iou`, for detection targets). The stand-in provides those names
and nothing else; each raises if it is called, so a timing that reached one would stop with an error instead
of measuring something other than the library's own code.
"""
from __future__ import annotations

import importlib
import sys
import types

#: module -> the names pytorch-grad-cam imports from it
NAMES = {
    "torchvision": (),
    "torchvision.transforms": ("Compose", "Normalize", "ToTensor"),
    "torchvision.transforms.functional": ("resize",),
    "torchvision.ops": ("box_iou",),
}


def _refusing(qualname: str):
    def missing(*_args, **_kwargs):
        raise RuntimeError(f"{qualname} is bench/torchvision_stand_in.py's stand-in (torchvision is not importable "
                           "here); the benched code called it, so its timing would not be the library's")
    missing.__name__ = qualname.rsplit(".", 1)[-1]
    missing.__qualname__ = qualname
    return missing


def install() -> bool:
    """Put the stand-in in sys.modules when torchvision does not import; False (nothing done) when it does."""
    try:
        importlib.import_module("torchvision")
        return False
    except Exception:  # noqa: BLE001 - missing, or installed but built for another torch: either way unusable
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]  # a half-imported real package must not shadow the stand-in
    for name, attrs in NAMES.items():
        module = types.ModuleType(name, "stand-in: see bench/torchvision_stand_in.py")
        for attr in attrs:
            setattr(module, attr, _refusing(f"{name}.{attr}"))
        sys.modules[name] = module
    for name in NAMES:  # parents hold their submodules as attributes, as an import would leave them
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, sys.modules[name])
    return True
