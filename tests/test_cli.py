import subprocess
import sys

import pytest
from PIL import Image

from pilotlens.cli import build_parser, main

VERBS = ["demo", "movie", "explain", "grid", "layers", "train", "evaluate", "import", "view", "drive"]


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_documents_its_options_with_an_example(verb, capsys):
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    text = capsys.readouterr().out
    assert "example:" in text and f"pilotlens {verb}" in text
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb").choices[verb]
    undocumented = [a.dest for a in sub._actions if not a.help]
    assert undocumented == []


def test_layers_lists_the_traced_layers(capsys):
    assert main(["layers", "--model", "donkey_linear"]) == 0
    out = capsys.readouterr().out
    assert "features.conv1" in out and "Conv2d" in out


def test_methods_says_which_are_signed_always_and_which_by_an_option(capsys):
    main(["methods"])
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "signed, " in rows["integrated_gradients"] and "signed" not in rows["gradient"]
    assert "signed with signed=true" in rows["grad_cam"] and "signed with center=true" in rows["rise"]


def test_movie_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "m.gif"
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=6",
                 "--method", "visual_backprop", "--set", "visual_backprop.nothing=1", "--out", str(out), "--quiet"])
    assert code == 1 and "nothing" in capsys.readouterr().err and not out.exists()
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=6",
                 "--method", "occlusion", "--set", "occlusion.window=40", "--view", "focus", "--out", str(out), "--quiet"])
    assert code == 0 and out.exists() and "wrote 6 frames" in capsys.readouterr().out


def test_unknown_layer_is_a_clear_error(tmp_path, capsys):
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=2",
                 "--method", "grad_cam", "--layer", "conv9", "--out", str(tmp_path / "x.mp4"), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "conv9" in err and "features.conv5" in err


def test_explain_and_grid_on_image_files(tmp_path, capsys):
    from pilotlens.data import open_source
    paths = []
    for f in open_source("synthetic", frames=2, seed=9):
        p = tmp_path / f"frame_{f.index}.png"
        Image.fromarray(f.image).save(p)
        paths.append(str(p))
    assert main(["explain", "--model", "donkey_linear", *paths, "--out", str(tmp_path / "ex")]) == 0
    assert len(list((tmp_path / "ex").glob("*.png"))) == 2
    assert main(["grid", "--model", "donkey_linear", "--method", "grad_cam", "--method", "activation", *paths,
                 "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").exists()


def test_missing_input_is_reported():
    proc = subprocess.run([sys.executable, "-m", "pilotlens.cli", "movie", "--model", "donkey_linear", "--input",
                           "/nope/drive.mp4", "--out", "/tmp/never.mp4"], capture_output=True, text=True)
    assert proc.returncode == 1 and "/nope/drive.mp4" in proc.stderr


# -- bad input: one clear line, nothing lost -------------------------------------------------------
def _pngs(tmp_path, n=2, folder="in"):
    from pilotlens.data import open_source
    (tmp_path / folder).mkdir(exist_ok=True)
    paths = []
    for f in open_source("synthetic", frames=n, seed=9):
        p = tmp_path / folder / f"frame_{f.index}.png"
        Image.fromarray(f.image).save(p)
        paths.append(p)
    return paths


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


def test_out_equal_to_input_never_overwrites_it(tmp_path, capsys):
    video = tmp_path / "drive.mp4"
    assert main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=3",
                 "--out", str(video), "--quiet"]) == 0
    before = video.read_bytes()
    capsys.readouterr()
    code = main(["movie", "--model", "donkey_linear", "--input", str(video), "--out", str(video), "--quiet"])
    assert code == 1 and "is also an input" in _error(capsys) and video.read_bytes() == before
    (png,) = _pngs(tmp_path, 1)
    code = main(["grid", "--model", "donkey_linear", str(png), "--out", str(png)])
    assert code == 1 and "is also an input" in _error(capsys)


def test_two_inputs_with_one_file_name_give_two_outputs(tmp_path, capsys):
    a = _pngs(tmp_path, 1, "a")[0]
    b = _pngs(tmp_path, 1, "b")[0]
    assert a.name == b.name
    assert main(["explain", "--model", "donkey_linear", str(a), str(b), "--out", str(tmp_path / "ex")]) == 0
    written = sorted(p.name for p in (tmp_path / "ex").iterdir())
    assert written == ["frame_0_explained-2.png", "frame_0_explained.png"]
    assert "wrote 2 images" in capsys.readouterr().out


