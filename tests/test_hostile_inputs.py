"""Odd and hostile inputs across the verbs (issue 22): each ends in a correct result or one clear line.

The memory bombs run in a child process under an address-space limit (3 GB): a bound that failed
would end there in a MemoryError or a kill, never on the machine running the tests.
"""
from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from PIL import Image

from pilotlens.cli import main

LIMIT = 3 << 30
NET = textwrap.dedent("""
    from torch import nn


    class MyNet(nn.Module):
        input_size = (32, 24)
        output_names = ("angle",)

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.head = nn.Linear(4, 1)

        def forward(self, x):
            return self.head(self.conv(x).relu().mean(dim=(2, 3)))
""")


def pngs(tmp_path, n):
    from pilotlens.data import open_source
    (tmp_path / "in").mkdir(exist_ok=True)
    paths = []
    for f in open_source("synthetic", frames=n, seed=9):
        paths.append(tmp_path / "in" / f"frame_{f.index}.png")
        Image.fromarray(f.image).save(paths[-1])
    return paths


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def _cli(args, cwd, env=None, limited=True):
    """`pilotlens ARGS` in a child process (under the address-space limit): (exit code, stderr)."""
    run = subprocess.run([sys.executable, "-m", "pilotlens.cli", *map(str, args)], cwd=cwd, capture_output=True,
                         text=True, timeout=600, preexec_fn=_limited if limited else None,
                         env={**os.environ, **(env or {})})
    return run.returncode, run.stderr


def _one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


def _error(capsys) -> str:
    err = capsys.readouterr().err
    return _one_error_line(err)


# -- memory bombs --------------------------------------------------------------------------------
def test_a_huge_synthetic_size_is_one_line(tmp_path):
    code, err = _cli(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option",
                      "size=(100000,100000)", "--out", tmp_path / "m.gif", "--quiet"], tmp_path)
    line = _one_error_line(err)
    assert code == 1 and "size=(100000, 100000)" in line and ("GiB" in line or "TiB" in line)


def test_movie_scale_is_bounded_naming_scale_and_the_estimate(tmp_path):
    code, err = _cli(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=2",
                      "--scale", "1000", "--out", tmp_path / "m.gif", "--quiet"], tmp_path)
    line = _one_error_line(err)
    # 160x120 frames at x1000, two panels (frame + one map): 2 * 160000 * 120000 pixels
    assert code == 1 and "--scale=1000" in line and "160000x120000" in line and "GiB" in line
    assert not (tmp_path / "m.gif").exists()


def test_rise_masks_are_bounded_naming_the_option(tmp_path):
    code, err = _cli(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=2",
                      "--method", "rise", "--set", "rise.masks=1000000000", "--out", tmp_path / "m.gif", "--quiet"],
                     tmp_path)
    line = _one_error_line(err)
    assert code == 1 and "rise.masks=1000000000" in line and "TiB" in line


def test_rise_masks_bound_protects_the_api(monkeypatch):
    """The bound is the method's own: explain() refuses, and the estimate grows with the mask count."""
    import pilotlens
    from pilotlens.limits import TooLarge
    from pilotlens.models import zoo
    model = zoo.build("donkey_linear").eval()
    x = torch.rand(1, 3, 120, 160)
    monkeypatch.setenv("PILOTLENS_MAX_MEMORY", "64M")
    # 2000 masks of 160x120 float32 with their upsampled grids: > 64 MiB; 20 masks: far below
    with pytest.raises(TooLarge, match="rise.masks=2000"):
        pilotlens.explain(model, x, method="rise:masks=2000")
    assert pilotlens.explain(model, x, method="rise:masks=20").maps.shape == (1, 120, 160)


# -- read wrong, and nobody told ----------------------------------------------------------------
@pytest.fixture
def user_net(tmp_path):
    path = tmp_path / "mynet.py"
    path.write_text(NET)
    return f"{path}:MyNet"


def test_a_user_class_without_weights_is_said_once(user_net, tmp_path, capsys):
    assert main(["layers", "--model", user_net]) == 0
    err = capsys.readouterr().err
    assert err.count("no --weights: explaining MyNet with its initial (random) weights") == 1
    namespace: dict = {}
    exec(NET, namespace)
    torch.save(namespace["MyNet"]().state_dict(), tmp_path / "w.pth")
    assert main(["layers", "--model", user_net, "--weights", str(tmp_path / "w.pth")]) == 0
    assert "no --weights" not in capsys.readouterr().err


@pytest.mark.parametrize("fps", ["0", "-5", "nan", "inf"])
def test_a_non_positive_fps_is_refused(tmp_path, capsys, fps):
    out = tmp_path / "m.gif"
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=2",
                 f"--fps={fps}", "--out", str(out), "--quiet"])
    assert code == 1 and "--fps" in _error(capsys) and not out.exists()


def test_a_port_outside_the_range_is_refused(capsys):
    from pilotlens.view.launch import check_port
    code = main(["view", "--model", "donkey_linear", "--input", "synthetic", "--port", "99999", "--no-browser"])
    assert code == 1 and "0..65535" in _error(capsys)
    assert check_port(0) == 0 and check_port(65535) == 65535
    for bad in (-1, 65536, True, 80.0):
        with pytest.raises(ValueError, match="0..65535"):
            check_port(bad)


