"""The Pilot: prepare (crop, resize, colour, scale), predict, to_frame, save/load, from_arch."""
import os
import pickle

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from pilotlens.data.frame import Frame
from pilotlens.models import pilot_file as pilot_module
from pilotlens.models import zoo
from pilotlens.models.pilot import Pilot

RNG = np.random.default_rng(0)


def frames(n=3, h=120, w=160):
    return [RNG.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


class Tiny(nn.Module):
    """A small model for any channel count: conv, ReLU, global pool, linear."""

    def __init__(self, c=3, k=2):
        super().__init__()
        self.conv = nn.Conv2d(c, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4, k)

    def forward(self, x):
        return self.fc(self.relu(self.conv(x)).mean(dim=(2, 3)))


# -- prepare -------------------------------------------------------------------------------

CONVERSIONS = {"rgb": None, "bgr": cv2.COLOR_RGB2BGR, "yuv": cv2.COLOR_RGB2YUV, "gray": cv2.COLOR_RGB2GRAY}


@pytest.mark.parametrize("color", sorted(CONVERSIONS))
def test_prepare_matches_direct_cv2(color):
    c = 1 if color == "gray" else 3
    mean, std = [0.1, 0.2, 0.3][:c], [0.5, 0.25, 2.0][:c]
    p = Pilot(Tiny(c), input_size=(60, 30), crop=(40, 10, 20, 20), color=color, scale=1 / 255, mean=mean, std=std)
    img = frames(1)[0]
    x = p.prepare([img])

    roi = img[40:110, 20:140]
    small = cv2.resize(roi, (60, 30), interpolation=cv2.INTER_AREA)
    if CONVERSIONS[color] is not None:
        small = cv2.cvtColor(small, CONVERSIONS[color])
    small = small.reshape(30, 60, c).astype(np.float32)
    expected = (small / 255 - np.array(mean, np.float32)) / np.array(std, np.float32)
    expected = torch.from_numpy(expected.transpose(2, 0, 1).copy())[None]

    assert x.shape == (1, c, 30, 60) and x.dtype == torch.float32
    assert torch.allclose(x, expected, atol=1e-5)


def test_prepare_batch_equals_one_at_a_time():
    p = Pilot(Tiny(), input_size=(60, 30), crop=(40, 10, 20, 20), color="yuv", mean=0.5, std=0.25)
    imgs = frames(4)
    batch = p.prepare(imgs)
    singles = torch.cat([p.prepare([img]) for img in imgs])
    assert torch.equal(batch, singles)
    # the same through every accepted form: Frames, one stacked array, a single array or Frame
    assert torch.equal(p.prepare([Frame(img, i) for i, img in enumerate(imgs)]), batch)
    assert torch.equal(p.prepare(np.stack(imgs)), batch)
    assert torch.equal(p.prepare(imgs[2]), batch[2:3])
    assert torch.equal(p.prepare(Frame(imgs[1], 1)), batch[1:2])


class ReadsMemory(Tiny):
    """Reads the conv's activation in storage order: wrong on a channels_last batch (layout.py refuses it)."""

    def forward(self, x):
        a = self.relu(self.conv(x))
        return self.fc(a.as_strided((a.shape[0], a[0].numel()), (a[0].numel(), 1))[:, :4])


def test_prepare_lays_the_batch_out_as_the_model_runs_it():
    """channels_last memory where layout.py's verdict says the model runs that way (the explainers then
    copy nothing), NCHW where it does not or when asked; the same values, and the same maps, either way."""
    import pilotlens
    imgs = frames(4)
    p = Pilot(zoo.PilotNet().eval(), input_size=(200, 66), crop=(40, 10, 0, 0), color="yuv")
    x, plain = p.prepare(imgs), p.prepare(imgs, channels_last=False)
    cl = torch.channels_last
    assert x.is_contiguous(memory_format=cl) and not x.is_contiguous() and plain.is_contiguous()
    assert torch.equal(x, plain)
    for method in ("visual_backprop", "gradient"):
        a, b = pilotlens.explain(p.model, x, method), pilotlens.explain(p.model, plain, method)
        assert torch.equal(a.raw, b.raw) and torch.equal(a.output, b.output)
    assert p.predict(imgs)["angle"].tolist() == p.predict(imgs)["angle"].tolist()
    with torch.no_grad():  # predictions stay those of the plain forward
        assert p.predict(imgs)["angle"].tolist() == p.model(plain)[:, 0].tolist()
    odd = Pilot(ReadsMemory().eval(), input_size=(60, 30))
    y = odd.prepare(imgs)
    assert y.is_contiguous() and torch.equal(y, odd.prepare(imgs, channels_last=False))


def test_prepare_without_resize_keeps_pixels():
    p = Pilot(Tiny(), input_size=(160, 120), color="rgb", scale=1.0)
    img = frames(1)[0]
    x = p.prepare(img)
    assert torch.equal(x[0], torch.from_numpy(img).permute(2, 0, 1).float())


@pytest.mark.parametrize("bad, message", [
    ([np.zeros((120, 160, 3), np.float32)], "uint8"),
    ([np.zeros((120, 160), np.uint8)], "H x W x 3"),
    ([np.zeros((120, 160, 4), np.uint8)], "H x W x 3"),
    ([np.zeros((120, 160, 3), np.uint8), np.zeros((100, 160, 3), np.uint8)], "same size"),
    ([np.zeros((50, 160, 3), np.uint8)], "too small for crop"),
    ([np.zeros((120, 40, 3), np.uint8)], "too small for crop"),
    ([], "no frames"),
])
def test_prepare_bad_inputs(bad, message):
    p = Pilot(Tiny(), input_size=(60, 30), crop=(40, 10, 20, 20))
    with pytest.raises(ValueError, match=message):
        p.prepare(bad)


def test_prepare_refuses_tensors():
    with pytest.raises(TypeError, match="tensor"):
        Pilot(Tiny()).prepare(torch.zeros(1, 3, 66, 200))


@pytest.mark.parametrize("kwargs, message", [
    (dict(color="hsv"), "colour space"),
    (dict(crop=(1, 2, 3)), "crop"),
    (dict(crop=(0, -1, 0, 0)), "crop"),
    (dict(input_size=(0, 10)), "input_size"),
    (dict(std=0), "zero"),
    (dict(mean=[0.1, 0.2]), "mean"),
    (dict(outputs=("a", "a")), "distinct"),
    (dict(arch_kwargs={"f": object()}), "plain data"),
])
def test_pilot_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Pilot(Tiny(), **kwargs)


# -- predict -------------------------------------------------------------------------------

def test_predict_names_columns_and_restores_training_mode():
    p = Pilot(Tiny(k=2), input_size=(32, 24), outputs=("angle", "throttle"))
    p.model.train()
    imgs = frames(3, 48, 64)
    out = p.predict(imgs)
    assert set(out) == {"angle", "throttle"} and out["angle"].shape == (3,)
    assert p.model.training
    x = p.prepare(imgs)
    with torch.no_grad():
        y = p.model.eval()(x)
    np.testing.assert_allclose(out["throttle"], y[:, 1].numpy(), rtol=1e-6)
    np.testing.assert_allclose(p.predict(x)["angle"], out["angle"], rtol=1e-6)


def test_predict_single_name_covers_all_columns_and_mismatch_is_an_error():
    imgs = frames(2, 24, 32)
    out = Pilot(Tiny(k=5), input_size=(32, 24), outputs=("logits",)).predict(imgs)
    assert out["logits"].shape == (2, 5)
    with pytest.raises(ValueError, match="5 output columns"):
        Pilot(Tiny(k=5), input_size=(32, 24), outputs=("a", "b")).predict(imgs)


def test_predict_decodes_categorical():
    p = Pilot.from_arch("donkey_categorical")
    out = p.predict(frames(2))
    assert set(out) == {"angle", "throttle"}
    assert np.all(np.isin(np.round(out["angle"] * 7), np.arange(-7, 8)))  # one of 15 bins in -1..1
    assert p.forward(p.prepare(frames(1))).shape == (1, 35)  # explainers see the logits


# -- to_frame ------------------------------------------------------------------------------
# frame 120 x 160, crop top 40 bottom 10 left 20 right 20 -> crop rows 40..109, cols 20..139 (70 x 120);
# model input 60 x 30 (w x h): one input cell is 2 frame pixels wide and 70/30 = 2.33 tall.

def crop_pilot(**kw):
    return Pilot(Tiny(), input_size=(60, 30), crop=(40, 10, 20, 20), **kw)


def test_to_frame_constant_map_fills_the_crop_exactly():
    m = np.ones((2, 30, 60), np.float32)
    for mode in ("bilinear", "nearest"):
        out = crop_pilot().to_frame(m, (120, 160, 3), mode=mode)
        assert out.shape == (2, 120, 160) and out.dtype == np.float32
        inside = np.zeros((120, 160), bool)
        inside[40:110, 20:140] = True
        assert np.all(out[:, inside] == 1.0)
        assert np.all(out[:, ~inside] == 0.0)


def test_to_frame_nearest_one_cell_lands_on_its_rectangle():
    m = np.zeros((30, 60), np.float32)
    m[10, 25] = 1.0
    out = crop_pilot().to_frame(m, (120, 160), mode="nearest")
    # cell row 10 covers crop rows whose centres lie in [10*70/30, 11*70/30) = [23.3, 25.7): rows 23..25
    # cell col 25 covers crop cols 50, 51; add the crop's offset (40, 20)
    expected = np.zeros((120, 160), np.float32)
    expected[63:66, 70:72] = 1.0
    assert out.shape == (120, 160)
    np.testing.assert_array_equal(out, expected)


def test_to_frame_bilinear_one_cell_spreads_over_its_neighbourhood():
    m = torch.zeros(1, 30, 60)
    m[0, 10, 25] = 1.0
    out = crop_pilot().to_frame(m, (120, 160))[0]
    # bilinear (half-pixel centres): crop col i samples input col (i + .5)/2 - .5, which must lie within
    # 1 of col 25: 48.5 < i < 52.5 -> cols 49..52; rows: (i + .5)*3/7 - .5 within 1 of 10 -> rows 22..26
    rows, cols = np.nonzero(out)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (40 + 22, 40 + 26, 20 + 49, 20 + 52)
    # the peak sits on the cell's centre: crop col 51 (between crop pixels 50 and 51), crop row 23.8
    peak = np.unravel_index(np.argmax(out), out.shape)
    assert peak[0] == 40 + 24 and peak[1] in (20 + 50, 20 + 51)
    assert out.max() <= 1.0


def test_to_frame_keeps_signed_values_in_range():
    m = RNG.normal(size=(3, 30, 60)).astype(np.float32)
    out = crop_pilot().to_frame(m, (120, 160))
    inside = out[:, 40:110, 20:140]
    assert np.all(inside.min(axis=(1, 2)) >= m.min(axis=(1, 2)))
    assert np.all(inside.max(axis=(1, 2)) <= m.max(axis=(1, 2)))


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), top=st.integers(0, 30), bottom=st.integers(0, 30),
       left=st.integers(0, 30), right=st.integers(0, 30), H=st.integers(1, 90), W=st.integers(1, 90))