def test_explain_into_the_input_folder_keeps_the_inputs(tmp_path, capsys):
    paths = _pngs(tmp_path, 2)
    before = {p: p.read_bytes() for p in paths}
    assert main(["explain", "--model", "donkey_linear", *map(str, paths), "--out", str(tmp_path / "in")]) == 0
    assert all(p.read_bytes() == data for p, data in before.items())
    assert len(list((tmp_path / "in").iterdir())) == 4


def test_grid_with_two_models_of_one_stem_keeps_both_columns(tmp_path, capsys):
    from pilotlens.models import Pilot
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        Pilot.from_arch("donkey_linear").save(tmp_path / d / "pilot.pt")
    (png,) = _pngs(tmp_path, 1)
    out = tmp_path / "g.png"
    assert main(["grid", "--model", str(tmp_path / "x" / "pilot.pt"), "--model", str(tmp_path / "y" / "pilot.pt"),
                 str(png), "--out", str(out), "--scale", "1"]) == 0
    import cv2
    assert cv2.imread(str(out)).shape[1] > 3 * 160        # input + one column per model, not one
    code = main(["grid", "--model", "donkey_linear", "--model", "donkey_linear", str(png), "--out", str(out)])
    assert code == 1 and "given twice" in _error(capsys)


def test_grid_writes_the_format_its_name_says(tmp_path, capsys):
    (png,) = _pngs(tmp_path, 1)
    assert main(["grid", "--model", "donkey_linear", str(png), "--out", str(tmp_path / "g.jpg")]) == 0
    assert (tmp_path / "g.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    code = main(["grid", "--model", "donkey_linear", str(png), "--out", str(tmp_path / "g.tiff")])
    assert code == 1 and "must end in" in _error(capsys) and not (tmp_path / "g.tiff").exists()


def test_explain_with_nothing_readable_fails(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    code = main(["explain", "--model", "donkey_linear", str(bad), "--out", str(tmp_path / "ex")])
    assert code == 1 and "no readable image" in _error(capsys)


@pytest.mark.parametrize("verb", ["movie", "explain", "grid", "evaluate", "train"])
def test_a_missing_output_folder_is_found_before_any_work(verb, tmp_path, capsys):
    (png,) = _pngs(tmp_path, 1)
    missing = tmp_path / "no" / "such"
    args = {
        "movie": ["movie", "--model", "donkey_linear", "--input", "synthetic", "--out", str(missing / "m.mp4")],
        "explain": ["explain", "--model", "donkey_linear", str(png), "--out", str(missing)],
        "grid": ["grid", "--model", "donkey_linear", str(png), "--out", str(missing / "g.png")],
        "evaluate": ["evaluate", "--model", "donkey_linear", "--input", "synthetic", "--out", str(missing)],
        "train": ["train", "--arch", "donkey_linear", "--input", "synthetic", "--out", str(missing / "p.pt")],
    }[verb]
    code = main(args + ["--quiet"] if verb in ("movie", "evaluate", "train") else args)
    err = _error(capsys)
    assert code == 1 and "does not exist" in err and str(missing.parent) in err
    assert len(err.splitlines()) == 1


def test_an_unwritable_output_folder_is_found_before_any_work(tmp_path, capsys, monkeypatch):
    import os
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    # root may write anywhere, so the folder is made unwritable in the one place pilotlens asks
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.fspath(p) == str(locked) else real(p, mode))
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--out", str(locked / "m.mp4"), "--quiet"])
    assert code == 1 and "not writable" in _error(capsys) and list(locked.iterdir()) == []


@pytest.mark.parametrize("content,words", [(b"hello, I am text\n", "it is text"),
                                           (bytes(range(256)) * 10, "not a PyTorch file"),
                                           (b"", "it is empty")])
def test_a_file_that_is_no_model_says_what_it_is_not(tmp_path, capsys, content, words):
    model = tmp_path / "model.pt"
    model.write_bytes(content)
    code = main(["layers", "--model", str(model)])
    err = _error(capsys)
    assert code == 1 and words in err and str(model) in err
    assert "weights_only=False" not in err and "KeyError" not in err


def test_a_pickled_object_is_refused_without_suggesting_unsafe_loading(tmp_path, capsys):
    import torch
    path = tmp_path / "whole_model.pt"
    torch.save(torch.nn.Linear(2, 2), path)      # a whole module: loading it would run code
    code = main(["layers", "--model", str(path)])
    err = _error(capsys)
    assert code == 1 and "refused" in err and "weights_only" not in err


def test_a_pilot_naming_a_missing_package_is_a_clear_error(tmp_path, capsys):
    import torch
    from pilotlens.models import Pilot
    path = tmp_path / "tv.pt"
    Pilot.from_arch("donkey_linear").save(path)
    data = torch.load(path, weights_only=True)
    data["arch"], data["arch_kwargs"] = "torchvision:resnet18", {}
    torch.save(data, path)
    code = main(["layers", "--model", str(path)])
    err = _error(capsys)
    assert code == 1 and "torchvision" in err and "not installed" in err


def test_an_empty_folder_as_input_says_so(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["movie", "--model", "donkey_linear", "--input", str(tmp_path / "empty"), "--out",
                 str(tmp_path / "m.mp4"), "--quiet"])
    assert code == 1 and "an empty folder" in _error(capsys)


def test_set_values_take_the_option_type(tmp_path, capsys):
    out = tmp_path / "m.gif"
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=2",
                 "--method", "grad_cam", "--set", "grad_cam.signed=maybe", "--out", str(out), "--quiet"])
    err = _error(capsys)
    assert code == 1 and "signed" in err and "bool" in err and not out.exists()
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=2",
                 "--method", "grad_cam:signed=false", "--out", str(out), "--quiet"])
    assert code == 0


