"""The synthetic driving world: seeded and random access, labels with the documented sign, masks
that match the painted pixels, and a Source honouring the frame selection."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pilotlens.data import Frame, open_source
from pilotlens.data.synthetic import Pose, SyntheticSource, SyntheticWorld

PLAIN = dict(randomize=False, shadows=False, lighting=False, obstacles=False)   # the classic look
WORLDS: dict = {}                                # worlds kept between hypothesis examples


def lum(img):
    return img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def test_same_seed_same_drive_and_random_access():
    a, b = SyntheticWorld(seed=7, obstacles=True), SyntheticWorld(seed=7, obstacles=True)
    late = b.render(900)                       # b starts far into the drive, a goes in order
    for i in (0, 1, 450):
        ia, la, ma = a.render(i)
        ib, lb, mb = b.render(i)
        assert np.array_equal(ia, ib) and la == lb
        assert all(np.array_equal(ma[k], mb[k]) for k in ma)
    again = a.render(900)
    assert np.array_equal(again[0], late[0]) and again[1] == late[1]


def test_different_seeds_differ():
    (i0, l0, _), (i1, l1, _) = SyntheticWorld(seed=0).render(40), SyntheticWorld(seed=1).render(40)
    assert not np.array_equal(i0, i1) and l0 != l1


def test_frames_change_as_the_car_drives():
    w = SyntheticWorld(seed=2, **PLAIN)
    poses = [w.pose(i) for i in range(0, 60, 10)]
    assert all(p1.s > p0.s for p0, p1 in zip(poses, poses[1:]))
    assert not np.array_equal(w.render(0)[0], w.render(1)[0])


@pytest.mark.parametrize("bend, sign", [(0.03, 1), (-0.03, -1), (0.01, 1), (-0.01, -1)])
def test_a_road_bending_right_steers_right(bend, sign):
    w = SyntheticWorld(seed=3, bend=bend, weave=0.0, **PLAIN)
    for i in (0, 17, 200):
        assert np.sign(w.labels(i)["angle"]) == sign
    # and the picture agrees: far away the road is on that side of the image centre
    _, labels, masks = w.render(Pose(s=10.0))
    rows = np.flatnonzero(masks["road"].any(1))[:5]
    cols = np.nonzero(masks["road"][rows])[1] + 0.5
    assert np.sign(cols.mean() - w.size[0] / 2) == sign and np.sign(labels["angle"]) == sign


def test_offset_and_heading_steer_back_to_the_centre():
    w = SyntheticWorld(seed=4, curvature=0.0, weave=0.0, **PLAIN)
    assert w.labels(Pose(s=50.0))["angle"] == 0.0
    assert w.labels(Pose(s=50.0, offset=0.5))["angle"] < 0       # right of centre: steer left
    assert w.labels(Pose(s=50.0, offset=-0.5))["angle"] > 0
    assert w.labels(Pose(s=50.0, heading=0.05))["angle"] < 0     # pointing right: steer left
    assert w.labels(Pose(s=50.0, heading=-0.05))["angle"] > 0
    assert 0.5 < w.labels(Pose(s=50.0, offset=-5.0))["angle"] <= 1.0


def test_the_labels_drive_the_car_along_the_road():
    """Closed loop: a kinematic car steered by the labels comes back from 1 m off and stays on."""
    from pilotlens.data.synthetic import MAX_STEER, V_TOP, WHEELBASE

    w = SyntheticWorld(seed=12)
    s, offset, heading, dt, seen = 0.0, 1.0, 0.1, 0.05, []
    for _ in range(600):
        labels = w.labels(Pose(s, offset, heading))
        v, wheel = labels["throttle"] * V_TOP, labels["angle"] * MAX_STEER
        heading += (v * np.tan(wheel) / WHEELBASE - v * float(w.curvature_at(s))) * dt
        offset += v * np.sin(heading) * dt
        s += v * np.cos(heading) * dt
        seen.append(offset)
    assert s > 200 and np.abs(seen[100:]).max() < 0.4


def test_throttle_is_lower_in_sharp_bends():
    straight = SyntheticWorld(curvature=0.0, weave=0.0).labels(10)["throttle"]
    sharp = SyntheticWorld(bend=0.04, weave=0.0).labels(10)["throttle"]
    assert 0.0 < sharp < straight <= 1.0


def test_labels_vary_and_stay_in_range_along_a_drive():
    w = SyntheticWorld(seed=5)
    angles = np.array([w.labels(i)["angle"] for i in range(0, 3000, 25)])
    assert np.all(np.abs(angles) <= 1.0) and (angles > 0.05).any() and (angles < -0.05).any()


def test_masks_on_a_straight_centred_road_are_symmetric_and_match_the_paint():
    w = SyntheticWorld(seed=6, curvature=0.0, weave=0.0, **PLAIN)
    img, _, masks = w.render(33)
    width, height = w.size
    road, marks = masks["road"], masks["lane_markings"]
    assert road.dtype == bool and road.shape == (height, width)
    assert np.array_equal(marks, marks[:, ::-1]) and np.array_equal(road, road[:, ::-1])
    assert not masks["obstacles"].any() and not (marks & ~road).any()
    y = lum(img)
    rows = np.flatnonzero(road.any(1))
    assert rows[-1] == height - 1 and rows[0] > height // 3     # from below the horizon to the bottom
    for r in rows:
        cols = np.flatnonzero(road[r])
        assert cols[-1] - cols[0] + 1 == cols.size               # one contiguous span ...
        assert cols[0] + cols[-1] + 1 == width                   # ... centred on the image centre
        asphalt = road[r] & ~marks[r]
        if marks[r].any() and asphalt.any():                     # paint is brighter than asphalt
            assert y[r, marks[r]].min() > y[r, asphalt].max() + 20
    near = slice(height * 3 // 4, height)                        # edge lines white, dashes yellow
    edge = marks[near] & (np.abs(np.arange(width) + 0.5 - width / 2) > width / 8)
    assert edge.any() and img[near][edge].min() > 180
    centre = marks[near] & ~edge
    if centre.any():
        r, g, b = img[near][centre].astype(int).T
        assert (r - b > 80).all() and (g - b > 60).all()


def test_edge_lines_appear_in_every_near_row_and_dashes_move():
    w = SyntheticWorld(seed=6, curvature=0.0, weave=0.0, **PLAIN)
    _, _, m0 = w.render(Pose(s=0.0))
    _, _, m1 = w.render(Pose(s=1.5))
    near = m0["lane_markings"][w.size[1] // 2:]
    half = w.size[0] // 2
    assert near[:, :half].any(1).all() and near[:, half:].any(1).all()   # both edge lines, every row
    centre = slice(w.size[0] // 2 - 3, w.size[0] // 2 + 3)
    assert not np.array_equal(m0["lane_markings"][:, centre], m1["lane_markings"][:, centre])


def test_obstacles_mask_only_with_obstacles():
    plain = SyntheticWorld(seed=8)
    assert not any(plain.render(i)[2]["obstacles"].any() for i in range(0, 400, 40))
    for options in (dict(obstacles=True), dict(road_colored_obstacles=True)):
        w = SyntheticWorld(seed=8, **options)
        found = [m for m in (w.render(i)[2] for i in range(0, 400, 20)) if m["obstacles"].any()]
        assert found
        for m in found:                                          # what an obstacle hides is not road
            assert not (m["obstacles"] & (m["road"] | m["lane_markings"])).any()


def test_road_colored_obstacles_wear_the_road_colour():
    w = SyntheticWorld(seed=8, road_colored_obstacles=True, **PLAIN)
    coloured = SyntheticWorld(seed=8, obstacles=True, shadows=False, lighting=False, randomize=False)
    for world, grey in ((w, True), (coloured, False)):
        pixels = np.concatenate([img[m["obstacles"]] for img, _, m in (world.render(i) for i in range(0, 400, 20))])
        spread = pixels.astype(int).max(1) - pixels.astype(int).min(1)      # how far from grey
        assert (spread.max() <= 20) == grey


def test_effects_change_the_picture_not_the_labels_or_masks():
    base = SyntheticWorld(seed=9, **PLAIN)
    lit = SyntheticWorld(seed=9, randomize=False, lighting=True, shadows=True)
    means = [lit.render(i)[0].mean() for i in range(0, 4000, 400)]
    assert max(means) - min(means) > 15                           # lighting changes along the drive
    i0, l0, m0 = base.render(120)
    i1, l1, m1 = lit.render(120)
    assert l0 == l1 and all(np.array_equal(m0[k], m1[k]) for k in m0)


@pytest.mark.parametrize("size", [(320, 240), (200, 66), (64, 48)])
def test_other_sizes(size):
    img, labels, masks = SyntheticWorld(seed=1, size=size, obstacles=True).render(5)
    assert img.shape == (size[1], size[0], 3) and img.dtype == np.uint8
    assert set(labels) == {"angle", "throttle"}
    assert set(masks) == {"road", "lane_markings", "obstacles", "distractors"}
    assert all(m.shape == (size[1], size[0]) and m.dtype == bool for m in masks.values())
    assert masks["road"].any() and masks["lane_markings"].any()


@settings(max_examples=25, deadline=None)
@given(s=st.floats(0, 5000), offset=st.floats(-1.5, 1.5), heading=st.floats(-0.3, 0.3),
       bend=st.sampled_from([None, -0.05, 0.0, 0.05]))
def test_any_pose_renders_consistently(s, offset, heading, bend):
    w = WORLDS.setdefault(bend, SyntheticWorld(seed=11, size=(64, 48), bend=bend, obstacles=True))
    img, labels, masks = w.render(Pose(s, offset, heading))
    assert img.shape == (48, 64, 3) and -1.0 <= labels["angle"] <= 1.0
    assert not (masks["lane_markings"] & ~masks["road"]).any()
    assert not (masks["obstacles"] & masks["road"]).any()
    assert not masks["road"][: int(w.horizon_at(s))].any()        # nothing on the road above the horizon
    assert masks["road"][int(w.horizon_at(s)) + 1:].any() or abs(heading) > 0.2


def test_source_yields_the_selection_with_labels_and_masks():
    src = SyntheticSource(seed=2, frames=30, start=3, end=20, step=4, size=(80, 60))
    frames = list(src)
    assert [f.index for f in frames] == [3, 7, 11, 15, 19] and len(src) == 5
    world = SyntheticWorld(seed=2, size=(80, 60))
    for f in frames:
        assert isinstance(f, Frame) and f.image.shape == (60, 80, 3)
        assert f.time == pytest.approx(f.index / 20.0)
        image, labels, masks = world.render(f.index)
        assert np.array_equal(f.image, image) and f.labels == labels
    last = src.masks(19)
    assert all(np.array_equal(last[k], masks[k]) for k in masks)
    again = src.masks(3)
    assert np.array_equal(again["road"], world.render(3)[2]["road"])


def test_source_length_and_open_source():
    assert len(SyntheticSource(frames=10)) == 10
    assert len(SyntheticSource(frames=10, end=50)) == 10
    assert len(SyntheticSource(frames=10, start=8)) == 2
    assert list(SyntheticSource(frames=0)) == []
    src = open_source("synthetic", seed=4, frames=3, size=(48, 32), fps=10.0, shadows=False)
    frames = list(src)
    assert len(frames) == 3 and frames[1].time == pytest.approx(0.1) and frames[0].image.shape == (32, 48, 3)
    with pytest.raises(TypeError, match="bogus"):
        SyntheticSource(bogus=1)
    with pytest.raises(ValueError):
        SyntheticSource(frames=-1)


def test_source_knows_every_world_option():
    import inspect

    from pilotlens.data.synthetic import WORLD_OPTIONS

    params = inspect.signature(SyntheticWorld.__init__).parameters.values()
    assert set(WORLD_OPTIONS) == {p.name for p in params if p.kind is p.KEYWORD_ONLY} - {"fps"}


def test_recovery_frames_are_shifted_and_steer_back_toward_the_centre():
    """Straight road, no weaving: the centre line lies at lateral x = -(offset + d tan(heading)) a
    look-ahead d ahead (to first order), so the label steers toward it: sign(angle) = sign(x)."""
    from pilotlens.data.synthetic import RECOVERY_SHIFT, RECOVERY_TURN

    src = SyntheticSource(seed=3, frames=400, recovery=True, curvature=0.0, weave=0.0, size=(64, 48))
    poses = [src.pose(i) for i in range(400)]
    offsets = np.array([p.offset for p in poses])
    headings = np.array([p.heading for p in poses])
    assert np.abs(offsets).max() <= RECOVERY_SHIFT and np.abs(headings).max() <= RECOVERY_TURN
    assert (offsets > 0.5).any() and (offsets < -0.5).any() and (np.abs(headings) > 0.1).any()
    checked = 0
    for frame in src:
        pose = poses[frame.index]
        look = 3.0 + 0.5 * frame.labels["throttle"] * 20.0
        x = -(pose.offset + look * np.tan(pose.heading))
        if abs(x) > 0.2:
            assert np.sign(frame.labels["angle"]) == np.sign(x)
            checked += 1
        if frame.index < 3:                                       # the image is the view from that pose
            assert np.array_equal(frame.image, src.world.render(pose)[0])
    assert checked > 200


def test_recovery_share_and_driver_frames_unchanged():
    plain = SyntheticSource(seed=4, frames=300)
    half = SyntheticSource(seed=4, frames=300, recovery=0.5)
    moved = [half.pose(i) != plain.pose(i) for i in range(300)]
    assert 0.35 < np.mean(moved) < 0.65
    assert half.pose(0) == half.pose(0)                          # seeded per frame
    for i in np.flatnonzero(~np.array(moved))[:3]:
        assert half.pose(i) == plain.world.pose(i)
    for bad in (1.5, -0.1, "often"):
        with pytest.raises(ValueError, match="recovery must be"):
            SyntheticSource(recovery=bad)


def test_a_huge_size_is_refused_in_one_line_before_any_allocation():
    """size=(100000, 100000) once asked numpy for 335 GiB. Run under a 3 GiB address-space limit, so
    that an allocation made before the check fails the test instead of the machine."""
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024 ** 3, 3 * 1024 ** 3))
        from pilotlens.data import open_source
        try:
            open_source("synthetic", size=(100000, 100000))
        except ValueError as exc:
            print(exc)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**__import__("os").environ, "PILOTLENS_MAX_MEMORY": ""})
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert "\n" not in line and "MemoryError" not in line
    assert line.startswith("synthetic size=(100000, 100000) would need about") and "TiB" in line
    assert "PILOTLENS_MAX_MEMORY" in line


def test_the_size_bound_follows_the_estimate(monkeypatch):
    from pilotlens.data.world.render import peak_bytes
    need = peak_bytes(320, 240)
    monkeypatch.setenv("PILOTLENS_MAX_MEMORY", str(need - 1))
    with pytest.raises(ValueError, match=r"synthetic size=\(320, 240\) would need about"):
        SyntheticSource(size=(320, 240), frames=1)
    monkeypatch.setenv("PILOTLENS_MAX_MEMORY", str(need))
    assert next(iter(SyntheticSource(size=(320, 240), frames=1))).image.shape == (240, 320, 3)


def test_the_estimate_covers_what_building_and_rendering_hold():
    """peak_bytes is an upper bound of what tracemalloc sees (numpy reports its buffers to it)."""
    import tracemalloc
    from pilotlens.data.world.render import peak_bytes
    for size in ((160, 120), (640, 480), (1280, 240), (200, 800)):
        tracemalloc.start()
        try:
            world = SyntheticWorld(0, size)
            world.render(5)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < peak_bytes(*size), size