def test_to_frame_constant_is_exact_for_any_geometry(h, w, top, bottom, left, right, H, W):
    p = Pilot(Tiny(), input_size=(w, h), crop=(top, bottom, left, right))
    if H - top - bottom < 1 or W - left - right < 1:
        with pytest.raises(ValueError, match="too small"):
            p.to_frame(np.ones((1, h, w), np.float32), (H, W))
        return
    out = p.to_frame(np.full((1, h, w), 0.7, np.float32), (H, W))[0]
    assert np.all(out[top:H - bottom, left:W - right] == np.float32(0.7))
    assert out.sum() == pytest.approx(0.7 * (H - top - bottom) * (W - left - right), rel=1e-5)


def test_to_frame_rejects_bad_shapes():
    with pytest.raises(ValueError, match="B x h x w"):
        crop_pilot().to_frame(np.zeros((1, 1, 30, 60)), (120, 160))
    with pytest.raises(ValueError, match="mode"):
        crop_pilot().to_frame(np.zeros((30, 60)), (120, 160), mode="cubic")


# -- save / load ---------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ["pilotnet", "donkey_linear", "donkey_categorical", "long_range"])
def test_save_load_round_trip(tmp_path, arch):
    p = Pilot.from_arch(arch, crop=(10, 5, 2, 3), units={"angle": "rad"}, name="mine", default_target=0)
    path = tmp_path / f"{arch}.pt"
    p.save(path)
    q = Pilot.load(path)
    assert q.describe() == p.describe()
    assert (q.arch, q.arch_kwargs, q.crop, q.color, q.mean, q.std, q.outputs, q.units, q.default_target) == \
        (p.arch, p.arch_kwargs, p.crop, p.color, p.mean, p.std, p.outputs, p.units, p.default_target)
    imgs = frames(2)
    a, b = p.predict(imgs), q.predict(imgs)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    x = p.prepare(imgs)
    with torch.no_grad():
        assert torch.equal(p.forward(x), q.forward(x))
    assert os.listdir(tmp_path) == [f"{arch}.pt"]  # no temporary left behind


