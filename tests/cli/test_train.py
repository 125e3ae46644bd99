"""`pilotlens train`."""
from pilotlens.cli import main


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


def test_model_options_need_a_model_not_an_arch(tmp_path, capsys):
    code = main(["train", "--arch", "pilotnet", "--crop", "2,0,0,0", "--input", "synthetic", "--out",
                 str(tmp_path / "p.pt"), "--quiet"])
    assert code == 1 and "--crop: for a pilot given with --model, not --arch" in capsys.readouterr().err
    code = main(["train", "--arch", "pilotnet", "--size", "100x50", "--input", "synthetic", "--out",
                 str(tmp_path / "p.pt"), "--quiet"])
    assert code == 1 and "--size: for a pilot given with --model, not --arch" in capsys.readouterr().err


def _seen(monkeypatch, argv):
    import pilotlens.train

    seen = {}

    def fake_train(pilot, source, **kwargs):
        seen.update(kwargs)
        return "trained"

    monkeypatch.setattr(pilotlens.train, "train", fake_train)
    assert main(["train", "--arch", "donkey_linear", "--input", "synthetic", "--quiet", *argv]) in (0, None)
    return seen


def test_recipes_set_the_defaults_and_flags_override_them(tmp_path, monkeypatch):
    from pilotlens.train import RECIPES

    out = ["--out", str(tmp_path / "p.pt")]
    seen = _seen(monkeypatch, out)
    assert {k: seen[k] for k in RECIPES["pilotlens"]} == RECIPES["pilotlens"]
    seen = _seen(monkeypatch, ["--recipe", "donkeycar", *out])
    assert {k: seen[k] for k in RECIPES["donkeycar"]} == RECIPES["donkeycar"]
    assert (seen["batch_size"], seen["split"], seen["patience"], seen["augment"]) == (128, "random", 5, False)
    seen = _seen(monkeypatch, ["--recipe", "donkeycar", "--split", "blocks", "--batch-size", "32", "--patience", "0",
                               "--augment", "--flip", "--epochs", "7", "--min-delta", "0.01", *out])
    assert (seen["split"], seen["batch_size"], seen["patience"], seen["augment"], seen["flip"], seen["epochs"],
            seen["min_delta"]) == ("blocks", 32, None, True, True, 7, 0.01)
    seen = _seen(monkeypatch, ["--no-augment", *out])
    assert seen["augment"] is False and seen["flip"] is False     # no augmentation: no mirror either


def test_a_flip_without_augmentation_and_a_negative_patience_are_refused(tmp_path, capsys):
    out = ["--out", str(tmp_path / "p.pt"), "--quiet"]
    code = main(["train", "--arch", "pilotnet", "--input", "synthetic", "--recipe", "donkeycar", "--flip", *out])
    assert code == 1 and "--flip is part of the augmentation: add --augment" in capsys.readouterr().err
    code = main(["train", "--arch", "pilotnet", "--input", "synthetic", "--patience", "-1", *out])
    assert code == 1 and "--patience must be 0 (never stop early) or more epochs, got -1" in capsys.readouterr().err
    assert not (tmp_path / "p.pt").exists()


def test_the_output_says_the_split_the_frames_and_the_baseline(tmp_path, capsys):
    out = tmp_path / "p.pt"
    assert main(["train", "--arch", "donkey_linear", "--input", "synthetic", "--input-option", "frames=20",
                 "--epochs", "2", "--split", "random", "--out", str(out),
                 "--quiet"]) in (0, None)
    text = capsys.readouterr().out
    assert "recipe: pilotlens" in text and "split random" in text
    assert "validation (random split): 4 of 20 frames held out one by one at random" in text
    assert "vs constant baseline (training mean" in text and "on the same 4 frames" in text
    assert out.is_file()
