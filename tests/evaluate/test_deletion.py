import pytest
import torch

from pilotlens.evaluate import deletion, gaussian_blur, insertion, make_baseline
from pilotlens.evaluate._common import Tracker, pixel_ranks

from .helpers import LeftHalf, LeftHalfClassifier, half_maps, images, uniform_maps

B = 6


@pytest.fixture(scope="module")
def setup():
    return LeftHalf().eval(), images(B)


@pytest.mark.parametrize("baseline", ["blur", "mean", "zeros"])
def test_a_map_of_what_the_model_reads_beats_a_map_of_what_it_ignores(setup, baseline):
    model, x = setup
    left = deletion(model, x, half_maps(B, "left"), baseline=baseline).auc
    right = deletion(model, x, half_maps(B, "right"), baseline=baseline).auc
    assert (left < right).all()
    # the right half changes nothing: the curve stays at 1 until half the image is gone
    assert right.mean() > 0.6 and left.mean() < 0.45
    left_in = insertion(model, x, half_maps(B, "left"), baseline=baseline).auc
    right_in = insertion(model, x, half_maps(B, "right"), baseline=baseline).auc
    assert (left_in > right_in).all()


def test_random_maps_fall_between(setup):
    model, x = setup
    rnd = [deletion(model, x, uniform_maps(B, s)).auc.mean() for s in (1, 2)]
    left = deletion(model, x, half_maps(B, "left")).auc.mean()
    right = deletion(model, x, half_maps(B, "right")).auc.mean()
    assert left < min(rnd) and max(rnd) < right
    assert abs(rnd[0] - rnd[1]) < 0.1  # two random maps score alike


def test_regression_curves_are_pinned_and_bounded(setup):
    model, x = setup
    d = deletion(model, x, uniform_maps(B, 3), steps=8)
    i = insertion(model, x, uniform_maps(B, 3), steps=8)
    assert d.kind == "regression" and d.curves.shape == (B, 9) and d.fractions[0] == 0 and d.fractions[-1] == 1
    torch.testing.assert_close(d.curves[:, 0], torch.ones(B))
    torch.testing.assert_close(d.curves[:, -1], torch.zeros(B))
    torch.testing.assert_close(i.curves[:, 0], torch.zeros(B))
    torch.testing.assert_close(i.curves[:, -1], torch.ones(B))
    assert ((d.curves >= 0) & (d.curves <= 1)).all()
    # raw values: the clean output at the start of deletion
    torch.testing.assert_close(d.values[:, 0], model(x)[:, 0])


def test_trapezoid_auc_of_a_known_curve():
    # a model that reads one pixel: deleting it first drops the curve to 0 at the first step
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 1, bias=False))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[0, 0] = 1.0  # channel 0, pixel (0, 0)
    x = torch.rand(2, 3, 16, 16) + 1
    maps = torch.zeros(2, 16, 16)
    maps[:, 0, 0] = 1
    res = deletion(model, x, maps, steps=4, baseline="zeros")
    # curve 1, 0, 0, 0, 0 over fractions 0, .25, ... 1: area = 0.25 / 2
    torch.testing.assert_close(res.auc, torch.full((2,), 0.125))


def test_classifier_tracks_the_clean_class_probability(setup):
    body, x = setup
    s = body(x)[:, 0].detach()
    model = LeftHalfClassifier(offset=float(s.min()) - 0.5).eval()
    res = deletion(model, x, half_maps(B, "left"), target="class")
    assert res.kind == "classification"
    torch.testing.assert_close(res.curves[:, 0], torch.softmax(model(x), 1)[:, 0])
    right = deletion(model, x, half_maps(B, "right"), target="class")
    assert (res.auc < right.auc).all()


def test_deterministic_and_independent_of_the_model_batch(setup):
    model, x = setup
    maps = torch.zeros(B, 16, 16)  # all tied: the order is the seeded tie-break alone
    a = deletion(model, x, maps, seed=3, batch_size=7)
    b = deletion(model, x, maps, seed=3, batch_size=100)
    torch.testing.assert_close(a.curves, b.curves)
    c = deletion(model, x, maps, seed=4)
    assert not torch.equal(a.curves, c.curves)


def test_ties_are_broken_at_random_not_in_raster_order():
    ranks = pixel_ranks(torch.zeros(1, 4, 4), torch.Generator().manual_seed(0))
    assert sorted(ranks[0].tolist()) == list(range(16))
    assert ranks[0].tolist() != list(range(16))
    graded = torch.arange(16.0).view(1, 4, 4)
    assert pixel_ranks(graded, torch.Generator())[0].tolist() == list(range(15, -1, -1))


def test_baselines():
    x = torch.rand(2, 3, 10, 12)
    assert torch.equal(make_baseline(x, "zeros"), torch.zeros_like(x))
    torch.testing.assert_close(make_baseline(x, "mean")[:, :, 3, 4], x.mean(dim=(2, 3)))
    flat = torch.full((1, 3, 10, 12), 0.3)
    torch.testing.assert_close(gaussian_blur(flat, 2.0), flat)
    assert make_baseline(x, "blur").std() < x.std()
    assert torch.equal(make_baseline(x, 0.5), torch.full_like(x, 0.5))
    with pytest.raises(ValueError, match="baselines: blur, zeros, mean"):
        make_baseline(x, "noise")


def test_errors(setup):
    model, x = setup
    with pytest.raises(ValueError, match="maps must be B x H x W"):
        deletion(model, x, torch.zeros(B, 8, 8))
    with pytest.raises(ValueError, match="steps"):
        deletion(model, x, torch.zeros(B, 16, 16), steps=0)
    with pytest.raises(ValueError, match="kind must be one of"):
        Tracker(model, x, kind="ranking")
