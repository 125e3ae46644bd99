"""`evaluate --engine ray`: the per-frame work on actors, the report equal to the local run's.

The local run is the reference. One test checks the split itself in this process (the actor's code
called directly, no Ray): batches, sanity chunks and their seeds; the Ray tests (slow) check that the
same report comes back through a pool of actors, from Python and from the command line."""
from __future__ import annotations

import contextlib
import pickle

import numpy as np
import pytest
import torch

from pilotlens.cli import main
from pilotlens.data import open_source
from pilotlens.evaluate import evaluate
from pilotlens.fleet import cluster
from pilotlens.fleet import evaluate as fleet_evaluate
from pilotlens.fleet.evaluate import RayEngine
from pilotlens.models.open import open_pilot

# batches of 2 and sanity chunks of 3 frames: both split 5 frames, and neither boundary is the other's
SPLIT = dict(methods=["gradient", "grad_cam"], preset="quick", max_frames=5, batch_size=2, model_batch=3, seed=3,
             metrics=["deletion", "faithfulness_correlation", "sanity", "localisation", "robustness", "temporal"],
             progress=False)


def _same(local, other) -> None:
    assert str(other) == str(local)       # the Markdown tables: every number to its printed precision
    assert [c.name for c in other.columns] == [c.name for c in local.columns]
    assert other.values.keys() == local.values.keys()
    for key, values in local.values.items():
        np.testing.assert_allclose(other.values[key], values, rtol=0, atol=1e-6, equal_nan=True, err_msg=str(key))
    for metric, per in local.curves.items():
        for method, curves in per.items():
            np.testing.assert_allclose(other.curves[metric][method], curves, rtol=0, atol=1e-6)
    for method, rho in local.sanity_spearman.items():
        np.testing.assert_allclose(other.sanity_spearman[method], rho, rtol=0, atol=1e-6)
    assert (other.flat_maps, other.kind, other.target, other.images) == \
        (local.flat_maps, local.kind, local.target, local.images)


def test_the_split_run_in_this_process_gives_the_local_report(one_thread, monkeypatch):
    def in_process(ray, job, kinds, payloads, actors, threads, progress=False):
        actor = fleet_evaluate.EvalActor(job)
        out = actor({"kind": kinds, "i": list(range(len(kinds))), "payload": payloads})
        return [pickle.loads(b) for b in out["result"]]
    monkeypatch.setattr(fleet_evaluate, "_map_units", in_process)
    monkeypatch.setattr(cluster, "connected", lambda address=None: contextlib.nullcontext(None))
    pilot = open_pilot("donkey")
    local = evaluate(pilot, open_source("synthetic", frames=5), **SPLIT)
    split = evaluate(pilot, open_source("synthetic", frames=5), engine=RayEngine("donkey"), **SPLIT)
    _same(local, split)
    assert np.isfinite(split.values[("random", "sanity_spearman")]).all()   # the seeded baseline took part


def test_the_engine_refuses_what_it_cannot_run(capsys, tmp_path):
    with pytest.raises(TypeError, match="from its spec"):
        RayEngine(open_pilot("donkey"))
    with pytest.raises(ValueError, match="--threads-per-actor must be >= 1"):
        RayEngine("donkey", threads_per_actor=0)
    with pytest.raises(ValueError, match="not a model input tensor"):
        evaluate(open_pilot("donkey").model, torch.rand(2, 3, 120, 160), methods=["gradient"], metrics=["deletion"],
                 engine=RayEngine("donkey"), progress=False)
    assert main(["evaluate", "--model", "donkey", "--input", "synthetic", "--actors", "2",
                 "--out", str(tmp_path / "ev"), "--quiet"]) != 0
    assert "--ray-address and --actors are for --engine ray" in capsys.readouterr().err


@pytest.mark.slow
def test_on_ray_the_report_equals_the_local_one(ray_cluster, one_thread, capsys):
    pilot = open_pilot("donkey")
    local = evaluate(pilot, open_source("synthetic", frames=5), **SPLIT)
    capsys.readouterr()
    on_ray = evaluate(pilot, open_source("synthetic", frames=5), engine=RayEngine("donkey", actors=1),
                      **{**SPLIT, "progress": True})
    _same(local, on_ray)
    assert {"actors", "sanity", "temporal"} <= set(on_ray.timings)
    bars = capsys.readouterr().err          # a bar per pool, counting units as they finish
    assert "evaluate on Ray (batch)" in bars and "3/3" in bars        # 5 frames in batches of 2
    assert "evaluate on Ray (sanity)" in bars and "2/2" in bars       # and in sanity chunks of 3


@pytest.mark.slow
def test_cli_engine_ray_writes_the_local_tables(ray_cluster, one_thread, tmp_path):
    common = ["evaluate", "--model", "donkey", "--input", "synthetic", "--quick", "--frames", "4", "--batch-size", "2",
              "--method", "gradient", "--method", "grad_cam", "--metric", "deletion", "--metric", "sanity",
              "--metric", "temporal", "--quiet"]
    assert main(common + ["--out", str(tmp_path / "local")]) == 0
    assert main(common + ["--out", str(tmp_path / "ray"), "--engine", "ray", "--threads-per-actor", "1"]) == 0
    for name in ("results.md", "results.csv"):
        assert (tmp_path / "ray" / name).read_text() == (tmp_path / "local" / name).read_text(), name


@pytest.mark.slow
def test_an_actors_failure_stops_the_run_with_its_own_error(ray_cluster, user_pilot):
    spec, options = f"{user_pilot / 'tinynet.py'}:TinyNet", {"weights": str(user_pilot / "tiny.pth")}
    pilot = open_pilot(spec, **options)
    marker = user_pilot / "fail-always"
    marker.write_text("")          # every batch an actor's model runs raises, retries included
    try:
        with pytest.raises(RuntimeError, match=r"evaluate on Ray stopped: an actor failed on a batch "
                                               r"\(RuntimeError: injected failure \(always\)\)$"):
            evaluate(pilot, open_source("synthetic", frames=4), methods=["grad_cam"], metrics=["deletion"],
                     batch_size=2, engine=RayEngine(spec, options, actors=1), progress=False)
    finally:
        marker.unlink()
