"""Planning without Ray: logs expanded, records listed once, parts cut on the local batches' boundaries."""
from __future__ import annotations

import subprocess
import sys

import pytest

from pilotlens.data import open_source
from pilotlens.fleet import Selection, expand, plan
from pilotlens.fleet.ray_engine import pool_size
from pilotlens.pipeline import batches


def _cut(part_indices, size):
    return [list(part_indices[i:i + size]) for i in range(0, len(part_indices), size)]


@pytest.mark.parametrize("start, step, batch_size, part_batches", [(0, 1, 4, 1), (1, 2, 2, 2), (0, 1, 3, 5)])
def test_parts_begin_where_the_local_pipeline_cuts_its_batches(fleet, start, step, batch_size, part_batches):
    sel = Selection(start=start, step=step)
    p = plan([fleet / "tub_a", fleet / "tub_b"], sel, batch_size=batch_size, part_batches=part_batches)
    for log in ("tub_a", "tub_b"):
        parts = [part for part in p.parts if part.folder == log]
        assert [part.number for part in parts] == list(range(len(parts)))
        planned = [b for part in parts for b in _cut(part.indices, batch_size)]
        local = [[f.index for f in b] for b in batches(open_source(fleet / log, start=start, step=step), batch_size)]
        assert planned == local
        assert all(len(part.indices) <= batch_size * part_batches for part in parts)
    assert p.labels == tuple(sorted(next(iter(open_source(fleet / "tub_a"))).labels))


def test_a_video_is_one_unit_of_work(fleet):
    p = plan([fleet / "drive.mp4"], batch_size=2, part_batches=1)
    assert len(p.parts) == 1 and p.parts[0].whole and p.logs[0].video and p.logs[0].frames == 9


def test_globs_expand_in_order_and_bad_inputs_are_named(fleet, tmp_path):
    assert expand([str(fleet / "tub_*")]) == [str(fleet / "tub_a"), str(fleet / "tub_b")]
    with pytest.raises(ValueError, match="matches no file"):
        expand([str(tmp_path / "nothing_*")])
    with pytest.raises(ValueError, match="given twice"):
        expand([str(fleet / "tub_*"), str(fleet / "tub_a")])
    with pytest.raises(ValueError, match="no such file"):
        plan([tmp_path / "missing"])


def test_logs_with_the_same_name_get_their_own_folders(fleet, tmp_path):
    import shutil
    for parent in ("x", "y"):
        shutil.copytree(fleet / "tub_b", tmp_path / parent / "tub")
    p = plan([tmp_path / "x" / "tub", tmp_path / "y" / "tub"], batch_size=4)
    folders = [log.folder for log in p.logs]
    assert len(set(folders)) == 2 and all(f.startswith("tub-") for f in folders)


def test_the_pool_leaves_a_cpu_for_reads_and_writes():
    assert pool_size(8, None, 1) == 7 and pool_size(8, None, 2) == 3 and pool_size(8, 3, 2) == 3
    with pytest.raises(ValueError, match=r"--actors 2 x --threads-per-actor 1 = 2 CPUs would leave 0 of the "
                                         r"cluster's 2 CPUs.*at most 1 actor"):
        pool_size(2, 2, 1)
    with pytest.raises(ValueError, match="1 CPU"):
        pool_size(1, None, 1)


def test_the_local_engine_never_imports_ray(fleet, tmp_path):
    code = ("import sys, pilotlens\n"
            f"pilotlens.batch('pilotnet', [{str(fleet / 'tub_b')!r}], {str(tmp_path / 'out')!r}, progress=False)\n"
            "assert 'ray' not in sys.modules, 'ray was imported'\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "out" / "_SUCCESS.json").is_file()


def test_the_frames_a_bar_can_count_on_are_known_only_without_a_whole_video():
    from pilotlens.fleet.plan import Part, known_frames
    images = [Part("a", "a", 0, (0, 1, 2)), Part("a", "a", 1, (3, 4))]
    assert known_frames(images) == 5
    assert known_frames(images + [Part("v.mp4", "v", 0, None)]) is None
    assert known_frames([]) is None
