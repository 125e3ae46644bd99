import pytest
import torch

from pilotlens.evaluate import parameter_layers, randomized, sanity_check

from .helpers import images, sobel, tiny_cnn


@pytest.fixture(scope="module")
def setup():
    return tiny_cnn(), images(4)


def test_layers_in_forward_order(setup):
    model, x = setup
    assert parameter_layers(model, tuple(x.shape[1:])) == ["0", "2", "5", "7"]


def test_randomising_every_layer_changes_a_gradient_map(setup):
    model, x = setup
    res = sanity_check(model, x, "gradient")
    assert res.stages == ["7", "+5", "+2", "+0"]
    assert res.spearman.shape == (4, 4) and res.ssim.shape == (4, 4)
    assert res.score_spearman.mean() < 0.3 and res.passed
    assert res.score_ssim.mean() < 0.5


def test_a_map_that_ignores_the_model_does_not_change(setup):
    model, x = setup
    for mode in ("cascading", "independent"):
        res = sanity_check(model, x, sobel, mode=mode)
        torch.testing.assert_close(res.spearman, torch.ones_like(res.spearman))
        torch.testing.assert_close(res.ssim, torch.ones_like(res.ssim))
        assert not res.passed


def test_independent_mode_randomises_one_layer_at_a_time(setup):
    model, x = setup
    res = sanity_check(model, x, "gradient", mode="independent")
    assert res.stages == ["0", "2", "5", "7"]
    # the first conv feeds everything: randomising it alone scrambles the gradient
    assert res.spearman[0].mean() < 0.5


def test_the_users_model_is_never_modified(setup):
    model, x = setup
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sanity_check(model, x, "gradient")
    sanity_check(model, x, "gradient", mode="independent")
    twin = randomized(model, ["0"], seed=1)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert not torch.equal(twin[0].weight, model[0].weight) and torch.equal(twin[2].weight, model[2].weight)
    # randomisation keeps the scale, and is seeded
    assert 0.5 < twin[0].weight.std() / model[0].weight.std() < 2
    assert torch.equal(randomized(model, ["0"], seed=1)[0].weight, twin[0].weight)


def test_deterministic_and_unknown_layers(setup):
    model, x = setup
    a = sanity_check(model, x, "random", seed=3)
    b = sanity_check(model, x, "random", seed=3)
    assert torch.equal(a.spearman, b.spearman)
    assert a.passed  # fresh random maps each call: they "change" by construction
    with pytest.raises(ValueError, match="no layer named 'fc9'; parameterised layers: 0, 2, 5, 7"):
        sanity_check(model, x, "gradient", layers=["fc9"])
    with pytest.raises(ValueError, match="sanity mode"):
        sanity_check(model, x, "gradient", mode="random")


def test_stages_group_the_cascade_and_end_with_every_layer_random(setup):
    model, x = setup
    full = sanity_check(model, x, "gradient")
    grouped = sanity_check(model, x, "gradient", stages=2)
    assert grouped.stages == ["7+5", "+2+0"]
    # the same layers, randomised with the same seeds: the last stage is the same model
    torch.testing.assert_close(grouped.spearman[-1], full.spearman[-1])
    torch.testing.assert_close(grouped.spearman[0], full.spearman[1])   # after 7 and 5 in both


def test_several_methods_share_each_randomised_model(setup):
    from pilotlens.evaluate import resolve_method
    from pilotlens.evaluate.sanity import sanity_many
    from pilotlens.targets import Index

    model, x = setup
    methods = {"gradient": resolve_method("gradient"), "sobel": resolve_method(sobel)}
    target = Index(0).fix(model(x))
    maps = {k: m(model, x, target) for k, m in methods.items()}
    res = sanity_many(model, x, methods, target, maps, batch_size=3)   # frames in two calls per stage
    torch.testing.assert_close(res["gradient"].spearman, sanity_check(model, x, "gradient", target=0).spearman)
    torch.testing.assert_close(res["sobel"].spearman, torch.ones(4, 4))
