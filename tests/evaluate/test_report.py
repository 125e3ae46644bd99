import csv
import importlib.util
import json

import numpy as np
import pytest
import torch

from pilotlens.data import open_source
from pilotlens.evaluate import METRICS, evaluate
from pilotlens.models.pilot import Pilot

from .helpers import LeftHalf, half_maps, images, left_method, right_method

FAST = {"deletion": {"steps": 8}, "insertion": {"steps": 8}, "road": {"fractions": (0.25, 0.5, 0.75)},
        "shift": {"area": 0.5}, "robustness": {"perturbations": ["brightness", "shift"]},
        "localisation": {"tolerance": 0}}


@pytest.fixture(scope="module")
def left_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    x = images(6)
    report = evaluate(LeftHalf().eval(), x, methods={"left": left_method, "right": right_method},
                      masks={"left": half_maps(6, "left")}, out_dir=out, progress=False, batch_size=4, options=FAST)
    return report, out


def test_every_method_and_metric_and_the_random_row(left_report):
    report, _ = left_report
    assert report.methods == ["left", "right", "random"]
    names = [c.name for c in report.columns]
    for col in ("deletion", "insertion", "road", "shift", "sanity_spearman", "sanity_ssim", "pointing:left",
                "energy:left", "mask_share:left", "map_change:brightness", "output_change:shift"):
        assert col in names
    per_image = [c for c in names if not c.startswith("temporal:")]
    assert all(report.summary(m, c)[2] == 6 for m in report.methods for c in per_image)
    # temporal values belong to pairs of consecutive frames: 5 of them for 6 frames
    assert all(report.summary(m, "temporal:map_change")[2] == 5 for m in report.methods)
    assert "faithfulness_correlation" in names and "temporal:flicker" in names
    rows = {r["method"]: r for r in report.table}
    assert set(rows) == {"left", "right", "random"} and "deletion_std" in rows["left"]


def test_a_map_of_the_left_half_scores_better_on_the_left_half_model(left_report):
    report, _ = left_report
    mean = lambda m, c: report.summary(m, c)[0]  # noqa: E731
    assert mean("left", "deletion") < mean("random", "deletion") < mean("right", "deletion")
    assert mean("left", "insertion") > mean("random", "insertion") > mean("right", "insertion")
    assert mean("left", "road") > mean("random", "road") > mean("right", "road")
    assert mean("left", "pointing:left") == 1 and mean("right", "pointing:left") == 0
    assert mean("left", "energy:left") == 1 > mean("random", "energy:left") > mean("right", "energy:left") == 0
    assert abs(mean("random", "energy:left") - mean("random", "mask_share:left")) < 0.05
    # maps that ignore the model fail the sanity check; random maps change by construction
    assert report.sanity_passed == {"left": False, "right": False, "random": True}


def test_files(left_report):
    report, out = left_report
    names = {p.name for p in report.files}
    plots = {"curves.png", "road.png", "sanity.png"} if importlib.util.find_spec("matplotlib") else set()
    assert names == {"results.csv", "results.md", "results.json", "examples.png"} | plots
    assert json.loads((out / "results.json").read_text())["sanity_passed"] == report.sanity_passed
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["method"] for r in rows} == {"left", "right", "random"}
    assert rows[0].keys() == {"method", "metric", "column", "mean", "std", "n", "better"}
    md = (out / "results.md").read_text()
    assert "| random |" in md and "### Faithfulness" in md and "### Robustness" in md and md == str(report)


def test_deterministic_for_a_seed():
    x = images(3)
    kw = dict(methods=["gradient"], metrics=["deletion", "road", "robustness", "faithfulness_correlation", "temporal"],
              progress=False, batch_size=2,
              options={"deletion": {"steps": 4}, "road": {"fractions": (0.5,)}, "robustness": {"perturbations": ["noise"]},
                       "faithfulness_correlation": {"runs": 4}})
    a = evaluate(LeftHalf().eval(), x, seed=1, **kw)
    b = evaluate(LeftHalf().eval(), x, seed=1, **kw)
    c = evaluate(LeftHalf().eval(), x, seed=2, **kw)
    assert a.values.keys() == b.values.keys()
    assert all(np.array_equal(a.values[k], b.values[k], equal_nan=True) for k in a.values)
    assert not np.array_equal(a.values[("random", "deletion")], c.values[("random", "deletion")])


def test_a_pilot_on_the_synthetic_world_gets_its_masks():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 12 * 16, 2))
    pilot = Pilot(model, input_size=(16, 12), crop=(8, 0, 0, 0), outputs=("angle", "throttle"))
    source = open_source("synthetic", frames=10, size=(32, 32), obstacles=True)
    report = evaluate(pilot, source, methods=["gradient"], metrics=["localisation", "deletion"], max_frames=3,
                      target="throttle", progress=False, options=FAST)
    assert report.images == 3 and report.target == "throttle"
    names = [c.name for c in report.columns]
    assert {"pointing:road", "energy:lane_markings", "mask_share:obstacles"} <= set(names)