def test_nan_frames_are_reported_with_their_index(tmp_path, capsys):
    import torch
    from pilotlens.models import Pilot
    pilot = Pilot.from_arch("donkey_linear")
    with torch.no_grad():
        pilot.model.features.conv1.bias[0] = float("nan")     # every output NaN
    pilot.save(tmp_path / "nan.pt")
    out = tmp_path / "m.gif"
    code = main(["movie", "--model", str(tmp_path / "nan.pt"), "--input", "synthetic", "--input-option", "frames=3",
                 "--method", "grad_cam", "--method", "gradient", "--out", str(out), "--quiet"])
    printed = capsys.readouterr()
    assert code == 0 and "3 frame(s) had a non-finite" in printed.out and "[0, 1, 2]" in printed.out


def test_evaluate_and_movie_explain_the_same_target_of_the_donkey_pilot(tmp_path, capsys):
    import json
    assert main(["movie", "--model", "donkey", "--input", "synthetic", "--input-option", "frames=2",
                 "--out", str(tmp_path / "m.gif"), "--quiet"]) == 0
    movie_out = capsys.readouterr().out
    assert main(["evaluate", "--model", "donkey", "--input", "synthetic", "--input-option", "frames=2",
                 "--method", "gradient", "--metric", "deletion", "--out", str(tmp_path / "ev"), "--quiet"]) == 0
    evaluated = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert "explaining steering(0.05)" in movie_out
    assert evaluated["target"] == "steering(0.05)" and evaluated["kind"] == "regression"


def test_every_explaining_verb_takes_target_layer_and_set():
    parser = build_parser()
    verbs = next(a for a in parser._actions if a.dest == "verb").choices
    for verb in ("movie", "explain", "grid", "evaluate"):
        dests = {a.dest for a in verbs[verb]._actions}
        assert {"target", "layer", "set", "method"} <= dests, verb


def test_evaluate_help_lists_the_metrics(capsys):
    from pilotlens.evaluate import METRICS
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(m in text for m in METRICS)


def test_train_passes_sparsity_on_and_refuses_a_negative_one(tmp_path, capsys, monkeypatch):
    import pilotlens.train

    seen = {}

    def fake_train(pilot, source, **kwargs):
        seen.update(kwargs)
        return "trained"

    monkeypatch.setattr(pilotlens.train, "train", fake_train)
    out = tmp_path / "p.pt"
    assert main(["train", "--arch", "pilotnet", "--input", "synthetic", "--sparsity", "0.3", "--out", str(out),
                 "--quiet"]) in (0, None)
    assert seen["sparsity"] == 0.3
    monkeypatch.undo()
    code = main(["train", "--arch", "pilotnet", "--input", "synthetic", "--sparsity", "-1", "--out", str(out), "--quiet"])
    assert code not in (0, None) and "sparsity must be a finite number >= 0" in capsys.readouterr().err
    assert not out.exists()
