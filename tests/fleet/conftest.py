"""Small fleets (two tubs and a video), a user's FILE.py:Class pilot, and one local Ray cluster for
the session: 2 CPUs, no dashboard, loopback only, no auth token in the home folder."""
from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest
import torch

from pilotlens.data import write_tub
from pilotlens.data.synthetic import SyntheticSource
from pilotlens.render import open_sink

USER_NET = textwrap.dedent('''
    import os
    import sys

    import torch
    from torch import nn

    FAIL_ONCE = os.path.join(os.path.dirname(__file__), "fail-once")
    FAIL_ALWAYS = os.path.join(os.path.dirname(__file__), "fail-always")


    def _in_layout_probe():
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name == "_probe":
                return True
            frame = frame.f_back
        return False


    class TinyNet(nn.Module):
        """A small steering net for 48 x 32 frames; fails on demand (marker files beside it)."""
        input_size = (48, 32)
        output_names = ("angle",)

        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3, 2), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU())
            self.head = nn.Sequential(nn.Flatten(), nn.LazyLinear(1))
            self.head(self.features(torch.zeros(1, 3, 32, 48)))

        def forward(self, x):
            # only on batches (not the one-image check at open), never inside the layout probe
            # (layout._probe), whose verdict (channels_last or not) a failure would change, and with
            # it the maps' float rounding
            if x.shape[0] > 1 and not _in_layout_probe() and os.path.exists(FAIL_ALWAYS):
                raise RuntimeError("injected failure (always)")
            if x.shape[0] > 1 and not _in_layout_probe() and os.path.exists(FAIL_ONCE):
                os.remove(FAIL_ONCE)
                raise RuntimeError("injected failure (once)")
            return self.head(self.features(x))
''')


@pytest.fixture(scope="session")
def fleet(tmp_path_factory):
    """Two tubs of different lengths and frame sizes and one short H.264 video."""
    root = tmp_path_factory.mktemp("fleet")
    write_tub(root / "tub_a", SyntheticSource(seed=1, frames=11, size=(64, 48)), fps=20)
    write_tub(root / "tub_b", SyntheticSource(seed=2, frames=7, size=(80, 60)), fps=20)
    with open_sink(root / "drive.mp4", 10) as sink:
        for frame in SyntheticSource(seed=3, frames=9, size=(64, 48)):
            sink.write(frame.image)
    return root


@pytest.fixture(scope="session")
def user_pilot(tmp_path_factory):
    """FILE.py:Class and a weights file for it (a state_dict, loaded weights_only)."""
    root = tmp_path_factory.mktemp("user")
    (root / "tinynet.py").write_text(USER_NET)
    import importlib.util
    spec = importlib.util.spec_from_file_location("tinynet_for_weights", root / "tinynet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    torch.save(module.TinyNet().state_dict(), root / "tiny.pth")
    return root


@pytest.fixture(scope="session")
def ray_cluster():
    if not _has_ray():
        pytest.skip("Ray is not installed: pip install 'pilotlens[ray]' (CI installs it with the test extra)")
    from pilotlens.fleet.cluster import LOCAL_ENV
    for key, value in LOCAL_ENV.items():
        os.environ.setdefault(key, value)   # before Ray is imported: loopback, no token in $HOME
    import ray
    temp = tempfile.mkdtemp(prefix="pilotlens-test-ray-")
    try:
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", _temp_dir=temp,
                 log_to_driver=False, logging_level="WARNING")
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}, "the test cluster left loopback"
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def _has_ray() -> bool:
    """Without importing it: Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER once, at import."""
    import importlib.util
    spec = importlib.util.find_spec("ray")   # ray.data's spec would import ray itself
    return spec is not None and any((Path(p) / "data" / "__init__.py").is_file() for p in spec.submodule_search_locations)
