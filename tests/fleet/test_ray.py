"""The Ray engine on a local 2-CPU cluster: the same rows as the local engine, retries, failures, resume.
Few runs, each covering several promises (every run costs seconds)."""
from __future__ import annotations

import pytest

from pilotlens.data import open_source
from pilotlens.fleet import batch, read_frames, read_manifest

pytestmark = pytest.mark.slow


def _run(user_pilot, fleet, out, engine, **kw):
    return batch(f"{user_pilot / 'tinynet.py'}:TinyNet", [fleet / "tub_*", fleet / "drive.mp4"], out,
                 model_options={"weights": str(user_pilot / "tiny.pth")},
                 methods=["visual_backprop", "grad_cam:signed=true"], batch_size=3, part_batches=2,
                 engine=engine, **{"progress": False, **kw})


def test_ray_rows_equal_local_rows_with_a_user_class_and_a_retried_failure(ray_cluster, one_thread, fleet, user_pilot,
                                                                         tmp_path):
    # one torch thread here as on the actors: float sums in the same order, so the same bits
    local = _run(user_pilot, fleet, tmp_path / "local", "local")
    marker = user_pilot / "fail-once"
    marker.write_text("")      # the first batch an actor explains raises; Ray Data runs the unit again
    on_ray = _run(user_pilot, fleet, tmp_path / "ray", "ray", threads_per_actor=1)
    assert not marker.exists(), "the injected failure never happened"
    a, b = read_frames(tmp_path / "local"), read_frames(tmp_path / "ray")
    assert a.num_rows == b.num_rows == local.frames == on_ray.frames == 27
    assert a.equals(b)     # row for row, value for value (maps as bytes)
    keys = list(zip(b.column("log").to_pylist(), b.column("index").to_pylist()))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    head = {k: v for k, v in read_manifest(tmp_path / "ray").items() if k != "engine"}
    assert head == {k: v for k, v in read_manifest(tmp_path / "local").items() if k != "engine"}


def test_a_failed_ray_run_leaves_no_manifest_and_a_rerun_resumes(ray_cluster, fleet, user_pilot, tmp_path, capsys):
    out = tmp_path / "ray"
    marker = user_pilot / "fail-always"
    marker.write_text("")
    try:
        with pytest.raises(RuntimeError, match=r"no manifest was written; incomplete logs: .*drive.mp4") as failed:
            _run(user_pilot, fleet, out, "ray")
    finally:
        marker.unlink()
    # the actor's own error in one line, not Ray's wrapper and its traceback
    assert "(RuntimeError: injected failure (always)); no manifest" in str(failed.value)
    assert "UserCodeException" not in str(failed.value) and "Traceback" not in str(failed.value)
    assert not (out / "_SUCCESS.json").exists()
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]
    # into the same folder, with the movies: completes, nothing twice; the movies run after every part
    # (they are drawn from the parts' maps), each with one picture per row of its log
    capsys.readouterr()
    again = _run(user_pilot, fleet, out, "ray", movies=True, progress=True)
    bars = capsys.readouterr().err          # the parts' frames and then the movies, counted as they finish
    assert "movie" in bars and "3/3" in bars
    table = read_frames(out)
    keys = list(zip(table.column("log").to_pylist(), table.column("index").to_pylist()))
    assert again.frames == table.num_rows == len(set(keys)) == 27
    for log in read_manifest(out)["logs"]:
        assert len(list(open_source(out / log["movie"]))) == log["frames"]