def test_clear_errors():
    model, x = LeftHalf().eval(), images(2)
    with pytest.raises(ValueError, match="unknown metric 'fidelity'; metrics: " + ", ".join(METRICS)):
        evaluate(model, x, metrics=["fidelity"], progress=False)
    with pytest.raises(ValueError, match=r"unknown method 'gradcam'; methods: .*grad_cam.*random"):
        evaluate(model, x, methods=["gradcam"], progress=False)
    with pytest.raises(ValueError, match="needs ground-truth masks"):
        evaluate(model, x, metrics=["localisation"], progress=False)
    with pytest.raises(TypeError, match="frames need a Pilot"):
        evaluate(model, [np.zeros((16, 16, 3), np.uint8)], progress=False)
    with pytest.raises(ValueError, match="options for unknown metric 'delete'"):
        evaluate(model, x, options={"delete": {}}, progress=False)
    # what evaluate supplies itself is not an option (sanity's `first` would shift every seed)
    with pytest.raises(ValueError, match="sanity has no option 'first'; its options: mode, layers, threshold, stages"):
        evaluate(model, x, options={"sanity": {"first": 3}}, progress=False)
    with pytest.raises(ValueError, match="deletion has no option 'stepz'; its options: steps, baseline"):
        evaluate(model, x, options={"deletion": {"stepz": 3}}, progress=False)
    with pytest.raises(TypeError, match="unknown option window"):
        evaluate(model, x, methods=["gradient:window=3"], progress=False)


def test_evaluate_source_scores_every_method_that_applies(tmp_path, capsys):
    from pilotlens.evaluate import evaluate_source

    from .helpers import tiny_cnn

    pilot = Pilot(tiny_cnn(), input_size=(16, 16), crop=(4, 0, 0, 0))
    source = open_source("synthetic", frames=5, size=(24, 20))
    report = evaluate_source(pilot, source, metrics=["deletion"], out_dir=tmp_path, max_frames=2, progress=False,
                             options={"deletion": {"steps": 4}})
    assert report.images == 2 and report.methods[-1] == "random"
    assert {"gradient", "grad_cam", "visual_backprop", "layer_cam", "lrp"} <= set(report.methods)
    assert not {"occlusion", "score_cam", "rise"} & set(report.methods)   # costly: only when named
    assert "cam" not in report.methods  # no global-average-pool head: CAM does not apply
    out = capsys.readouterr()
    assert "| gradient |" in out.out and "results.csv" in out.out and "first 2 frames" in out.err


def test_the_cli_verb(tmp_path, capsys):
    from pilotlens.cli import main

    main(["evaluate", "--model", "pilotnet", "--input", "synthetic", "--input-option", "frames=2", "--method", "gradient",
          "--metric", "deletion", "--out", str(tmp_path), "--quiet"])
    assert "| gradient |" in capsys.readouterr().out and (tmp_path / "results.md").exists()


def test_tables_are_written_after_each_metric_so_a_stopped_run_keeps_them(tmp_path, monkeypatch):
    from pilotlens.evaluate import registry

    def stop(run, col, opts):
        raise KeyboardInterrupt
    monkeypatch.setattr(registry.REGISTRY["shift"], "run", stop)
    with pytest.raises(KeyboardInterrupt):
        evaluate(LeftHalf().eval(), images(3), methods={"left": left_method}, metrics=["deletion", "shift"],
                 out_dir=tmp_path, progress=False, options={"deletion": {"steps": 4}})
    md = (tmp_path / "results.md").read_text()
    assert "Partial results: deletion finished so far." in md and "| left |" in md
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["complete"] is False and saved["done"] == ["deletion"]
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_the_output_folder_is_checked_before_any_work(tmp_path):
    calls = []

    class Counting(LeftHalf):
        def forward(self, x):
            calls.append(1)
            return super().forward(x)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        evaluate(Counting().eval(), images(2), methods=["gradient"], out_dir=blocker, progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluate(Counting().eval(), images(2), methods=["gradient"], out_dir=tmp_path / "no" / "such", progress=False)
    assert calls == []


def test_float64_on_request_agrees_with_float32():
    kw = dict(methods=["gradient"], metrics=["deletion", "road", "faithfulness_correlation"], progress=False,
              options={"deletion": {"steps": 6}, "road": {"fractions": (0.3, 0.6)},
                       "faithfulness_correlation": {"runs": 8}})
    a = evaluate(LeftHalf().eval(), images(3), **kw)
    b = evaluate(LeftHalf().eval(), images(3), precision="float64", **kw)
    for key in a.values:
        np.testing.assert_allclose(a.values[key], b.values[key], rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="precision must be float32 or float64"):
        evaluate(LeftHalf().eval(), images(3), precision="half", **kw)


def test_quick_preset_and_options_override_it():
    report = evaluate(LeftHalf().eval(), images(10), methods=["gradient"], metrics=["deletion", "sanity"],
                      preset="quick", progress=False, options={"deletion": {"steps": 5}})
    assert report.images == 8 and report.fractions["deletion"].shape == (6,)
    assert len(report.sanity_stages) == 2      # LeftHalf has 2 parameterised layers: min(3, 2) stages
    with pytest.raises(ValueError, match="unknown preset 'slow'"):
        evaluate(LeftHalf().eval(), images(2), preset="slow", progress=False)


def test_progress_counts_forward_passes(monkeypatch):
    from pilotlens.evaluate import registry

    seen = {}
    close = registry.Run.close

    def spy(self):
        seen["n"], seen["total"], seen["units"] = self.bar.n, self.bar.total, dict(self.units)
        close(self)
    monkeypatch.setattr(registry.Run, "close", spy)
    evaluate(LeftHalf().eval(), images(4), methods={"left": left_method}, metrics=["deletion", "shift"],
             progress=True, batch_size=3, options={"deletion": {"steps": 4}})
    # deletion: (3 inner steps + the baseline) x 4 images x 2 methods; shift: SHIFT_UNITS x 4 x 2
    assert seen["units"] == {"deletion": 4 * 4 * 2, "shift": registry.SHIFT_UNITS * 4 * 2}
    assert seen["n"] == pytest.approx(seen["total"])
