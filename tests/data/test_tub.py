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


# -- hostile tubs: paths stay inside, labels are sound numbers, files are what they claim -------------
def records_tub(root, records, paths=("catalog_0.catalog",)):
    """A v2 tub whose catalog holds `records` as given (images 0.jpg.. under images/, grey 10*i)."""
    (root / "images").mkdir(parents=True)
    for i in range(len(records)):
        Image.fromarray(solid(10 * i + 10)).save(root / "images" / f"{i}.jpg")
    (root / "catalog_0.catalog").write_text("".join(json.dumps(r) + "\n" for r in records))
    manifest = [[], [], {}, {}, {"paths": list(paths), "current_index": len(records), "deleted_indexes": []}]
    (root / "manifest.json").write_text("\n".join(json.dumps(x) for x in manifest) + "\n")
    return root


def record(i, **changes):
    rec = {"_index": i, "cam/image_array": f"{i}.jpg", "user/angle": 0.1 * i, "user/throttle": 0.5}
    rec.update(changes)
    return rec


def test_image_paths_outside_the_tub_are_bad_frames_never_read(tmp_path):
    secret = tmp_path / "secret.jpg"
    Image.fromarray(solid(200)).save(secret)
    root = tmp_path / "deep" / "tub"
    recs = [record(0), record(1, **{"cam/image_array": "../../secret.jpg"}),
            record(2, **{"cam/image_array": str(secret)}), record(3, **{"cam/image_array": "link.jpg"})]
    records_tub(root, recs)
    (root / "images" / "link.jpg").symlink_to(secret)                   # a symlink escaping the tub
    src = TubSource(root)
    frames = list(src)
    assert [f.index for f in frames] == [0]
    assert [s.index for s in src.skipped] == [1, 2, 3]
    assert all("outside" in s.reason and str(root) in s.reason for s in src.skipped)
    assert all(float(f.image.mean()) < 100 for f in frames)              # nothing of the secret was read
    with pytest.raises(FrameError, match=r"frame 1 .*secret.jpg.*outside"):
        list(TubSource(root, strict=True))


def test_a_symlink_that_stays_inside_the_tub_is_followed(tmp_path):
    root = records_tub(tmp_path / "tub", [record(0), record(1, **{"cam/image_array": "alias.jpg"})])
    (root / "images" / "alias.jpg").symlink_to(root / "images" / "0.jpg")
    frames = list(TubSource(root))
    assert [f.index for f in frames] == [0, 1]
    np.testing.assert_array_equal(frames[0].image, frames[1].image)


@pytest.mark.parametrize("strict", [False, True])
def test_catalog_paths_outside_the_tub_are_not_read(tmp_path, strict, caplog):
    outside = tmp_path / "passwd"
    outside.write_text(json.dumps(record(0)) + "\n")                     # would even parse as a catalog
    root = records_tub(tmp_path / "tub", [record(0), record(1)], paths=("catalog_0.catalog", str(outside),
                                                                           "../passwd"))
    if strict:
        with pytest.raises(ValueError, match=r"catalog of the tub: .*passwd lies outside"):
            TubSource(root, strict=True)
        return
    src = TubSource(root)
    assert len(src) == 2 and [f.index for f in src] == [0, 1]
    assert sum("lies outside" in r.getMessage() for r in caplog.records) == 2


def test_a_catalog_symlinked_out_of_the_tub_is_not_read(tmp_path):
    outside = tmp_path / "elsewhere.catalog"
    outside.write_text(json.dumps(record(0)) + "\n")
    root = records_tub(tmp_path / "tub", [record(0)], paths=("catalog_0.catalog", "catalog_1.catalog"))
    (root / "catalog_1.catalog").symlink_to(outside)
    assert len(TubSource(root)) == 1


def test_v1_record_file_symlinked_out_of_the_tub_is_a_bad_frame(tmp_path):
    outside = tmp_path / "out.json"
    outside.write_text(json.dumps({"cam/image_array": "0.jpg", "user/angle": 0.5}))
    root = tmp_path / "tub"
    root.mkdir()
    Image.fromarray(solid(10)).save(root / "0.jpg")
    (root / "record_0.json").write_text(json.dumps({"cam/image_array": "0.jpg", "user/angle": 0.1}))
    (root / "record_1.json").symlink_to(outside)
    src = TubSource(root)
    assert [f.index for f in src] == [0] and "outside" in src.skipped[0].reason