def test_save_replaces_atomically_and_cleans_up_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "p.pt"
    Pilot.from_arch("pilotnet").save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        Pilot.from_arch("pilotnet").save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["p.pt"]


def test_load_uses_weights_only(tmp_path, monkeypatch):
    path = tmp_path / "p.pt"
    Pilot.from_arch("donkey_linear").save(path)
    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    Pilot.load(path)
    assert seen == [True]


class Payload:
    """Unpickling this calls open(marker, "w"): the marker file shows whether code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_refuses_arbitrary_pickled_objects(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    data = {"format": "pilotlens.pilot", "version": 1, "arch": "pilotnet", "payload": Payload(marker)}
    torch.save(data, path)
    with pytest.raises(ValueError, match="refused: it holds pickled Python objects"):
        Pilot.load(path)
    path.write_bytes(pickle.dumps(Payload(marker), protocol=2))  # a plain pickle, not a torch zip
    with pytest.raises(ValueError, match="refused: it holds pickled Python objects"):
        Pilot.load(path)
    assert not marker.exists()


def test_load_refuses_non_pilot_files(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save(zoo.PilotNet().state_dict(), path)
    with pytest.raises(ValueError, match="not a pilotlens pilot file"):
        Pilot.load(path)
    (tmp_path / "junk.pt").write_text("hello")
    with pytest.raises(ValueError, match="not a pilot file: it is text"):
        Pilot.load(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError):
        Pilot.load(tmp_path / "missing.pt")


def test_custom_model_saves_and_loads_with_the_model_given(tmp_path):
    p = Pilot(Tiny(k=2), input_size=(32, 24), outputs=("angle", "throttle"), color="bgr")
    path = tmp_path / "custom.pt"
    p.save(path)
    with pytest.raises(ValueError, match="model="):
        Pilot.load(path)
    q = Pilot.load(path, model=Tiny(k=2))
    imgs = frames(2, 24, 32)
    np.testing.assert_array_equal(p.predict(imgs)["throttle"], q.predict(imgs)["throttle"])


def test_shipped_names(tmp_path, monkeypatch):
    monkeypatch.setattr(pilot_module, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="none yet"):
        Pilot.load("pilotnet")
    Pilot.from_arch("pilotnet", name="demo").save(tmp_path / "demo.pt")
    assert pilot_module.shipped_pilots() == ["demo"]
    assert Pilot.load("demo").name == "demo"
    with pytest.raises(FileNotFoundError, match="shipped: demo"):
        Pilot.load("donkey")


# -- from_arch / describe ------------------------------------------------------------------

@pytest.mark.parametrize("arch, size, color, n_out", [
    ("pilotnet", (200, 66), "yuv", 1), ("donkey_linear", (160, 120), "rgb", 2),
    ("donkey_categorical", (160, 120), "rgb", 2), ("long_range", (80, 64), "bgr", 155),
])
def test_from_arch_defaults(arch, size, color, n_out):
    p = Pilot.from_arch(arch)
    assert (p.input_size, p.color, p.crop, len(p.outputs)) == (size, color, (0, 0, 0, 0), n_out)
    text = p.describe()
    assert arch in text and f"{size[0]}x{size[1]}" in text and color in text
    out = p.predict(frames(2))
    assert len(out) == n_out and all(v.shape == (2,) for v in out.values())


def test_from_arch_shapes_the_model_to_the_pilot():
    p = Pilot.from_arch("donkey_linear", color="gray", input_size=(160, 80), crop=(40, 0, 0, 0))
    assert p.arch_kwargs == {"input_size": (160, 80), "in_channels": 1}
    assert p.prepare(frames(1)).shape == (1, 1, 80, 160)
    assert p.predict(frames(2))["angle"].shape == (2,)
    with pytest.raises(ValueError, match="input_size"):
        Pilot.from_arch("pilotnet", input_size=(160, 60), arch_kwargs={"input_size": (200, 66)})
    with pytest.raises(ValueError, match="too small"):
        Pilot.from_arch("pilotnet", input_size=(160, 60))  # 60 rows run out before conv5
    with pytest.raises(ValueError, match="known"):
        Pilot.from_arch("nonet")


def test_describe_mentions_crop_units_and_name():
    p = Pilot.from_arch("donkey_linear", crop=(40, 0, 0, 0), units={"angle": "rad"}, name="track3")
    text = p.describe()
    assert "track3" in text and "top=40" in text and "angle [rad]" in text and "throttle" in text
    assert repr(p).startswith("Pilot(")


def test_resolve_target_is_the_one_pilot_aware_choice():
    from pilotlens.targets import Decoded, Steering
    linear = Pilot.from_arch("donkey_linear")
    assert repr(linear.resolve_target()) == "steering(0.05)"          # an angle output: steering evidence
    assert repr(linear.resolve_target("throttle")) == "throttle"
    assert repr(linear.resolve_target("steering:0.1")) == "steering(0.1)"
    assert repr(linear.resolve_target(1)) == "index 1"
    out = torch.tensor([[0.3, 0.9], [-0.4, 0.1], [0.01, 0.5]])
    assert torch.equal(linear.resolve_target()(out), torch.tensor([0.3, 0.4, -0.01]))
    assert torch.equal(linear.resolve_target("throttle")(out), out[:, 1])
    classifier = Pilot(torch.nn.Linear(3, 4), outputs=("logits",))
    assert classifier.resolve_target() is None                        # the engine default: argmax class
    assert Pilot(torch.nn.Linear(3, 2), outputs=("a", "b"), default_target="b").resolve_target().index == 1


def test_a_categorical_pilot_explains_its_expected_angle():
    from pilotlens.targets import Decoded
    pilot = Pilot.from_arch("donkey_categorical")
    logits = torch.randn(2, 35, requires_grad=True)
    target = pilot.resolve_target("angle")
    assert isinstance(target, Decoded)
    expected = (logits[:, :15].softmax(1) * torch.linspace(-1, 1, 15)).sum(1)
    torch.testing.assert_close(target(logits), expected)
    (g,) = torch.autograd.grad(pilot.resolve_target()(logits).sum(), logits)   # steering on it is differentiable
    assert g[:, :15].abs().sum() > 0 and (g[:, 15:] == 0).all()
    hard = pilot.model.decode(logits.detach())
    soft = pilot.model.decode_soft(logits.detach())
    assert hard.shape == soft.shape == (2, 2)


def test_to_input_is_the_inverse_of_to_frame_on_the_crop():
    pilot = Pilot(torch.nn.Identity(), input_size=(8, 4), crop=(2, 2, 0, 0))
    on_input = torch.rand(3, 4, 8)
    on_frame = pilot.to_frame(on_input, (8, 8), mode="nearest")       # 4 x 8 inside a frame of 8 x 8
    assert (on_frame[:, :2] == 0).all() and (on_frame[:, 6:] == 0).all()
    torch.testing.assert_close(pilot.to_input(on_frame), on_input)
    lane = np.zeros((8, 8), bool)
    lane[2:6, 3] = True                                                 # a one-pixel line in the crop
    assert pilot.to_input(lane).shape == (4, 8) and pilot.to_input(lane)[:, 3].min() == 1


def test_prepare_leaves_a_model_in_training_mode_untouched():
    """No hidden passes: the layout probe would move batch-norm statistics."""
    import numpy as np
    import torch
    from torch import nn

    from pilotlens.models.pilot import Pilot
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(1))
    model(torch.zeros(1, 3, 20, 30))
    pilot = Pilot(model, input_size=(30, 20))
    model.train()
    before = model[1].running_mean.clone()
    x = pilot.prepare(np.random.default_rng(0).integers(0, 255, (2, 20, 30, 3), dtype=np.uint8))
    assert torch.equal(model[1].running_mean, before) and model[1].num_batches_tracked.item() == 1
    assert x.is_contiguous()