def test_a_target_the_pilot_cannot_give_is_refused_for_every_method(tmp_path, capsys):
    """visual_backprop reads no target; the check is the engine's own (Index on the real output)."""
    (png,) = pngs(tmp_path, 1)
    for verb in (["movie", "--input", "synthetic", "--input-option", "frames=2", "--out", str(tmp_path / "m.gif"),
                  "--quiet"], ["explain", str(png), "--out", str(tmp_path / "ex")]):
        code = main([verb[0], "--model", "donkey_linear", "--method", "visual_backprop", "--target", "7", *verb[1:]])
        line = _error(capsys)
        assert code == 1 and "target index 7" in line and "2 output(s): angle, throttle" in line
    assert not (tmp_path / "m.gif").exists()
    code = main(["movie", "--model", "donkey_linear", "--method", "visual_backprop", "--target", "1", "--input",
                 "synthetic", "--input-option", "frames=2", "--out", str(tmp_path / "m.gif"), "--quiet"])
    assert code == 0 and "explaining index 1" in capsys.readouterr().out


# -- train: work lost or misreported -------------------------------------------------------------
TRAIN = ["train", "--arch", "donkey_linear", "--input", "synthetic", "--input-option", "frames=40",
         "--input-option", "size=(64,48)", "--batch-size", "16", "--quiet"]


def test_train_that_diverges_exits_non_zero_and_says_why(tmp_path, capsys):
    out = tmp_path / "p.pt"
    code = main([*TRAIN, "--epochs", "2", "--lr", "1e6", "--out", str(out)])
    line = _error(capsys)
    assert code == 1 and "diverged at epoch 1" in line and "no model was kept" in line
    assert not out.exists() and not (tmp_path / "p.checkpoint.pt").exists()


def test_train_writes_the_pilot_and_leaves_no_checkpoint(tmp_path, capsys):
    from pilotlens.models import Pilot
    out = tmp_path / "p.pt"
    assert main([*TRAIN, "--epochs", "1", "--out", str(out)]) == 0
    assert out.exists() and not (tmp_path / "p.checkpoint.pt").exists()
    assert Pilot.load(out).outputs == ("angle", "throttle")


def test_sigterm_during_train_keeps_only_a_named_checkpoint(tmp_path):
    out, checkpoint = tmp_path / "p.pt", tmp_path / "p.checkpoint.pt"
    child = subprocess.Popen([sys.executable, "-m", "pilotlens.cli", *TRAIN, "--epochs", "100000",
                              "--out", str(out)], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        while not checkpoint.exists() and child.poll() is None:
            time.sleep(0.2)
        assert child.poll() is None, child.stderr.read()
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 143, err
    assert "no partial output was kept" not in err and f"kept as the checkpoint {checkpoint}" in err
    assert f"{out} was not written" in err and not out.exists()
    from pilotlens.models import Pilot
    assert Pilot.load(checkpoint).outputs == ("angle", "throttle")   # a complete pilot file


# -- concurrent runs to one output --------------------------------------------------------------
def test_stale_partials_of_a_live_run_are_kept(tmp_path):
    from pilotlens.outputs import partial_path, remove_stale_partials
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".m.gif.partial-{sleeper.pid}-0123abcd.gif"
        live.write_bytes(b"another run's frames")
        dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                  text=True).stdout.strip()
        dead = tmp_path / f".m.gif.partial-{dead_pid}-0123abcd.gif"
        dead.write_bytes(b"killed run")
        old_style = tmp_path / ".m.gif.partial-0123abcd.gif"
        old_style.write_bytes(b"older pilotlens")
        mine = partial_path(tmp_path / "m.gif", ".gif")   # registered: in use by this process
        open(mine, "wb").close()
        removed = remove_stale_partials(tmp_path, "m.gif")
        assert sorted(removed) == sorted([str(dead), str(old_style)])
        assert live.exists() and os.path.exists(mine) and f".partial-{os.getpid()}-" in mine
    finally:
        sleeper.kill()
        sleeper.wait()


def test_two_movies_to_one_output_both_finish(tmp_path):
    out = tmp_path / "m.gif"
    args = [sys.executable, "-m", "pilotlens.cli", "movie", "--model", "donkey_linear", "--input", "synthetic",
            "--input-option", "frames=40", "--out", str(out), "--quiet"]
    first = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    errs = [first.communicate(timeout=300)[1], second.communicate(timeout=300)[1]]
    assert first.returncode == 0 and second.returncode == 0, errs
    assert out.exists() and not [p for p in os.listdir(tmp_path) if ".partial-" in p]


def test_a_folder_published_twice_keeps_one_complete_folder(tmp_path):
    from pilotlens.outputs import partial_path, publish_folder
    final = tmp_path / "frames"
    for label in ("a", "b"):
        tmp = partial_path(final)
        os.mkdir(tmp)
        (tmp_path / tmp / "label.txt").write_text(label)
        publish_folder(tmp, final)
    assert (final / "label.txt").read_text() == "b" and os.listdir(tmp_path) == ["frames"]