BAD_LABELS = [("a string", "left", "not a number: 'left'"), ("null", None, "not a number: null"),
              ("a boolean", True, "not a number: True"), ("NaN", float("nan"), "not finite: nan"),
              ("inf", float("inf"), "not finite: inf"), ("1e300", 1e300, "1e+300, beyond"),
              ("a huge integer", 10 ** 400, "integer beyond")]


@pytest.mark.parametrize("what, value, reason", BAD_LABELS, ids=[b[0] for b in BAD_LABELS])
def test_unsound_labels_are_reported_with_their_record_and_counted(tmp_path, what, value, reason):
    root = records_tub(tmp_path / "tub", [record(0), record(1, **{"user/throttle": value}), record(2)])
    assert what == "null" or str(value)[:3].lower() in (root / "catalog_0.catalog").read_text().lower()
    src = TubSource(root)
    frames = list(src)
    assert [f.index for f in frames] == [0, 2]
    assert len(src.skipped) == 1 and src.skipped[0].index == 1
    assert src.skipped[0].source.endswith("catalog_0.catalog:2")          # the record: file and line
    assert "user/throttle" in src.skipped[0].reason and reason in src.skipped[0].reason
    with pytest.raises(FrameError, match=r"catalog_0.catalog:2.*user/throttle"):
        list(TubSource(root, strict=True))


def test_a_record_without_a_label_key_is_still_a_frame(tmp_path):
    rec = record(0)
    del rec["user/throttle"]
    frames = list(TubSource(records_tub(tmp_path / "tub", [rec])))
    assert frames[0].labels == {"angle": 0.0}


def test_skipped_labels_are_counted_in_the_movie_summary(tmp_path):
    from pilotlens.pipeline import Summary
    root = records_tub(tmp_path / "tub", [record(0), record(1, **{"user/angle": "x"})])
    src = TubSource(root)
    list(src)
    text = str(Summary("out.mp4", 1, list(src.skipped)))
    assert "skipped 1" in text and "catalog_0.catalog:2" in text and "user/angle is not a number" in text


def test_binary_manifest_is_named_in_one_line(tmp_path):
    root = records_tub(tmp_path / "tub", [record(0)])
    (root / "manifest.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary")
    with pytest.raises(ValueError) as err:
        TubSource(root)
    assert "manifest.json: not a UTF-8 JSON file" in str(err.value) and "\n" not in str(err.value)


def test_binary_catalog_is_named(tmp_path, caplog):
    root = records_tub(tmp_path / "tub", [record(0)])
    (root / "catalog_0.catalog").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="catalog_0.catalog: not a UTF-8 catalog file"):
        TubSource(root, strict=True)
    assert len(TubSource(root)) == 0 and "not a UTF-8 catalog file" in caplog.text


def test_deeply_nested_json_is_named_with_its_depth(tmp_path):
    root = records_tub(tmp_path / "tub", [record(0), record(1)])
    deep = "[" * 200_000 + "]" * 200_000
    with open(root / "catalog_0.catalog", "a") as f:
        f.write(deep + "\n")
    src = TubSource(root)
    assert [f.index for f in src] == [0, 1]
    assert src.skipped[0].source.endswith("catalog_0.catalog:3")
    assert "nested 200000 levels deep, deeper than the 100" in src.skipped[0].reason
    (root / "manifest.json").write_text(deep + "\n")
    with pytest.raises(ValueError, match=r"manifest.json:1: line nested 200000 levels deep"):
        TubSource(root)


def test_start_past_the_end_says_so(tmp_path):
    root = records_tub(tmp_path / "tub", [record(i) for i in range(6)])
    with pytest.raises(ValueError, match=r"start 1000 is past the end of the tub .*tub \(6 records, the last is 5\)"):
        TubSource(root, start=1000).check_range()
    with pytest.raises(ValueError, match="start 6 is past the end"):
        list(TubSource(root, start=6))
    assert [f.index for f in TubSource(root, start=5)] == [5]
