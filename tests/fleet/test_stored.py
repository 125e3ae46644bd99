"""A log's explanations read back from its parts, against the same frames explained afresh."""
from __future__ import annotations

import numpy as np
import pytest

from pilotlens.data import open_source
from pilotlens.fleet import batch
from pilotlens.fleet.manifest import log_parts
from pilotlens.fleet.stored import StoredExplanations
from pilotlens.frame_explainer import FrameExplainer
from pilotlens.models import open_pilot

METHODS = ["visual_backprop", "grad_cam:signed=true"]


def test_the_stored_explanations_are_the_fresh_ones_to_8_bits(fleet, user_pilot, tmp_path):
    model = f"{user_pilot / 'tinynet.py'}:TinyNet"
    options = {"weights": str(user_pilot / "tiny.pth")}
    batch(model, [fleet / "tub_a"], tmp_path / "out", methods=METHODS, model_options=options, batch_size=3,
          part_batches=1, progress=False)
    pilot = open_pilot(model, **options)
    parts = log_parts(tmp_path / "out", "tub_a")
    assert len(parts) > 1 and [p.name for p in parts] == sorted(p.name for p in parts)
    stored, frames = StoredExplanations(pilot, parts), list(open_source(fleet / "tub_a"))
    with FrameExplainer(pilot, METHODS) as fresh:
        for start in range(0, len(frames), 4):             # other batches than the parts': rows found by index
            chunk = frames[start:start + 4]
            got, want = stored(chunk), fresh(chunk)
            assert got.signed == want.signed == {"visual_backprop": False, "grad_cam:signed=true": True}
            assert got.target == want.target and got.layers == want.layers
            for name in want.predictions:   # the parts' batches were of 3: the forward's rounding differs
                np.testing.assert_allclose(got.predictions[name], want.predictions[name], rtol=1e-5, atol=1e-7)
            for label, step in (("visual_backprop", 1 / 255), ("grad_cam:signed=true", 1 / 127)):
                # 8-bit maps at the model's size, then resized: within half a step (a resize is a weighted mean)
                assert got.maps[label].shape == want.maps[label].shape == (len(chunk), *chunk[0].image.shape[:2])
                assert np.abs(got.maps[label] - want.maps[label]).max() <= step / 2 + 1e-6


def test_a_frame_no_part_holds_is_named(fleet, user_pilot, tmp_path):
    model = f"{user_pilot / 'tinynet.py'}:TinyNet"
    options = {"weights": str(user_pilot / "tiny.pth")}
    batch(model, [fleet / "tub_a"], tmp_path / "out", model_options=options, batch_size=3, part_batches=1,
          end=4, progress=False)
    stored = StoredExplanations(open_pilot(model, **options), log_parts(tmp_path / "out", "tub_a"))
    frames = list(open_source(fleet / "tub_a"))
    stored(frames[:4])
    with pytest.raises(ValueError, match=f"frame {frames[5].index} of the log is in none of its parts"):
        stored(frames[5:6])
    with pytest.raises(ValueError, match="no part"):
        StoredExplanations(open_pilot(model, **options), [])
