"""Where results go: checks before the work, atomic writes, partial files cleaned up."""
import os

import pytest

from pilotlens import outputs


def test_atomic_file_appears_only_when_complete(tmp_path):
    path = tmp_path / "a.bin"
    with pytest.raises(RuntimeError):
        with outputs.atomic_file(path) as tmp:
            open(tmp, "wb").write(b"half")
            assert os.path.exists(tmp) and not path.exists()
            raise RuntimeError("broke")
    assert list(tmp_path.iterdir()) == []
    outputs.write_bytes(path, b"whole")
    assert path.read_bytes() == b"whole" and list(tmp_path.iterdir()) == [path]


def test_stale_partials_of_the_output_are_removed_but_not_others(tmp_path):
    stale = tmp_path / ".out.mp4.partial-deadbeef.mp4"
    other = tmp_path / ".other.mp4.partial-deadbeef.mp4"
    stale.write_bytes(b"x")
    other.write_bytes(b"x")
    outputs.check_output_file(tmp_path / "out.mp4")
    assert not stale.exists() and other.exists()


def test_output_checks_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        outputs.check_output_file(tmp_path / "no" / "x.png")
    with pytest.raises(ValueError, match="must end in .png"):
        outputs.check_output_file(tmp_path / "x.gif", suffixes=[".png"])
    with pytest.raises(IsADirectoryError):
        outputs.check_output_file(tmp_path)
    src = tmp_path / "in.png"
    src.write_bytes(b"x")
    with pytest.raises(ValueError, match="also an input"):
        outputs.check_output_file(tmp_path / "." / "in.png", inputs=[src])
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        outputs.check_output_dir(tmp_path / "file")
    assert outputs.check_output_dir(tmp_path / "new").is_dir()
    with pytest.raises(FileNotFoundError):
        outputs.check_output_dir(tmp_path / "a" / "b")


def test_the_run_that_publishes_while_another_still_writes_says_it_lost(tmp_path, caplog):
    import subprocess
    import sys

    from pilotlens.outputs import atomic_file
    out = tmp_path / "drive.mp4"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / f".drive.mp4.partial-{other.pid}-0123abcd.mp4").write_bytes(b"half")   # the other run's
        with atomic_file(out, ".mp4") as tmp:
            open(tmp, "wb").write(b"ours")
        assert out.read_bytes() == b"ours"
        assert f"process {other.pid}" in caplog.text and "will not be this one" in caplog.text
    finally:
        other.kill()
        other.wait()
    caplog.clear()
    with atomic_file(out, ".mp4") as tmp:      # the other run is gone: its leftover is no rival
        open(tmp, "wb").write(b"again")
    assert "another run" not in caplog.text
