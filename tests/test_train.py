"""train: fits beat the constant baseline, runs are reproducible, checkpoints load, augmentation
mirrors the angle, missing labels are named."""
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from pilotlens.data.frame import Frame
from pilotlens.data.synthetic import SyntheticSource
from pilotlens.models.pilot import Pilot
from pilotlens.train import TrainResult, augment_batch, prediction_error, split_blocks, train

SIZE = (80, 60)   # small synthetic frames: the tests train in seconds

pytestmark = pytest.mark.usefixtures("one_thread")  # fast on a shared machine, float sums in a fixed order


def tiny_pilot(seed=0) -> Pilot:
    """A small PilotNet-like regressor on 64 x 32 YUV crops below the horizon of an 80 x 60 frame."""
    torch.manual_seed(seed)
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 12, 5, stride=2)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(12, 24, 3, stride=2)), ("relu2", nn.ReLU()),
        ("conv3", nn.Conv2d(24, 32, 3, stride=2)), ("relu3", nn.ReLU()),
        ("flatten", nn.Flatten()), ("fc1", nn.Linear(32 * 2 * 6, 32)), ("relu_fc1", nn.ReLU()),
        ("out", nn.Linear(32, 1)),
    ]))
    return Pilot(model, input_size=(64, 32), crop=(22, 0, 0, 0), color="yuv", scale=1 / 127.5, mean=1.0)


