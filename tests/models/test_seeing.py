"""Seeing: how a pilot sees as one frozen value, built from settings or from command-line flags."""
import dataclasses

import numpy as np
import pytest
import torch

from pilotlens.models import zoo
from pilotlens.models.pilot import Pilot
from pilotlens.models.pilot_file import WEIGHTS_DIR
from pilotlens.models.seeing import Seeing, parse_size

from .tiny_net import Tiny

RNG = np.random.default_rng(4)


def batch(n=2, h=30, w=40):
    return RNG.integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_offset_flag_is_pixels_times_scale_plus_offset():
    s = Seeing(input_size=(40, 30)).adjusted(scale=0.5, offset=-3.0)
    b = batch()
    expected = b.astype(np.float64).transpose(0, 3, 1, 2) * 0.5 - 3.0   # independent of the mean/std form
    x = s.to_tensor(s.view(b), "cpu", torch.float64)
    np.testing.assert_allclose(x.numpy(), expected, rtol=0, atol=1e-12)
    assert s.mean == (3.0,) and s.std == (1.0,)


def test_imagenet_flag_is_torchvision_normalize_after_to_tensor():
    s = Seeing(input_size=(40, 30)).adjusted(normalize="imagenet")
    b = batch()
    mean = np.array([0.485, 0.456, 0.406])[None, :, None, None]
    std = np.array([0.229, 0.224, 0.225])[None, :, None, None]
    expected = (b.astype(np.float64).transpose(0, 3, 1, 2) / 255 - mean) / std
    np.testing.assert_allclose(s.to_tensor(b, "cpu", torch.float64).numpy(), expected, rtol=1e-12)


def test_flags_change_only_what_they_name_and_bad_ones_are_errors():
    s = Seeing(color="yuv", crop=(4, 0, 0, 0))
    t = s.adjusted(size="160x120", color="gray")
    assert (t.input_size, t.color, t.crop, t.scale) == ((160, 120), "gray", (4, 0, 0, 0), s.scale)
    assert s.adjusted() == s and s.color == "yuv"   # a value: the original is untouched
    with pytest.raises(ValueError, match="--offset and --normalize"):
        s.adjusted(offset=1, normalize="imagenet")
    with pytest.raises(ValueError, match="unknown normalisation 'coco'; known: imagenet"):
        s.adjusted(normalize="coco")
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        parse_size("160,120")
    assert parse_size("200X66") == (200, 66)


def test_seeing_is_frozen_and_checked():
    s = Seeing(input_size=[160, 120], mean=0.5)
    assert s.input_size == (160, 120) and s.mean == (0.5,) and hash(s) == hash(Seeing(input_size=(160, 120), mean=[0.5]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.crop = (1, 1, 1, 1)
    with pytest.raises(ValueError, match="mean has 2 values; colour space rgb has 3"):
        Seeing(mean=(1, 2))


def test_a_pilot_takes_a_seeing_or_its_fields_and_keeps_the_old_attributes():
    s = Seeing(input_size=(40, 30), crop=(2, 1, 3, 0), color="bgr", scale=0.25, mean=(1, 2, 3), std=2)
    a = Pilot(Tiny(), seeing=s, outputs=("a", "b"))
    b = Pilot(Tiny(), outputs=("a", "b"), **{f.name: getattr(s, f.name) for f in dataclasses.fields(s)})
    assert a.seeing == b.seeing == s
    frames = batch(3, 50, 60)
    assert torch.equal(a.prepare(frames), b.prepare(frames))
    assert (a.input_size, a.crop, a.color, a.scale, a.mean, a.std) == \
        ((40, 30), (2, 1, 3, 0), "bgr", 0.25, (1.0, 2.0, 3.0), (2.0,))
    with pytest.raises(ValueError, match="not both"):
        Pilot(Tiny(), seeing=s, crop=(0, 0, 0, 0))


def test_setting_a_field_replaces_the_seeing_checked():
    p = Pilot(Tiny(), input_size=(40, 30))
    before = p.seeing
    p.crop = (5, 0, 0, 0)
    assert p.seeing.crop == (5, 0, 0, 0) and before.crop == (0, 0, 0, 0)
    assert p.prepare(batch(1, 50, 60)).shape == (1, 3, 30, 40)
    with pytest.raises(ValueError, match="crop must be 4 non-negative"):
        p.crop = (-1, 0, 0, 0)


@pytest.mark.parametrize("name", ["pilotnet", "donkey"])
def test_shipped_files_written_before_the_split_load_with_their_settings(name):
    raw = torch.load(WEIGHTS_DIR / f"{name}.pt", map_location="cpu", weights_only=True)
    p = Pilot.load(name)
    assert p.seeing == Seeing(**{k: raw[k] for k in ("input_size", "crop", "color", "scale", "mean", "std")})
    assert p._settings() == {k: raw[k] for k in p._settings()}   # saving writes the same fields back
    assert p.arch == raw["arch"] and p.arch in zoo.ARCHITECTURES
