"""Keras files built to exhaust memory are refused before anything large is read or inflated, under
an address-space limit (the child process would die long before a GB-sized read succeeded)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile

import h5py
import numpy as np
import pytest

LIMIT = 1536 * 1024 ** 2      # bytes of address space for the child: torch and h5py fit, a GB-sized read does not
pytestmark = pytest.mark.slow

CHILD = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from pilotlens.cli import main
    sys.exit(main(["layers", "--model", sys.argv[1]]))
""")


def _run(path):
    return subprocess.run([sys.executable, "-c", CHILD.format(limit=LIMIT), str(path)], capture_output=True,
                          text=True, timeout=300)


def _config(layers=1):
    return {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 8, 8, 3], "name": "in"}}]}}


def test_a_keras_zip_whose_weights_inflate_thousands_of_times_is_refused_before_inflating(tmp_path):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps(_config()))
        z.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        with z.open("model.weights.h5", "w", force_zip64=True) as member:   # 256 MB of zeros, 0.25 MB stored
            block = bytes(64 * 1024 ** 2)
            for _ in range(4):
                member.write(block)
    assert path.stat().st_size < 2 * 1024 ** 2
    run = _run(path)
    assert run.returncode == 1, run.stderr[-2000:]
    line = run.stderr.strip().splitlines()[-1]
    assert "model.weights.h5 would inflate" in line and str(path) in line


def test_a_huge_config_json_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("config.json", "w", force_zip64=True) as member:       # 128 MB of spaces: valid JSON padding
            member.write(b'{"class_name": "Sequential", "config": {}')
            block = b" " * (64 * 1024 ** 2)
            for _ in range(2):
                member.write(block)
            member.write(b"}")
        z.writestr("model.weights.h5", b"")
    run = _run(path)
    assert run.returncode == 1, run.stderr[-2000:]
    line = run.stderr.strip().splitlines()[-1]
    assert "config.json declares" in line and "refused before reading" in line


@pytest.mark.parametrize("where", ["keras", "h5"])
def test_a_config_nested_deeper_than_json_is_read_is_named(tmp_path, where):
    deep = '{"class_name": "Sequential", "config": ' + "[" * 200_000 + "]" * 200_000 + "}"
    if where == "keras":
        path = tmp_path / "deep.keras"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("config.json", deep)
            z.writestr("model.weights.h5", b"")
    else:
        path = tmp_path / "deep.h5"
        with h5py.File(path, "w", libver="latest") as f:     # dense attribute storage: large attributes
            f.attrs["model_config"] = np.bytes_(deep.encode())
            f.attrs["keras_version"] = "2.15.0"
    run = _run(path)
    assert run.returncode == 1, run.stderr[-2000:]
    line = run.stderr.strip().splitlines()[-1]
    assert "nested" in line and "deeper than" in line and str(path) in line
