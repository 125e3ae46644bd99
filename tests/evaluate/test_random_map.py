import torch

import pilotlens
from pilotlens.evaluate import RandomMap, random_maps, resolve_method

from .helpers import LeftHalf, images


def test_seeded_uniform_and_fresh_at_every_call():
    model, x = LeftHalf().eval(), images(3)
    ex = RandomMap(model, seed=1)
    a, b = ex(x), ex(x)
    assert a.maps.shape == (3, 16, 16) and a.method == "random"
    assert 0 <= a.maps.min() and a.maps.max() <= 1
    assert not torch.equal(a.maps, b.maps)
    assert torch.equal(RandomMap(model, seed=1)(x).maps, a.maps)
    torch.testing.assert_close(a.output, model(x).detach())
    assert abs(random_maps((64, 16, 16), torch.Generator().manual_seed(0)).mean().item() - 0.5) < 0.01


def test_known_to_evaluate_by_name_not_to_the_global_registry():
    model, x = LeftHalf().eval(), images(2)
    method = resolve_method("random")
    assert torch.equal(method(model, x, None, 7), method(model, x, None, 7))
    assert not torch.equal(method(model, x, None, 7), method(model, x, None, 8))
    assert "random" not in pilotlens.methods()
