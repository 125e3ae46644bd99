import numpy as np
import pytest
import torch

from pilotlens.evaluate import DEFAULT_STRENGTHS, perturb, robustness
from pilotlens.models.pilot import Pilot

from .helpers import LeftHalf, images, sobel, tiny_cnn

B = 4


@pytest.mark.parametrize("name", sorted(DEFAULT_STRENGTHS))
def test_zero_strength_leaves_the_image_as_it_was(name):
    x = images(B)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(perturb(x, name, 0.0, g, x.amin(), x.amax()), x)
    assert not torch.equal(perturb(x, name, 0.3, g, 0.0, 1.0), x)


def test_zero_strength_gives_zero_change():
    model, x = tiny_cnn(), images(B)
    res = robustness(model, x, "gradient", perturbations={k: 0.0 for k in DEFAULT_STRENGTHS})
    for name in DEFAULT_STRENGTHS:
        assert torch.equal(res.output_change[name], torch.zeros(B))
        torch.testing.assert_close(res.map_change[name], torch.zeros(B), atol=1e-6, rtol=0)
    ssim_res = robustness(model, x, "gradient", perturbations={"brightness": 0.0}, similarity="ssim")
    torch.testing.assert_close(ssim_res.map_change["brightness"], torch.zeros(B), atol=1e-6, rtol=0)


def test_real_perturbations_change_things():
    model, x = tiny_cnn(), images(B)
    res = robustness(model, x, "gradient")
    assert res.strengths == DEFAULT_STRENGTHS
    for name in DEFAULT_STRENGTHS:
        assert (res.output_change[name] > 0).any() and (res.map_change[name] > 0).all()
    rnd = robustness(model, x, "random")
    assert all(rnd.map_change[n].mean() > 0.8 for n in DEFAULT_STRENGTHS)  # fresh random maps: no agreement


def test_a_shift_is_compared_with_the_map_shifted_back():
    # an edge map follows the image: shifted back it matches, away from the repeated edge column
    model, x = LeftHalf().eval(), images(B)
    res = robustness(model, x, sobel, perturbations={"shift": 2 / 16})
    assert res.map_change["shift"].max() < 0.05


def test_obstacle_takes_the_local_colour():
    img = torch.zeros(1, 3, 20, 20)
    img[:, 0] = 0.5  # a uniform "road"
    out = perturb(img, "obstacle", 0.3, torch.Generator().manual_seed(0), 0.0, 1.0)
    assert torch.equal(out, img)  # a box the colour of a uniform road is invisible
    img[:, 1] = (torch.arange(20).view(20, 1) + torch.arange(20).view(1, 20)) % 2  # a chequered road
    out = perturb(img, "obstacle", 0.3, torch.Generator().manual_seed(0), 0.0, 1.0)
    box = (out != img).any(1)[0]
    assert box.sum() == 6 * 4  # 0.3 x 20 wide, 0.6 as tall
    torch.testing.assert_close(out[0, :, box], torch.tensor([0.5, 0.5, 0.0]).view(3, 1).expand(3, 24), atol=0.05, rtol=0)


def test_frames_through_a_pilot():
    model = tiny_cnn()
    pilot = Pilot(model, input_size=(16, 16), crop=(8, 0, 0, 0))
    frames = np.random.default_rng(0).integers(0, 256, (B, 24, 20, 3), dtype=np.uint8)
    x = pilot.prepare(frames)
    zero = robustness(model, x, "gradient", frames=frames, pilot=pilot, perturbations={"shadow": 0.0, "noise": 0.0})
    assert all(torch.equal(v, torch.zeros(B)) for v in zero.output_change.values())
    res = robustness(model, x, "gradient", frames=frames, pilot=pilot, perturbations=["brightness"])
    assert (res.output_change["brightness"] > 0).all()
    with pytest.raises(ValueError, match="needs the pilot"):
        robustness(model, x, "gradient", frames=frames)
    with pytest.raises(ValueError, match="perturbations: brightness, shadow, obstacle, noise, shift"):
        robustness(model, x, "gradient", perturbations=["rain"])
