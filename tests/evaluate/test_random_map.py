import torch

import pilotlens
from pilotlens.evaluate import RandomMap, random_maps, resolve_method

from .helpers import LeftHalf, images


def test_seeded_uniform_stateless_and_independent_of_anything_but_seed_and_output():
    model, x = LeftHalf().eval(), images(3)
    ex = RandomMap(model, seed=1)
    a, b = ex(x), ex(x)
    assert a.maps.shape == (3, 16, 16) and a.method == "random"
    assert 0 <= a.maps.min() and a.maps.max() <= 1
    assert torch.equal(a.maps, b.maps)                              # a call keeps nothing: repeatable
    assert not torch.equal(RandomMap(model, seed=2)(x).maps, a.maps)
    perturbed = RandomMap(model, seed=1)(x * 0.5)                   # another output: fresh maps
    assert not torch.equal(perturbed.maps, a.maps)
    torch.testing.assert_close(a.output, model(x).detach())
    assert abs(random_maps((64, 16, 16), torch.Generator().manual_seed(0)).mean().item() - 0.5) < 0.01


def test_an_ordinary_registered_method_seeded_by_evaluate():
    model, x = LeftHalf().eval(), images(2)
    method = resolve_method("random")
    assert torch.equal(method(model, x, None, 7), method(model, x, None, 7))
    assert not torch.equal(method(model, x, None, 7), method(model, x, None, 8))
    assert "random" in pilotlens.methods()
    # a seed in the spec wins over the run's
    fixed = resolve_method("random:seed=3")
    assert torch.equal(fixed(model, x, None, 7), fixed(model, x, None, 8))
