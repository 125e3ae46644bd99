import math

import pytest
import torch

from pilotlens.evaluate import faithfulness_correlation
from pilotlens.evaluate.faithfulness import pearson

from .helpers import LeftHalf, half_maps, images, uniform_maps

B = 6


def test_a_linear_model_and_its_own_weights_correlate_perfectly():
    # s(x) = sum w . x: removing S (zeros baseline) changes s by exactly sum_S w x, the map w * x
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16 * 16, 1, bias=False)).eval()
    x = torch.rand(B, 1, 16, 16)
    contribution = (model[1].weight.detach().view(1, 16, 16) * x[:, 0])
    res = faithfulness_correlation(model, x, contribution, target=0, runs=20, subset=0.1)
    torch.testing.assert_close(res.score, torch.ones(B), atol=1e-5, rtol=0)
    torch.testing.assert_close(res.changes, res.attributions, atol=1e-4, rtol=0)
    assert (faithfulness_correlation(model, x, -contribution, target=0, runs=20, subset=0.1).score < -0.99).all()


def test_a_map_of_the_half_the_model_reads_beats_the_other_half_and_random():
    # s(x) = the sum of the left half; subsets of fixed size: left pixels in S predict the change,
    # right pixels in S are the rest of the subset, so they predict it backwards
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16 * 16, 1, bias=False)).eval()
    with torch.no_grad():
        model[1].weight.copy_(half_maps(1, "left").view(1, -1))
    x = 0.5 + 0.5 * images(B)[:, :1]
    left = faithfulness_correlation(model, x, half_maps(B, "left"), target=0, runs=30, subset=0.2)
    right = faithfulness_correlation(model, x, half_maps(B, "right"), target=0, runs=30, subset=0.2)
    rnd = faithfulness_correlation(model, x, uniform_maps(B, 1), target=0, runs=30, subset=0.2)
    assert (left.score > 0.9).all() and (right.score < -0.9).all()
    assert abs(rnd.score.mean()) < 0.3


def test_flat_maps_give_nan_and_the_run_is_seeded():
    model, x = LeftHalf().eval(), images(2)
    assert all(math.isnan(v) for v in faithfulness_correlation(model, x, torch.ones(2, 16, 16), runs=5).score.tolist())
    a = faithfulness_correlation(model, x, uniform_maps(2, 0), runs=5, seed=3)
    b = faithfulness_correlation(model, x, uniform_maps(2, 0), runs=5, seed=3)
    assert torch.equal(a.score, b.score)
    with pytest.raises(ValueError, match="runs must be >= 2"):
        faithfulness_correlation(model, x, uniform_maps(2, 0), runs=1)
    with pytest.raises(ValueError, match="subset must be a share"):
        faithfulness_correlation(model, x, uniform_maps(2, 0), subset=2)


def test_pearson_by_hand():
    a = torch.tensor([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    b = torch.tensor([[2.0, 4.0, 7.0], [1.0, 2.0, 3.0]])
    # row 0: centred (-1, 0, 1) and (-2.33, -0.33, 2.67): 5 / sqrt(2 * 12.67)
    assert pearson(a, b)[0].item() == pytest.approx(5 / math.sqrt(2 * (38 / 3)), abs=1e-6)
    assert math.isnan(pearson(a, b)[1].item())


def test_shared_perturbations_give_every_map_its_own_score_without_passes():
    from pilotlens.evaluate.faithfulness import perturbations
    model, x = LeftHalf().eval(), images(4)
    passes = []
    model.register_forward_hook(lambda *_: passes.append(1))
    shared = perturbations(model, x, runs=6, seed=2)
    before = len(passes)
    for maps in (half_maps(4, "left"), uniform_maps(4, 3)):
        alone = faithfulness_correlation(model, x, maps, runs=6, seed=2)
        reused = faithfulness_correlation(model, x, maps, shared=shared)
        assert torch.equal(alone.score, reused.score) and torch.equal(alone.changes, reused.changes)
    assert len(passes) > before          # the calls alone ran the model...
    n = len(passes)
    faithfulness_correlation(model, x, half_maps(4, "left"), shared=shared)
    assert len(passes) == n              # ...the shared one did not
