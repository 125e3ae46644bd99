"""`pilotlens drive`: the verb drives the pilot --model names, loaded and seeing as its options say."""
import argparse

import numpy as np
import pytest

from pilotlens.cli import drive as drive_verb
from pilotlens.cli import main
from pilotlens.models import Pilot

from .helpers import reference_net


def test_the_cli_verb(tmp_path, monkeypatch, capsys):
    sub = argparse.ArgumentParser().add_subparsers()
    drive_verb.register(sub)
    args = sub.choices["drive"].parse_args(["--model", str(tmp_path / "z.pt"), "--seed", "3", "--frames", "5",
                                            "--quiet"])
    Pilot.from_arch("pilotnet").save(tmp_path / "z.pt")             # the CLI loads pilot files by arch
    args.fn(args)
    assert "seed 3: 5 frames" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--method needs --out"):
        bad = sub.choices["drive"].parse_args(["--method", "gradient"])
        bad.fn(bad)


@pytest.mark.parametrize("crop", [None, (30, 10, 0, 0)])
def test_a_users_class_with_weights_and_crop_drives(user_net, crop, monkeypatch, capsys):
    import pilotlens.drive
    spec, weights = user_net
    real, driven = pilotlens.drive.drive, []

    def spy(pilot, **kwargs):
        driven.append(pilot)
        return real(pilot, **kwargs)

    monkeypatch.setattr(pilotlens.drive, "drive", spy)
    extra = ["--crop", ",".join(map(str, crop))] if crop else []
    assert main(["drive", "--model", spec, "--weights", str(weights), *extra, "--seed", "3", "--frames", "4",
                 "--quiet"]) == 0
    assert f"{spec}: seed 3: 4 frames" in capsys.readouterr().out
    (pilot,) = driven
    assert pilot.crop == (crop or (0, 0, 0, 0))
    frames = np.random.default_rng(0).integers(0, 256, (2, 120, 160, 3), dtype=np.uint8)
    seeing = {"crop": crop} if crop else {}
    expected = Pilot(reference_net(weights), input_size=(32, 24), outputs=("angle", "throttle"), **seeing).predict(frames)
    np.testing.assert_allclose(pilot.predict(frames)["angle"], expected["angle"], rtol=1e-5, atol=1e-6)


def test_explaining_options_need_a_video(capsys):
    assert main(["drive", "--frames", "2", "--layer", "conv5"]) == 1
    assert "--layer needs --out (the video to explain)" in capsys.readouterr().err