# -- unclear messages ---------------------------------------------------------------------------
class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_with_code_is_refused_without_unsafe_advice(user_net, tmp_path, capsys):
    evil, marker = tmp_path / "evil.pth", tmp_path / "ran"
    torch.save({"conv.weight": _Evil(marker)}, evil)
    code = main(["layers", "--model", user_net, "--weights", str(evil)])
    line = _error(capsys)
    assert code == 1 and not marker.exists()
    assert "refused: it holds pickled Python objects; pilotlens only loads tensors" in line
    assert "weights_only=False" not in line and "weights_only` set to `False" not in line


def test_user_files_that_fail_at_import_name_the_file_and_line(tmp_path, capsys):
    (tmp_path / "syntaxerr.py").write_text("from torch import nn\n\nclass Net(nn.Module)\n    pass\n")
    (tmp_path / "boom.py").write_text("import torch\n\n\nraise RuntimeError('boom at import')\n")
    assert main(["layers", "--model", f"{tmp_path / 'syntaxerr.py'}:Net"]) == 1
    line = _error(capsys)
    assert "syntaxerr.py line 3: SyntaxError" in line
    assert main(["layers", "--model", f"{tmp_path / 'boom.py'}:Net"]) == 1
    line = _error(capsys)
    assert f"{tmp_path / 'boom.py'} line 4 raised RuntimeError at import: boom at import" in line


def _full_disk(real_open):
    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __getattr__(self, name):
            return getattr(self.f, name)

    return lambda path, mode="r", *a, **k: Full(real_open(path, mode, *a, **k)) if "w" in mode or "x" in mode \
        else real_open(path, mode, *a, **k)


def test_a_full_disk_names_the_output_in_explain_and_evaluate(tmp_path, capsys, monkeypatch):
    import builtins

    import pilotlens.outputs
    import pilotlens.render.panels  # noqa: F401 (the module; the package exports a function of its name)
    (png,) = pngs(tmp_path, 1)
    monkeypatch.setattr(sys.modules["pilotlens.render.panels"], "open", _full_disk(builtins.open), raising=False)
    code = main(["explain", "--model", "donkey_linear", str(png), "--out", str(tmp_path / "ex")])
    line = _error(capsys)
    assert code == 1 and f"{tmp_path / 'ex' / 'frame_0'}" in line and "No space left on device" in line
    assert not [p for p in os.listdir(tmp_path / "ex") if not p.startswith(".") or ".partial-" in p]
    monkeypatch.setattr(pilotlens.outputs, "open", _full_disk(builtins.open), raising=False)
    code = main(["evaluate", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=4",
                 "--quick", "--frames", "4", "--metric", "deletion", "--method", "visual_backprop",
                 "--out", str(tmp_path / "rep"), "--quiet"])
    line = _error(capsys)
    assert code == 1 and str(tmp_path / "rep" / "results.") in line and "No space left on device" in line


def test_an_output_the_system_refuses_names_its_path(tmp_path, capsys):
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=2",
                 "--out", "/proc/pilotlens-x.gif", "--quiet"])
    assert code == 1 and "/proc/pilotlens-x.gif" in _error(capsys)


def test_a_steering_threshold_that_is_no_number_says_so(capsys):
    code = main(["movie", "--model", "donkey_linear", "--input", "synthetic", "--input-option", "frames=2",
                 "--target", "steering:abc", "--out", "unused.gif", "--quiet"])
    assert code == 1 and "steering takes a threshold number (e.g. steering:0.05), got 'abc'" in _error(capsys)


@pytest.mark.parametrize("crop, side", [("-5,0,0,0", "top -5"), ("0,0,0,-2", "right -2")])
def test_a_negative_crop_reaches_its_own_message(capsys, crop, side):
    code = main(["layers", "--model", "donkey_linear", "--crop", crop])
    line = _error(capsys)
    assert code == 1 and "--crop cuts pixels away and cannot be negative" in line and side in line


def test_evaluate_refuses_a_model_whose_output_is_not_finite(tmp_path, capsys):
    path = tmp_path / "nannet.py"
    path.write_text(NET + textwrap.dedent("""

        class NanNet(MyNet):
            def forward(self, x):
                return super().forward(x) * float("nan")
    """))
    code = main(["evaluate", "--model", f"{path}:NanNet", "--input", "synthetic", "--input-option", "frames=4",
                 "--quick", "--frames", "4", "--method", "visual_backprop", "--out", str(tmp_path / "rep"), "--quiet"])
    line = _error(capsys)
    assert code == 1 and "output is not finite (NaN or inf) on 4 of 4 frames" in line
    assert not (tmp_path / "rep" / "results.md").exists()


def test_localisation_without_masks_gives_the_command_line_way(tmp_path, capsys):
    pngs(tmp_path, 2)
    code = main(["evaluate", "--model", "donkey_linear", "--input", str(tmp_path / "in"), "--metric", "localisation",
                 "--out", str(tmp_path / "rep"), "--quiet"])
    line = _error(capsys)
    assert code == 1 and "--input synthetic" in line
