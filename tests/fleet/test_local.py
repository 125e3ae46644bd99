"""The local engine: rows checked against an independent VisualBackProp and forward, resume, failures."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pilotlens.data import open_source
from pilotlens.fleet import batch, decode_map, read_frames, read_manifest


def _user(user_pilot):
    return dict(model=f"{user_pilot / 'tinynet.py'}:TinyNet", model_options={"weights": str(user_pilot / "tiny.pth")})


def _reference(user_pilot, images):
    """VisualBackProp and the prediction for TinyNet, written here from the method's definition."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("tinynet_reference", user_pilot / "tinynet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.TinyNet()
    net.load_state_dict(torch.load(user_pilot / "tiny.pth", weights_only=True))
    net.eval()
    x = torch.from_numpy(np.stack([cv2.resize(im, (48, 32), interpolation=cv2.INTER_AREA) for im in images]))
    x = x.permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        a1 = net.features[1](net.features[0](x))
        a2 = net.features[3](net.features[2](a1))
        m = a2.mean(1, keepdim=True)
        m = F.conv_transpose2d(m, torch.ones(1, 1, 3, 3)) * a1.mean(1, keepdim=True)
        m = F.conv_transpose2d(m, torch.ones(1, 1, 3, 3), stride=2, output_padding=1)[:, 0]
        lo, hi = m.amin((1, 2), keepdim=True), m.amax((1, 2), keepdim=True)
        maps = ((m - lo) / (hi - lo)).numpy()
        return maps, net(x)[:, 0].numpy()


def test_rows_match_the_frames_labels_and_an_independent_visual_backprop(fleet, user_pilot, tmp_path):
    result = batch(**_user(user_pilot), inputs=[fleet / "tub_*"], out=tmp_path / "out", batch_size=3, part_batches=2,
                   progress=False)
    table = read_frames(tmp_path / "out")
    manifest = read_manifest(tmp_path / "out")
    assert result.frames == table.num_rows == 18 == manifest["frames"]
    assert manifest["map_shape"] == [32, 48] and manifest["signed"] == {"visual_backprop": False}
    rows = table.to_pylist()
    assert [(r["log"], r["index"]) for r in rows] == sorted((r["log"], r["index"]) for r in rows)
    for log in ("tub_a", "tub_b"):
        frames = list(open_source(fleet / log))
        mine = [r for r in rows if r["log"] == str(fleet / log)]
        assert [r["index"] for r in mine] == [f.index for f in frames]
        assert [r["time"] for r in mine] == pytest.approx([f.time for f in frames])
        assert [r["label_angle"] for r in mine] == pytest.approx([f.labels["angle"] for f in frames])
        maps, predictions = _reference(user_pilot, [f.image for f in frames])
        stored = np.stack([decode_map(r["map_visual_backprop"], (32, 48), False) for r in mine])
        assert np.abs(stored - maps).max() <= 0.5 / 255 + 1e-4   # one rounding, nothing more
        assert [r["pred_angle"] for r in mine] == pytest.approx(predictions.tolist(), abs=1e-5)


def test_a_rerun_resumes_without_duplicates_and_a_failed_run_leaves_no_manifest(fleet, user_pilot, tmp_path):
    out = tmp_path / "out"
    (user_pilot / "fail-always").write_text("")
    try:
        with pytest.raises(RuntimeError, match=r"no manifest was written; incomplete logs: .*tub_a.*tub_b.*resume"):
            batch(**_user(user_pilot), inputs=[fleet / "tub_a", fleet / "tub_b"], out=out, batch_size=3,
                  part_batches=1, progress=False)
    finally:
        (user_pilot / "fail-always").unlink()
    assert not (out / "_SUCCESS.json").exists() and not list(out.rglob("*.parquet"))
    first = batch(**_user(user_pilot), inputs=[fleet / "tub_a", fleet / "tub_b"], out=out, batch_size=3,
                  part_batches=1, progress=False)
    before = read_frames(out)
    kept = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    victim = out / "tub_b" / "part-00001.parquet"
    victim.unlink()
    (out / "_SUCCESS.json").unlink()
    again = batch(**_user(user_pilot), inputs=[fleet / "tub_a", fleet / "tub_b"], out=out, batch_size=3,
                  part_batches=1, progress=False)
    assert again.done_before == first.parts - 1 and again.frames == first.frames
    after = read_frames(out)
    assert after.equals(before) and after.num_rows == len(set(zip(*[after.column(c).to_pylist() for c in ("log", "index")])))
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items() if p != victim)
    with pytest.raises(ValueError, match=r"other settings \(methods\)"):
        batch(**_user(user_pilot), inputs=[fleet / "tub_a", fleet / "tub_b"], out=out, batch_size=3, part_batches=1,
              methods=["gradient"], progress=False)


def test_a_video_and_its_movie(fleet, user_pilot, tmp_path, monkeypatch):
    from pilotlens.methods.base import Explainer
    from pilotlens.models import open_pilot
    from pilotlens.pipeline import movie
    user = _user(user_pilot)
    calls = []
    explain = Explainer.__call__
    monkeypatch.setattr(Explainer, "__call__", lambda self, x, target=None: calls.append(len(x)) or explain(self, x, target))
    result = batch(**user, inputs=[fleet / "drive.mp4"], out=tmp_path / "out", methods=["grad_cam:signed=true"],
                   batch_size=4, part_batches=1, movies=True, progress=False)
    manifest = json.loads((tmp_path / "out" / "_SUCCESS.json").read_text())
    assert result.frames == 9 and manifest["logs"][0]["parts"] == [f"drive/part-0000{i}.parquet" for i in range(3)]
    assert manifest["signed"] == {"grad_cam:signed=true": True}
    assert calls == [4, 4, 1]          # each frame explained once, for its part; the movie read the maps
    monkeypatch.undo()
    movie(open_pilot(user["model"], **user["model_options"]), open_source(fleet / "drive.mp4"), str(tmp_path / "ref.mp4"), ["grad_cam:signed=true"],
          batch_size=4, progress=False)
    ours, ref = list(open_source(tmp_path / "out" / "drive" / "movie.mp4")), list(open_source(tmp_path / "ref.mp4"))
    # the same drawing from 8-bit maps, through H.264 (tests/fleet/test_stored.py holds the maps themselves
    # together): measured here, 0.4-0.8 levels apart on average, 0.03-0.1 % of the values more than 10 apart
    assert len(ours) == len(ref) == 9
    for a, b in zip(ours, ref):
        apart = np.abs(a.image.astype(int) - b.image.astype(int))
        assert apart.mean() < 1.0 and (apart > 10).mean() < 0.002
