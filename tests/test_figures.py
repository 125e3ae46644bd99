import numpy as np
import torch
from PIL import Image

from pilotlens.data import open_source
from pilotlens.figures import explain_to_pngs, grid_figure
from pilotlens.models.pilot import Pilot


def _pilot():
    torch.manual_seed(0)
    return Pilot.from_arch("donkey_linear")


def test_one_png_per_input(tmp_path):
    frames = list(open_source("synthetic", frames=3, seed=1))
    written = explain_to_pngs(_pilot(), frames, tmp_path / "out", ["visual_backprop", "grad_cam"])
    assert len(written) == 3 and all(p.exists() for p in written)
    assert np.asarray(Image.open(written[0])).shape[1] == 3 * 320        # 160-px frames drawn twice as large
    assert [p.name for p in written] == [f"frame_{i:05d}_explained.png" for i in range(3)]


def test_grid_has_a_row_per_input_and_a_column_per_model_method(tmp_path):
    frames = list(open_source("synthetic", frames=2, seed=1))
    one = grid_figure({"a": _pilot()}, frames, ["visual_backprop", "activation"])
    two = grid_figure({"a": _pilot(), "b": _pilot()}, frames, ["visual_backprop"])
    assert one.shape == two.shape                  # 3 columns each: input + 2
    assert one.shape[1] > 3 * 160 and one.shape[0] > 2 * 120
