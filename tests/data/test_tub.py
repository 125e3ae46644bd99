"""donkeycar tubs: v2 (manifest + catalogs), v1 (record_N.json), and write_tub."""
import json

import numpy as np
import pytest
from PIL import Image

from pilotlens.data import Frame, FrameError, write_tub
from pilotlens.data import tub as tub_module
from pilotlens.data.tub import TubSource

T0 = 1_700_000_000_000  # an epoch-sized timestamp in ms, as donkeycar writes them


def solid(value, shape=(12, 16)):
    return np.full((*shape, 3), value, np.uint8)


def make_v2(root, n=6, deleted=(2,), corrupt=(4,), step_ms=50, extra_lines=()):
    """A tub v2 written the way donkeycar does; record i has angle i/10 and grey level 20*i+10."""
    (root / "images").mkdir(parents=True)
    lines = []
    for i in range(n):
        name = f"{i}_cam_image_array_.jpg"
        Image.fromarray(solid(20 * i + 10)).save(root / "images" / name)
        lines.append(json.dumps({"_index": i, "_session_id": "x_0", "_timestamp_ms": T0 + i * step_ms,
                                 "cam/image_array": name, "user/angle": i / 10, "user/mode": "user",
                                 "user/throttle": 0.3}))
    for i in corrupt:
        path = root / "images" / f"{i}_cam_image_array_.jpg"
        path.write_bytes(path.read_bytes()[:40])
    lines[len(lines):] = extra_lines
    (root / "catalog_0.catalog").write_text("\n".join(lines) + "\n")
    manifest = [["cam/image_array", "user/angle", "user/throttle", "user/mode"],
                ["image_array", "float", "float", "str"], {}, {"created_at": 1.0},
                {"paths": ["catalog_0.catalog"], "current_index": n, "max_len": 1000,
                 "deleted_indexes": list(deleted)}]
    (root / "manifest.json").write_text("\n".join(json.dumps(x) for x in manifest) + "\n")
    return root


def test_v2_deleted_records_are_not_frames_and_corrupt_images_are_skipped(tmp_path):
    src = TubSource(make_v2(tmp_path / "tub"))
    assert src.version == 2 and len(src) == 5  # six records, one deleted
    frames = list(src)
    # kept records 0, 1, 3, 4, 5 become frames 0..4; record 4 (frame 3) has a corrupt image
    assert [f.index for f in frames] == [0, 1, 2, 4]
    assert [f.labels["angle"] for f in frames] == pytest.approx([0.0, 0.1, 0.3, 0.5])
    assert all(f.labels["throttle"] == pytest.approx(0.3) for f in frames)
    assert [round((float(f.image.mean()) - 10) / 20) for f in frames] == [0, 1, 3, 5]
    assert [f.time for f in frames] == pytest.approx([0.0, 0.05, 0.15, 0.25])
    assert src.fps == pytest.approx(20)
    assert [s.index for s in src.skipped] == [3]
    assert src.skipped[0].source.endswith("4_cam_image_array_.jpg")
    with pytest.raises(FrameError) as err:
        list(TubSource(tmp_path / "tub", strict=True))
    assert err.value.index == 3 and "4_cam_image_array_.jpg" in str(err.value)


def test_v2_selection_counts_kept_records(tmp_path):
    src = TubSource(make_v2(tmp_path / "tub", corrupt=()), start=1, step=2)
    frames = list(src)
    assert [f.index for f in frames] == [1, 3] and len(src) == 2
    assert [f.labels["angle"] for f in frames] == pytest.approx([0.1, 0.4])


def test_v2_malformed_catalog_line_is_reported_with_its_line(tmp_path):
    make_v2(tmp_path / "tub", n=3, deleted=(), corrupt=(), extra_lines=["{not json"])
    src = TubSource(tmp_path / "tub")
    assert len(src) == 4 and [f.index for f in src] == [0, 1, 2]
    assert src.skipped[0].index == 3 and src.skipped[0].source.endswith("catalog_0.catalog:4")
    with pytest.raises(FrameError, match="catalog_0.catalog:4"):
        list(TubSource(tmp_path / "tub", strict=True))


@pytest.mark.parametrize("strict", [False, True])
def test_v2_malformed_manifest_metadata_refuses_the_tub_rather_than_undelete(tmp_path, strict):
    root = make_v2(tmp_path / "tub", n=6, deleted=(1, 2, 3), corrupt=())
    lines = (root / "manifest.json").read_text().splitlines()
    assert len(list(TubSource(root))) == 3                     # deletions honoured while the line is sound
    lines[4] = lines[4][:-7]                                  # the catalog metadata line, cut short
    (root / "manifest.json").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"manifest.json:5: malformed line.*deleted records back"):
        TubSource(root, strict=strict)


def test_v2_deleted_indexes_of_the_wrong_type_refuse_the_tub(tmp_path):
    root = make_v2(tmp_path / "tub", n=3, deleted=(), corrupt=())
    lines = (root / "manifest.json").read_text().splitlines()
    meta = json.loads(lines[4])
    meta["deleted_indexes"] = "1,2"
    lines[4] = json.dumps(meta)
    (root / "manifest.json").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="deleted_indexes must be a list"):
        TubSource(root)


