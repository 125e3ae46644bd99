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
    assert code == 1 and "crop: for a pilot given with --model, not --arch" in capsys.readouterr().err
