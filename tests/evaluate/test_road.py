import importlib

import pytest
import torch

from pilotlens.evaluate import linear_impute, noisy_linear_impute, road
from pilotlens.evaluate._common import generator
from pilotlens.evaluate.road import SharedImputations, removal_masks

from .helpers import LeftHalf, dense_impute, half_maps, images, uniform_maps

road_module = importlib.import_module("pilotlens.evaluate.road")   # the module; `road` is also the function

B = 6
def test_a_float32_input_gets_the_float64_imputation():
    """ROAD's systems are solved in float64 whatever the input's precision: on frames of the synthetic drive
    at PilotNet's 66 x 200, with the masks ROAD draws from an activation map (90 % removed is where a float32
    solve strayed by 2.4e-3 of the image's range), a float32 input's imputation is the float64 one rounded."""
    import pilotlens
    from pilotlens.data import open_source
    from pilotlens.models.pilot import Pilot
    pilot = Pilot.load("pilotnet")
    x = pilot.prepare([f.image for f in open_source("synthetic", seed=7, frames=4)]).double().contiguous()
    maps = pilotlens.explain(pilot.model, x.float(), "activation").maps.reshape(4, 66, 200)
    removed, rows = removal_masks(maps, (0.1, 0.5, 0.9), 0)["morf"]
    exact = linear_impute(x[rows], removed)
    fast = linear_impute(x.float()[rows], removed)
    assert fast.dtype == torch.float32
    assert torch.equal(fast, exact.float())


def test_linear_imputation_solves_the_roads_system():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 9, 12, generator=g, dtype=torch.float64)
    removed = torch.rand(2, 9, 12, generator=g) < 0.6
    removed[1, 2:8, 3:10] = True  # a large hole as well
    torch.testing.assert_close(linear_impute(x, removed), dense_impute(x, removed), atol=1e-12, rtol=0)
    # a float32 input: the same solution, rounded to float32
    torch.testing.assert_close(linear_impute(x.float(), removed), dense_impute(x, removed).float(), rtol=1e-6, atol=1e-7)
    # kept pixels are never touched
    out = linear_impute(x, removed)
    assert torch.equal(out[~removed[:, None].expand_as(x)], x[~removed[:, None].expand_as(x)])


def test_imputation_of_a_flat_or_linear_image_is_exact():
    flat = torch.full((1, 3, 20, 20), 0.4)
    removed = torch.zeros(1, 20, 20, dtype=torch.bool)
    removed[0, 3:17, 2:18] = True
    torch.testing.assert_close(linear_impute(flat, removed), flat)
    ramp = torch.linspace(0, 1, 20).view(1, 1, 1, 20).expand(1, 3, 20, 20).contiguous()
    torch.testing.assert_close(linear_impute(ramp, removed), ramp, atol=1e-5, rtol=0)