def test_v2_without_timestamps_has_no_clock(tmp_path):
    root = make_v2(tmp_path / "tub", n=2, deleted=(), corrupt=())
    lines = [json.loads(x) for x in (root / "catalog_0.catalog").read_text().splitlines()]
    (root / "catalog_0.catalog").write_text("".join(json.dumps({k: v for k, v in rec.items() if k != "_timestamp_ms"})
                                                    + "\n" for rec in lines))
    src = TubSource(root)
    assert src.fps is None and [f.time for f in src] == [None, None]


def test_v1_records_in_natural_order(tmp_path):
    for n in (1, 2, 10):
        Image.fromarray(solid(10 * n)).save(tmp_path / f"{n}_cam-image_array_.jpg")
        (tmp_path / f"record_{n}.json").write_text(json.dumps({
            "cam/image_array": f"{n}_cam-image_array_.jpg", "user/angle": -n / 10, "user/throttle": 0.5,
            "user/mode": "user", "milliseconds": T0 + 100 * n}))
    (tmp_path / "meta.json").write_text(json.dumps({"inputs": [], "types": []}))
    src = TubSource(tmp_path)
    frames = list(src)
    assert src.version == 1 and len(src) == 3
    assert [f.labels["angle"] for f in frames] == pytest.approx([-0.1, -0.2, -1.0])
    assert [round(float(f.image.mean()) / 10) for f in frames] == [1, 2, 10]
    assert [f.time for f in frames] == pytest.approx([0.0, 0.1, 0.9])


def drive(n, shape=(24, 32)):
    rng = np.random.default_rng(1)
    for i in range(n):
        base = rng.integers(40, 216, 3)
        image = np.broadcast_to(base, (*shape, 3)).astype(np.uint8)
        yield Frame(image, i, time=i / 10, labels={"angle": float(np.sin(i)), "throttle": i / n})


def test_write_tub_reads_back_as_the_same_frames(tmp_path):
    out = write_tub(tmp_path / "drive" / "tub", drive(6), fps=10)
    assert out == tmp_path / "drive" / "tub"
    src = TubSource(out)
    back, original = list(src), list(drive(6))
    assert len(back) == len(original) == len(src) and src.fps == pytest.approx(10)
    for a, b in zip(back, original):
        assert a.index == b.index and a.time == pytest.approx(b.time, abs=1e-3)
        assert a.labels == pytest.approx(b.labels)
        assert np.abs(a.image.astype(int) - b.image).mean() < 4  # jpeg: close, not exact
    assert sorted(p.name for p in out.iterdir()) == ["catalog_0.catalog", "catalog_0.catalog_manifest",
                                                     "images", "manifest.json"]
    assert (out / "images" / "5_cam_image_array_.jpg").is_file()


def test_write_tub_layout_matches_donkeycar(tmp_path, monkeypatch):
    monkeypatch.setattr(tub_module, "MAX_LEN", 3)  # small catalogs, so that several are written
    out = write_tub(tmp_path / "tub", drive(7))
    manifest = [json.loads(x) for x in (out / "manifest.json").read_text().splitlines()]
    assert len(manifest) == 5 and "user/angle" in manifest[0]
    assert manifest[4]["paths"] == ["catalog_0.catalog", "catalog_1.catalog", "catalog_2.catalog"]
    assert manifest[4]["current_index"] == 7 and manifest[4]["deleted_indexes"] == []
    for k, start in enumerate((0, 3, 6)):
        meta = json.loads((out / f"catalog_{k}.catalog_manifest").read_text())
        text = (out / f"catalog_{k}.catalog").read_text()
        # donkeycar seeks lines by these lengths, so they must be exact
        assert meta["line_lengths"] == [len(x) for x in text.splitlines(keepends=True)]
        assert meta["start_index"] == start == json.loads(text.splitlines()[0])["_index"]
    assert [f.labels["angle"] for f in TubSource(out)] == pytest.approx([f.labels["angle"] for f in drive(7)])


def test_write_tub_is_atomic_and_does_not_clobber(tmp_path):
    def failing():
        yield from drive(2)
        raise RuntimeError("camera unplugged")

    with pytest.raises(RuntimeError, match="unplugged"):
        write_tub(tmp_path / "tub", failing())
    assert list(tmp_path.iterdir()) == []  # no tub and no temporary folder left behind

    write_tub(tmp_path / "tub", drive(2))
    with pytest.raises(FileExistsError):
        write_tub(tmp_path / "tub", drive(3))
    assert len(TubSource(tmp_path / "tub")) == 2
    write_tub(tmp_path / "tub", drive(3), overwrite=True)
    assert len(TubSource(tmp_path / "tub")) == 3 and [p.name for p in tmp_path.iterdir()] == ["tub"]


def test_not_a_tub(tmp_path):
    with pytest.raises(ValueError, match="not a donkeycar tub"):
        TubSource(tmp_path)