def drive(seed=3, frames=300, step=4, size=SIZE, randomize=False):
    """A synthetic drive; the classic look (randomize=False) lets the tiny pilots learn in seconds."""
    return SyntheticSource(seed=seed, frames=frames * step, step=step, size=size, randomize=randomize)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The tiny pilot trained twice with the same seed (and its checkpoint path)."""
    out = tmp_path_factory.mktemp("train") / "tiny.pt"
    runs = []
    for _ in range(2):
        pilot = tiny_pilot()
        result = train(pilot, drive(), epochs=8, batch_size=16, lr=2e-3, seed=5, out=out, progress=False)
        runs.append((pilot, result))
    return runs, out


# -- fitting -------------------------------------------------------------------------------------
def test_training_beats_the_constant_baseline(fitted):
    (pilot, result), _ = fitted[0]
    assert isinstance(result, TrainResult)
    assert (result.n_train, result.n_val) == (240, 60)
    assert result.epochs_run == 8 and 1 <= result.best_epoch <= 8 and len(result.history) == 8
    assert result.val_mse < 0.35 * result.baseline_mse, str(result)
    assert result.val_mae < result.baseline_mae
    assert result.val_mse == min(h["val_mse"] for h in result.history)
    assert "MSE" in str(result) and "baseline" in str(result)
    assert not pilot.model.training   # handed back in eval mode, with the best weights


def test_same_seed_same_weights_and_losses(fitted):
    (a, ra), (b, rb) = fitted[0]
    assert [h["train_loss"] for h in ra.history] == [h["train_loss"] for h in rb.history]
    assert [h["val_mse"] for h in ra.history] == [h["val_mse"] for h in rb.history]
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_another_seed_another_run():
    frames = list(drive(frames=40))
    r1 = train(tiny_pilot(), frames, epochs=1, batch_size=8, seed=1, progress=False)
    r2 = train(tiny_pilot(), frames, epochs=1, batch_size=8, seed=2, progress=False)
    assert r1.history[0]["train_loss"] != r2.history[0]["train_loss"]


def test_training_leaves_the_global_rng_alone():
    pilot, frames = tiny_pilot(), list(drive(frames=20))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(pilot, frames, epochs=1, batch_size=8, progress=False)
    assert torch.equal(torch.rand(3), expected)


def test_checkpoint_loads_and_predicts_as_the_best_epoch(fitted):
    ((pilot, result), _), path = fitted
    assert result.path == path and path.is_file()
    loaded = Pilot.load(path, model=tiny_pilot(seed=9).model)
    frames = list(drive(seed=11, frames=4))
    got, want = loaded.predict(frames)["angle"], pilot.predict(frames)["angle"]
    assert got.shape == (4,) and np.isfinite(got).all()
    np.testing.assert_array_equal(got, want)


def test_prediction_error_on_fresh_frames_matches_the_pilot(fitted):
    ((pilot, result), _), _ = fitted
    frames = list(drive(seed=13, frames=30))
    score = prediction_error(pilot, frames, constant=result.baseline_value, batch_size=7)
    truth = np.array([f.labels["angle"] for f in frames])
    guess = pilot.predict(frames)["angle"]
    assert score["n"] == 30
    assert score["mse"] == pytest.approx(np.mean((guess - truth) ** 2), rel=1e-6)
    assert score["baseline_mae"] == pytest.approx(np.mean(np.abs(truth - result.baseline_value)), rel=1e-9)
    assert score["mse"] < 0.5 * score["baseline_mse"]     # it generalises to a drive it never saw


def test_arch_name_builds_saves_and_loads(tmp_path):
    out = tmp_path / "sub" / "p.pt"
    result = train("pilotnet", drive(frames=24, size=(160, 120)), epochs=1, batch_size=8, out=out,
                   progress=False, pilot_kwargs=dict(input_size=(100, 66)))
    loaded = Pilot.load(out)
    assert loaded.arch == "pilotnet" and loaded.input_size == (100, 66)
    assert loaded.crop == (44, 0, 0, 0) and loaded.color == "yuv"    # the sky is cropped
    assert loaded.predict(list(drive(seed=12, frames=2, size=(160, 120))))["angle"].shape == (2,)
    assert result.path == out


def test_donkey_learns_angle_and_throttle_and_saves_in_half(tmp_path):
    out = tmp_path / "d.pt"
    result = train("donkey_linear", drive(frames=12, size=(160, 120)), epochs=1, batch_size=8, out=out,
                   progress=False, half=True)
    data = torch.load(out, weights_only=True)
    assert data["state_dict"]["head.fc1.weight"].dtype == torch.float16
    loaded = Pilot.load(out)
    assert next(loaded.model.parameters()).dtype == torch.float32
    np.testing.assert_array_equal(loaded.model.head.fc1.weight.detach().numpy(),
                                  result.pilot.model.head.fc1.weight.detach().half().float().numpy())
    assert set(loaded.predict(list(drive(seed=12, frames=2, size=(160, 120))))) == {"angle", "throttle"}


def test_categorical_donkey_trains_on_bins():
    result = train("donkey_categorical", drive(frames=12, size=(160, 120)), epochs=1, batch_size=8, progress=False)
    assert np.isfinite(result.val_mse) and np.isfinite(result.history[0]["train_loss"])


# -- augmentation --------------------------------------------------------------------------------
def test_flip_mirrors_the_image_and_negates_only_the_angle():
    rng = np.random.default_rng(0)
    views = rng.integers(0, 256, (5, 6, 8, 3), dtype=np.uint8)
    y = torch.tensor([[0.3, 0.5], [-0.2, 0.4], [0.0, 0.1], [0.9, 0.6], [-1.0, 0.3]])
    before_views, before_y = views.copy(), y.clone()
    g = torch.Generator().manual_seed(0)
    out, yo = augment_batch(views, y, g, mirror_columns=[0], flip_p=1.0, brightness=None)
    np.testing.assert_array_equal(out, views[:, :, ::-1])
    torch.testing.assert_close(yo[:, 0], -y[:, 0])
    torch.testing.assert_close(yo[:, 1], y[:, 1])           # throttle unchanged
    np.testing.assert_array_equal(views, before_views)      # the inputs are left as they were
    assert torch.equal(y, before_y)
    out, yo = augment_batch(views, y, g, mirror_columns=[0], flip_p=0.0, brightness=None)
    np.testing.assert_array_equal(out, views)
    torch.testing.assert_close(yo, y)


def test_mixed_flips_match_their_labels_and_brightness_scales():
    rng = np.random.default_rng(1)
    views = rng.integers(20, 200, (64, 4, 6, 3), dtype=np.uint8)
    y = torch.linspace(-1, 1, 64)[:, None]
    out, yo = augment_batch(views, y, torch.Generator().manual_seed(3), mirror_columns=[0], brightness=None)
    flipped = (yo[:, 0] != y[:, 0]).numpy()
    assert 10 < flipped.sum() < 54
    np.testing.assert_array_equal(out[flipped], views[flipped][:, :, ::-1])
    np.testing.assert_array_equal(out[~flipped], views[~flipped])
    out, _ = augment_batch(views, y, torch.Generator().manual_seed(3), mirror_columns=[0], flip_p=0.0,
                           brightness=(0.5, 1.5))
    ratio = out.astype(float).sum((1, 2, 3)) / views.astype(float).sum((1, 2, 3))
    assert ratio.min() >= 0.49 and ratio.max() <= 1.51 and ratio.std() > 0.1
    again, _ = augment_batch(views, y, torch.Generator().manual_seed(3), mirror_columns=[0], flip_p=0.0,
                             brightness=(0.5, 1.5))
    np.testing.assert_array_equal(out, again)


# -- split and errors ----------------------------------------------------------------------------
def test_split_is_contiguous_blocks_disjoint_and_seeded():
    tr, va = split_blocks(100, 0.2, torch.Generator().manual_seed(0))
    assert len(va) == 20 and sorted(tr.tolist() + va.tolist()) == list(range(100))
    blocks = va.reshape(4, 5)                     # 4 of the 20 blocks of 5 consecutive frames
    assert (blocks[:, 0] % 5 == 0).all() and (blocks - blocks[:, :1] == torch.arange(5)).all()
    tr2, va2 = split_blocks(100, 0.2, torch.Generator().manual_seed(0))
    assert torch.equal(va, va2)
    with pytest.raises(ValueError, match="val_fraction"):
        split_blocks(100, 1.0, torch.Generator())


def frames_with(labels, n=4):
    img = np.zeros((60, 80, 3), np.uint8)
    return [Frame(img, i, labels=dict(labels), source="mine") for i in range(n)]


def test_missing_labels_are_named():
    with pytest.raises(ValueError, match=r"frame 0 \(mine\) has no label 'angle'.*its labels: speed"):
        train(tiny_pilot(), frames_with({"speed": 3.0}), epochs=1, progress=False)
    with pytest.raises(ValueError, match="no label 'throttle'"):
        train("donkey_linear", frames_with({"angle": 0.1}), epochs=1, progress=False)
    with pytest.raises(ValueError, match="no label 'steer'"):
        train("pilotnet", frames_with({"angle": 0.1}), epochs=1, progress=False, target="steer")
    with pytest.raises(ValueError, match="output is named 'angle' but target is 'throttle'"):
        train(tiny_pilot(), frames_with({"angle": 0.1, "throttle": 0.2}), epochs=1, progress=False, target="throttle")


def test_labels_that_are_no_number_or_overflow_float32_are_named():
    with pytest.raises(ValueError, match=r"frame 0 \(mine\): label 'angle' is 1e\+300, out of range"):
        train(tiny_pilot(), frames_with({"angle": 1e300}), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"frame 0 \(mine\): label 'angle' is 'left', not a number"):
        train(tiny_pilot(), frames_with({"angle": "left"}), epochs=1, progress=False)
    # the bound is where float32 squares overflow: 1e18 squared is finite, 1e20 squared is not
    assert torch.isfinite(torch.tensor(1e18, dtype=torch.float32) ** 2)
    assert not torch.isfinite(torch.tensor(1e20, dtype=torch.float32) ** 2)


def test_a_diverging_run_raises_naming_the_epoch_and_writes_nothing(tmp_path):
    out = tmp_path / "p.pt"
    with pytest.raises(ValueError, match="training diverged at epoch 1") as e:
        train(tiny_pilot(), frames_with({"angle": 0.1}, n=8), epochs=2, lr=1e30, out=out, progress=False)
    assert "no model was kept" in e.value.pilotlens_kept and not out.exists()


def test_an_interrupted_run_keeps_only_its_named_checkpoint(tmp_path, monkeypatch):
    import pilotlens.train as module
    real, calls = module.fit_epoch, []

    def interrupted_in_epoch_3(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "fit_epoch", interrupted_in_epoch_3)
    out, checkpoint = tmp_path / "p.pt", tmp_path / "p.checkpoint.pt"
    out.write_bytes(b"an older pilot")
    with pytest.raises(KeyboardInterrupt) as e:
        train(tiny_pilot(), frames_with({"angle": 0.1}, n=8), epochs=5, out=out, progress=False)
    assert "stopped in epoch 3" in e.value.pilotlens_kept and str(checkpoint) in e.value.pilotlens_kept
    assert out.read_bytes() == b"an older pilot"
    assert Pilot.load(checkpoint, model=tiny_pilot().model).input_size == tiny_pilot().input_size   # complete
    monkeypatch.undo()
    train(tiny_pilot(), frames_with({"angle": 0.1}, n=8), epochs=1, out=out, progress=False)
    assert Pilot.load(out, model=tiny_pilot().model) is not None and not checkpoint.exists()


def test_bad_requests_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        train(tiny_pilot(), [], progress=False)
    with pytest.raises(ValueError, match="unknown architecture"):
        train("nope", frames_with({"angle": 0.0}), progress=False)
    with pytest.raises(ValueError, match="output columns"):
        pilot = Pilot(nn.Sequential(nn.Flatten(), nn.LazyLinear(3)), input_size=(8, 8))
        train(pilot, frames_with({"angle": 0.0}), epochs=1, progress=False)
    with pytest.raises(ValueError, match="folder"):
        train(tiny_pilot(), frames_with({"angle": 0.0}), out=tmp_path, progress=False)


# -- the shipped pilots --------------------------------------------------------------------------
@pytest.mark.parametrize("name, arch", [("pilotnet", "pilotnet"), ("donkey", "donkey_linear")])
def test_shipped_pilots_are_small_load_and_steer(name, arch):
    from pilotlens.models.pilot import WEIGHTS_DIR
    assert (WEIGHTS_DIR / f"{name}.pt").stat().st_size < 2_000_000
    pilot = Pilot.load(name)
    assert pilot.arch == arch and not pilot.model.training
    frames = list(drive(seed=15, frames=80, step=6, size=(160, 120), randomize=True))  # bends both ways, snow-
    # white grass, never trained on (on seed 7, mostly straight, pilotnet's MSE was only 3.6x lower)
    score = prediction_error(pilot, frames)
    assert score["mse"] < 0.1 * score["baseline_mse"], score               # a wide margin over a constant 0


# -- the stages ----------------------------------------------------------------------------------
def test_build_pilot_names_a_fresh_output_and_refuses_a_foreign_target():
    from pilotlens.train import build_pilot

    first = next(iter(drive(frames=1, size=(160, 120))))
    pilot, labels, column = build_pilot("pilotnet", first, "throttle")
    assert pilot.outputs == ("throttle",) and labels == ["throttle"] and column == 0
    pilot, labels, column = build_pilot("donkey_linear", first, "throttle")
    assert labels == ["angle", "throttle"] and column == 1
    with pytest.raises(ValueError, match="one output is named 'angle'"):
        build_pilot(tiny_pilot(), first, "throttle")


def test_read_data_holds_out_blocks_and_the_baseline_is_the_training_mean():
    from pilotlens.train import constant_baseline, read_data

    frames = list(drive(frames=40, step=3))
    data = read_data(tiny_pilot(), frames, ["angle"], torch.Generator().manual_seed(0), val_fraction=0.25)
    assert len(data.train_views) + len(data.val_views) == 40 and len(data.val_views) == 10
    held = {float(a) for a in data.val_y[:, 0]}
    assert held <= {float(np.float32(f.labels["angle"])) for f in frames}
    value, mse, mae = constant_baseline(data, 0)
    mean = data.train_y[:, 0].double().mean()
    assert value == pytest.approx(float(mean))
    assert mse == pytest.approx(float(((data.val_y[:, 0].double() - mean) ** 2).mean()))
    assert mae == pytest.approx(float((data.val_y[:, 0].double() - mean).abs().mean()))


def test_fit_epoch_lowers_the_loss():
    from pilotlens.train import fit_epoch, read_data

    torch.manual_seed(0)
    pilot = tiny_pilot()
    g = torch.Generator().manual_seed(0)
    data = read_data(pilot, drive(frames=64, step=4), ["angle"], g)
    opt = torch.optim.Adam(pilot.model.parameters(), lr=2e-3)

    def mse():
        with torch.no_grad():
            return float(((pilot.forward(pilot.from_view(data.train_views)) - data.train_y) ** 2).mean())

    before = mse()
    losses = [fit_epoch(pilot, data, opt, g, batch_size=16, augment=False, mirror=[0]) for _ in range(15)]
    assert pilot.model.training and losses[-1] < losses[0]
    assert mse() < 0.3 * before


# -- sparsity ------------------------------------------------------------------------------------
def test_sparsity_adds_the_first_layers_mean_rectified_output_to_the_loss():
    from pilotlens.train import fit_epoch, read_data

    pilot = tiny_pilot()
    g = torch.Generator().manual_seed(0)
    data = read_data(pilot, drive(frames=32, step=4), ["angle"], g)
    frozen = torch.optim.SGD(pilot.model.parameters(), lr=0.0)  # one batch, weights unchanged: the loss by hand
    with torch.no_grad():
        x = pilot.from_view(data.train_views)
        mse = float(((pilot.forward(x) - data.train_y) ** 2).mean())
        activity = float(torch.relu(pilot.model.conv1(x)).mean())
    n = len(data.train_views)
    plain = fit_epoch(pilot, data, frozen, g, batch_size=n, augment=False, mirror=[0])
    penalised = fit_epoch(pilot, data, frozen, g, batch_size=n, augment=False, mirror=[0], sparsity=0.5)
    assert plain == pytest.approx(mse, rel=1e-5)
    assert penalised == pytest.approx(mse + 0.5 * activity, rel=1e-5) and activity > 0
    assert not pilot.model.conv1._forward_hooks                     # the penalty's hook is gone afterwards


def test_sparsity_quiets_the_first_layer():
    frames = list(drive(frames=120, step=4))
    activity = []
    for sparsity in (0.0, 1.0):
        pilot = tiny_pilot()
        train(pilot, frames, epochs=4, batch_size=16, lr=2e-3, seed=5, progress=False, sparsity=sparsity)
        with torch.no_grad():
            x = pilot.prepare(frames[:64])
            activity.append(float(torch.relu(pilot.model.conv1(x)).mean()))
    assert activity[1] < 0.5 * activity[0], activity


def test_bad_sparsity_is_refused_before_reading():
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="sparsity must be a finite number >= 0"):
            train(tiny_pilot(), frames_with({"angle": 0.0}), sparsity=bad, progress=False)
    no_conv = Pilot(nn.Sequential(nn.Flatten(), nn.LazyLinear(1)), input_size=(8, 8))
    with pytest.raises(ValueError, match="has no Conv2d"):
        train(no_conv, frames_with({"angle": 0.0}), sparsity=0.1, epochs=1, progress=False)


# -- split, early stopping and the report (issue 26) ---------------------------------------------
def test_random_split_holds_out_single_frames_disjoint_and_seeded():
    from pilotlens.train import split_random

    tr, va = split_random(100, 0.2, torch.Generator().manual_seed(0))
    assert len(va) == 20 and sorted(tr.tolist() + va.tolist()) == list(range(100))
    # single frames, not blocks: most validation frames have a training frame right beside them
    beside = [i for i in va.tolist() if i - 1 in set(tr.tolist()) or i + 1 in set(tr.tolist())]
    assert len(beside) >= 15
    assert torch.equal(va, split_random(100, 0.2, torch.Generator().manual_seed(0))[1])
    assert not torch.equal(va, split_random(100, 0.2, torch.Generator().manual_seed(1))[1])
    assert len(split_random(3, 0.01, torch.Generator())[1]) == 1          # at least one, at most n - 1
    assert len(split_random(3, 0.99, torch.Generator())[1]) == 2
    with pytest.raises(ValueError, match="val_fraction"):
        split_random(100, 0.0, torch.Generator())


def test_read_data_splits_as_asked():
    from pilotlens.train import read_data

    frames = list(drive(frames=40, step=3))
    index = {float(np.float32(f.labels["angle"])): i for i, f in enumerate(frames)}
    held = {}
    for split in ("blocks", "random"):
        data = read_data(tiny_pilot(), frames, ["angle"], torch.Generator().manual_seed(0), split=split)
        held[split] = sorted(index[float(a)] for a in data.val_y[:, 0])
        assert len(held[split]) == 8 and len(data.train_views) == 32
    runs = np.diff(held["blocks"])
    assert (runs == 1).sum() >= 4                          # blocks of consecutive frames (20 blocks of 2)
    assert held["blocks"] != held["random"]


def test_early_stopping_stops_after_patience_epochs_without_a_gain():
    frames = list(drive(frames=24))
    result = train(tiny_pilot(), frames, epochs=10, batch_size=8, lr=1e-3, patience=2, min_delta=1e9,
                   progress=False)
    # a gain of 1e9 never comes after the first epoch: epoch 1 sets the mark, 2 and 3 miss it, stop
    assert result.epochs_run == 3 and result.stopped_early and len(result.history) == 3
    # the best checkpoint still takes any improvement, however small
    assert result.best_epoch == 1 + int(np.argmin([h["val_mse"] for h in result.history]))
    assert "stopped early (no gain over 1e+09 in 2 epochs)" in str(result)
    full = train(tiny_pilot(), frames, epochs=3, batch_size=8, lr=1e-3, progress=False)
    assert full.epochs_run == 3 and not full.stopped_early and "stopped early" not in str(full)
    # the same seed and settings: early stopping changes when the run ends, not what it does until then
    assert [h["val_mse"] for h in full.history] == [h["val_mse"] for h in result.history]


def test_patience_waits_while_the_validation_error_falls():
    frames = list(drive(frames=60))
    result = train(tiny_pilot(), frames, epochs=4, batch_size=8, lr=2e-3, seed=5, patience=1, progress=False)
    mse = [h["val_mse"] for h in result.history]
    # patience 1: the run ends right after the first epoch that does not beat every earlier one
    for i in range(1, len(mse) - 1):
        assert mse[i] < min(mse[:i])
    if result.stopped_early:
        assert mse[-1] >= min(mse[:-1])


def test_the_report_names_the_split_the_frames_and_the_baseline_on_them():
    frames = list(drive(frames=40))
    for split, words in (("blocks", "contiguous blocks"), ("random", "flatters")):
        result = train(tiny_pilot(), frames, epochs=1, batch_size=8, split=split, progress=False)
        text = str(result)
        assert result.split == split and (result.n_train, result.n_val) == (32, 8)
        assert f"validation ({split} split): 8 of 40 frames held out" in text and words in text
        assert f"constant baseline (training mean {result.baseline_value:+.4g}) MSE" in text
        assert "on the same 8 frames" in text
        ratio = result.baseline_mse / result.val_mse
        assert (f"{ratio:.1f}x lower MSE than the constant" in text) == (ratio >= 1)
        assert ("WORSE than the constant" in text) == (ratio < 1)
    other = train(tiny_pilot(), frames[:30], val_source=frames[30:], epochs=1, batch_size=8, progress=False)
    assert other.split == "val_source" and "10 frames of the separate validation source (30 trained)" in str(other)


def test_flip_false_keeps_brightness_without_the_mirror(monkeypatch):
    import pilotlens.train as module
    real, seen = module.augment_batch, []

    def spy(views, y, generator, **kwargs):
        seen.append(kwargs.get("flip_p"))
        return real(views, y, generator, **kwargs)

    monkeypatch.setattr(module, "augment_batch", spy)
    frames = list(drive(frames=16))
    train(tiny_pilot(), frames, epochs=1, batch_size=8, flip=False, progress=False)
    assert seen and set(seen) == {0.0}
    seen.clear()
    train(tiny_pilot(), frames, epochs=1, batch_size=8, progress=False)
    assert set(seen) == {0.5}


def test_recipes_are_train_keywords_and_donkeycars_matches_its_config():
    import inspect

    from pilotlens.train import RECIPES

    known = set(inspect.signature(train).parameters)
    for name, recipe in RECIPES.items():
        assert set(recipe) <= known, name
    # donkeycar's cfg_complete.py: BATCH_SIZE 128, TRAIN_TEST_SPLIT 0.8, MAX_EPOCHS 100, EARLY_STOP_PATIENCE 5,
    # MIN_DELTA 0.0005, Adam at Keras's 1e-3, AUGMENTATIONS []; utils.train_test_split: shuffled records
    assert RECIPES["donkeycar"] == dict(batch_size=128, split="random", val_fraction=0.2, epochs=100, patience=5,
                                        min_delta=0.0005, lr=1e-3, schedule="constant", augment=False, flip=False)
    assert RECIPES["pilotlens"]["split"] == "blocks"


def test_bad_split_and_stopping_settings_are_refused_before_reading():
    never = iter(())    # nothing is read: an empty source would say "no frames" instead
    for kwargs, message in ((dict(split="shuffled"), "split must be one of blocks, random, got 'shuffled'"),
                            (dict(patience=0), "patience must be a whole number of epochs >= 1"),
                            (dict(patience=2.5), "patience must be a whole number"),
                            (dict(min_delta=-1.0), "min_delta must be a finite number >= 0"),
                            (dict(val_fraction=1.5), "val_fraction must be between 0 and 1")):
        with pytest.raises(ValueError, match=message):
            train(tiny_pilot(), never, progress=False, **kwargs)