def test_noise_only_on_removed_pixels_and_seeded():
    x = torch.rand(1, 3, 10, 10)
    removed = torch.zeros(1, 10, 10, dtype=torch.bool)
    removed[0, 2:5, 2:5] = True
    a = noisy_linear_impute(x, removed, 0.05, torch.Generator().manual_seed(1))
    b = noisy_linear_impute(x, removed, 0.05, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    keep = ~removed[:, None].expand_as(x)
    assert torch.equal(a[keep], x[keep])
    assert not torch.allclose(a, linear_impute(x, removed))
    with pytest.raises(ValueError, match="at least one kept pixel"):
        linear_impute(x, torch.ones(1, 10, 10, dtype=torch.bool))


@pytest.fixture(scope="module")
def setup():
    return LeftHalf().eval(), images(B)


def test_left_beats_random_beats_right(setup):
    model, x = setup
    left = road(model, x, half_maps(B, "left"))
    right = road(model, x, half_maps(B, "right"))
    rnd = road(model, x, uniform_maps(B, 1))
    assert (left.score > right.score).all()
    assert left.score.mean() > 0.2 > abs(rnd.score.mean()) and right.score.mean() < -0.2
    assert left.morf_score.mean() < rnd.morf_score.mean() < right.morf_score.mean()
    assert left.morf.shape == (B, 9) and left.fractions[0] == pytest.approx(0.1)


def test_a_flat_map_scores_zero(setup):
    # ties go in the same seeded order for MoRF and LeRF: the same pixels go, the curves coincide
    model, x = setup
    assert torch.equal(road(model, x, torch.zeros(B, 16, 16)).score, torch.zeros(B))


def test_deterministic(setup):
    model, x = setup
    maps = uniform_maps(B, 2)
    a, b = road(model, x, maps, seed=5, fractions=(0.2, 0.6)), road(model, x, maps, seed=5, fractions=(0.2, 0.6))
    assert torch.equal(a.morf, b.morf) and torch.equal(a.lerf, b.lerf)


def test_fractions_must_leave_pixels(setup):
    model, x = setup
    with pytest.raises(ValueError, match=r"fractions must be in \[0, 1\)"):
        road(model, x, uniform_maps(B, 0), fractions=(0.5, 1.0))


def test_shared_imputations_change_no_curve_and_solve_each_mask_once(setup):
    # a flat map (MoRF and LeRF remove the same pixels), the same flat map again, a map that ranks like the
    # first random map (a monotone transform of it), and two maps that share nothing
    model, x = setup
    rnd = uniform_maps(B, 3)
    maps = [torch.zeros(B, 16, 16), torch.ones(B, 16, 16), rnd, rnd ** 3 + 1, half_maps(B, "left"), uniform_maps(B, 4)]
    fr = (0.2, 0.5)
    shared = SharedImputations.plan(x, maps, fr, seed=3)
    for m in maps:
        alone, with_shared = road(model, x, m, fractions=fr, seed=3), road(model, x, m, fractions=fr, seed=3, shared=shared)
        assert torch.equal(alone.morf, with_shared.morf) and torch.equal(alone.lerf, with_shared.lerf)
    # every distinct (image, removed pixels) is solved once: the flat maps' 2 orders x 2 maps share one set,
    # the transformed random map repeats the random one's
    distinct = set()
    for m in maps:
        for removed, rows in removal_masks(m, fr, 3).values():
            distinct.update((int(r), bytes(mask.flatten().tolist())) for r, mask in zip(rows, removed))
    assert shared.solved == len(distinct) and shared.reused == 6 * 2 * B * len(fr) - len(distinct)
    assert shared.store == {} and not shared.uses  # nothing kept after its last use
    assert shared.masks == {}                      # each planned map's masks handed over, then let go


def test_planned_masks_go_only_to_the_map_they_were_drawn_for(setup):
    model, x = setup
    planned = uniform_maps(B, 5)
    shared = SharedImputations.plan(x, [planned], (0.2, 0.5), seed=1)
    assert shared.masks_of(planned.clone(), (0.2, 0.5), 1) is None      # an equal map, another tensor
    assert shared.masks_of(planned, (0.2, 0.6), 1) is None               # other fractions
    assert shared.masks_of(planned, (0.2, 0.5), 2) is None               # another seed
    masks = shared.masks_of(planned, (0.2, 0.5), 1)
    expected = removal_masks(planned, (0.2, 0.5), 1)
    assert all(torch.equal(masks[o][0], expected[o][0]) and torch.equal(masks[o][1], expected[o][1]) for o in expected)
    assert shared.masks_of(planned, (0.2, 0.5), 1) is None               # handed over once


@pytest.mark.parametrize("kept_bytes, kept", [(1 << 30, 3), (6000, 1), (0, 0)])   # a 4-image chunk: 4800 bytes
def test_noise_stream_gives_every_reader_the_draws_of_a_fresh_generator(kept_bytes, kept, monkeypatch):
    """Kept for every reader, kept in part (a reader goes on from a generator restored where the kept draws
    end), or not kept at all: each reader sees the chunks a fresh generator draws, in order."""
    monkeypatch.setattr(road_module, "NOISE_KEPT_BYTES", kept_bytes)
    shapes = [torch.Size((4, 3, 10, 10)), torch.Size((4, 3, 10, 10)), torch.Size((1, 3, 10, 10))]
    gen = generator(7, "road", "noise")
    expected = [torch.randn(s, generator=gen) for s in shapes]
    stream = road_module.NoiseStream(7)
    first, second = stream.reader(), stream.reader()
    got_first = [first(s) for s in shapes[:2]]               # readers interleave, as MoRF then LeRF need not
    got_second = [second(s) for s in shapes]
    got_first.append(first(shapes[2]))
    for got in (got_first, got_second, [stream.reader()(shapes[0])]):
        assert all(torch.equal(g, e) for g, e in zip(got, expected))
    assert len(stream.draws) == kept and stream.kept <= kept_bytes


def test_road_draws_its_noise_once_per_batch_under_shared_imputations(setup, monkeypatch):
    model, x = setup
    maps = [uniform_maps(B, 6), uniform_maps(B, 7)]
    fr = (0.2, 0.5)
    alone = [road(model, x, m, fractions=fr, seed=4) for m in maps]
    shared = SharedImputations.plan(x, maps, fr, seed=4)
    calls = []
    real = torch.randn
    monkeypatch.setattr(torch, "randn", lambda *a, **k: calls.append(a) or real(*a, **k))
    together = [road(model, x, m, fractions=fr, seed=4, shared=shared) for m in maps]
    assert len(calls) == -(-B * len(fr) // 64)               # one draw per chunk, for 2 maps x 2 orders
    for a, t in zip(alone, together):
        assert torch.equal(a.morf, t.morf) and torch.equal(a.lerf, t.lerf)
