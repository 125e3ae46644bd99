"""The randomised look: it changes the pictures, never the labels; it is seeded; the masks follow the
randomised road (width, marking style) as painted."""
import numpy as np
import pytest

from pilotlens.data.world import CENTRE_CODES, Pose, SyntheticWorld
from pilotlens.data.world.randomise import STYLE_BLOCK

STRAIGHT = dict(curvature=0.0, weave=0.0, shadows=False, lighting=False, distractors=False)


def test_the_look_changes_the_pictures_not_the_labels():
    for seed in (0, 1, 2):
        plain, random = SyntheticWorld(seed=seed, randomize=False), SyntheticWorld(seed=seed)
        for i in (0, 300, 1200):
            a, b = plain.render(i), random.render(i)
            assert a[1] == b[1] and plain.labels(i) == random.labels(i)
            assert not np.array_equal(a[0], b[0])


def test_same_seed_same_look_in_any_order_and_seeds_differ():
    a, b = SyntheticWorld(seed=5), SyntheticWorld(seed=5)
    late = b.render(1500)
    for i in (0, 700, 1500):
        ia, la, ma = a.render(i)
        ib, lb, mb = (late if i == 1500 else b.render(i))
        assert np.array_equal(ia, ib) and la == lb and all(np.array_equal(ma[k], mb[k]) for k in ma)
    others = [SyntheticWorld(seed=s).render(0)[0].reshape(-1, 3).mean(0) for s in range(6)]
    assert len({tuple(np.round(m)) for m in others}) == 6          # six drives, six looks


def test_styles_vary_along_a_drive_and_between_drives():
    w = SyntheticWorld(seed=3)
    blocks = [w.look.block_style(b) for b in range(40)]
    halves = [s["half"] for s in blocks]
    assert 1.6 <= min(halves) and max(halves) <= 2.6 and max(halves) - min(halves) > 0.5
    assert {s["centre"] for s in blocks} == set(CENTRE_CODES.values())
    assert len({tuple(np.round(s["colour"][0])) for s in blocks}) > 20          # grass colours
    heights = {round(SyntheticWorld(seed=s).look.camera(0.0)[0], 3) for s in range(8)}
    assert len(heights) == 8 and all(1.1 < h < 2.0 for h in heights)


def _block_with(world, code):
    return next(b for b in range(1, 200) if world.look.block_style(b)["centre"] == code
                and world.look.block_style(b - 1)["centre"] == code)


def test_the_road_mask_has_the_width_of_its_style():
    """Straight centred road: a row v below the horizon sees the ground at z = f h / (v - horizon),
    so the road spans 2 * half * (v - horizon) / h pixels there."""
    w = SyntheticWorld(seed=4, **STRAIGHT)
    for b in (3, 9, 17):
        s = b * STYLE_BLOCK + 60.0                       # well past the blend at the block's start
        _, _, masks = w.render(Pose(s))
        half, (h, _), horizon = w.look.block_style(b)["half"], w.look.camera(s), w.horizon_at(s)
        v = int(horizon) + 14                            # a row where the road fits in the image
        span = masks["road"][v].sum()
        assert span == pytest.approx(2 * half * (v + 0.5 - horizon) / h, abs=2)


@pytest.mark.parametrize("style, runs", [("none", 0), ("solid", 1), ("double", 2)])
def test_centre_marking_styles_are_painted_and_masked(style, runs):
    w = SyntheticWorld(seed=6, **STRAIGHT)
    b = _block_with(w, CENTRE_CODES[style])
    img, _, masks = w.render(Pose(b * STYLE_BLOCK + 40.0))
    row = masks["lane_markings"][w.size[1] - 5]
    centre = row[w.size[0] // 2 - 8: w.size[0] // 2 + 8]           # 16 px around the centre line
    found = np.count_nonzero(np.diff(np.concatenate([[0], centre.astype(int), [0]])) == 1)
    assert found == runs
    assert not (masks["lane_markings"] & ~masks["road"]).any()


def test_distractors_stand_beside_the_road_and_hide_it_in_their_mask_only():
    w = SyntheticWorld(seed=2, obstacles=False)
    seen = [m for m in (w.render(i)[2] for i in range(0, 2000, 50)) if m["distractors"].any()]
    assert seen
    for m in seen:
        assert not m["obstacles"].any() and not (m["distractors"] & m["road"]).any()
    assert not any(SyntheticWorld(seed=2, distractors=False).render(i)[2]["distractors"].any()
                   for i in range(0, 2000, 50))
