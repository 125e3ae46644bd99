"""compiled: which numba kernels still need compiling, and evaluate saying so before it pauses."""
import importlib
import sys

from pilotlens import compiled


def test_a_kernel_needs_compiling_until_its_first_call_caches_it(tmp_path, monkeypatch):
    (tmp_path / "fresh_kernel.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef add_one(x):\n    return x + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("fresh_kernel")
    try:
        assert compiled.needs_compiling([module.add_one])
        assert module.add_one(2) == 3
        assert not compiled.needs_compiling([module.add_one])
    finally:
        sys.modules.pop("fresh_kernel", None)


def test_anything_numba_cannot_answer_for_needs_no_message():
    from pilotlens.evaluate.registry import compiled_kernels
    assert not compiled.needs_compiling([len])
    assert all(hasattr(k, "_cache") for k in compiled_kernels())


def test_evaluate_says_it_is_compiling_before_the_pause(tmp_path, capsys, monkeypatch):
    from pilotlens.cli import main
    monkeypatch.setattr(compiled, "needs_compiling", lambda kernels: True)
    assert main(["evaluate", "--model", "pilotnet", "--input", "synthetic", "--frames", "2",
                 "--method", "grad_cam", "--metric", "localisation", "--out", str(tmp_path / "ev")]) == 0
    assert "numba compiles pilotlens's kernels on this first run" in capsys.readouterr().err
    monkeypatch.setattr(compiled, "needs_compiling", lambda kernels: False)
    assert main(["evaluate", "--model", "pilotnet", "--input", "synthetic", "--frames", "2",
                 "--method", "grad_cam", "--metric", "localisation", "--out", str(tmp_path / "ev2")]) == 0
    assert "numba compiles" not in capsys.readouterr().err


def test_the_explaining_verbs_say_when_a_method_compiles_before_the_first_frame(tmp_path, capsys, monkeypatch):
    from pilotlens.cli import main
    asked = []
    monkeypatch.setattr(compiled, "needs_compiling", lambda kernels: asked.append(kernels) or True)
    movie = ["movie", "--model", "pilotnet", "--input", "synthetic", "--input-option", "frames=2", "--out"]
    assert main(movie + [str(tmp_path / "a"), "--method", "visual_backprop", "--method", "grad_cam"]) == 0
    assert "numba compiles visual_backprop's kernels on this first run" in capsys.readouterr().err
    assert len(asked) == 1                       # grad_cam has no kernel to ask about
    assert main(movie + [str(tmp_path / "b"), "--method", "grad_cam"]) == 0
    assert main(movie + [str(tmp_path / "c"), "--quiet"]) == 0     # visual_backprop by default, quietly
    assert "numba compiles" not in capsys.readouterr().err and len(asked) == 1
    monkeypatch.setattr(compiled, "needs_compiling", lambda kernels: False)
    assert main(movie + [str(tmp_path / "d")]) == 0
    assert "numba compiles" not in capsys.readouterr().err


def test_prune_stale_deletes_only_the_files_a_moved_kernel_left(tmp_path, monkeypatch):
    source = "from numba import njit\n\n@njit(cache=True)\ndef add_one(x):\n    return x + 1\n"
    (tmp_path / "moving_kernel.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert importlib.import_module("moving_kernel").add_one(2) == 3       # cached under line 3
        cache = tmp_path / "__pycache__"
        old = sorted(p.name for p in cache.glob("moving_kernel.add_one-3.*"))
        assert any(n.endswith(".nbi") for n in old) and any(n.endswith(".nbc") for n in old)
        tag = old[0].split(".")[2]                                             # py311 and the like
        (cache / "moving_kernel.add_one-3.py27.nbi").write_text("another interpreter's")
        (cache / f"moving_kernel.add_one_twice-9.{tag}.nbi").write_text("another kernel's")
        (cache / f"moving_kernel.add_one-30.{tag}.1.nbc").write_text("from further down, once")
        # an edit moves the kernel two lines down: numba files it under line 5 and forgets line 3
        (tmp_path / "moving_kernel.py").write_text("\n\n" + source)
        sys.modules.pop("moving_kernel")
        importlib.invalidate_caches()
        moved = importlib.import_module("moving_kernel").add_one
        assert compiled.needs_compiling([moved])
        assert compiled.prune_stale([moved]) == len(old) + 1
        left = sorted(p.name for p in cache.iterdir() if not p.name.endswith(".pyc"))
        assert left == sorted(["moving_kernel.add_one-3.py27.nbi", f"moving_kernel.add_one_twice-9.{tag}.nbi"])
        assert moved(2) == 3 and not compiled.needs_compiling([moved])
        assert compiled.prune_stale([moved]) == 0                              # its own new files stay
        assert any(p.name.startswith(f"moving_kernel.add_one-5.{tag}") for p in cache.iterdir())
    finally:
        sys.modules.pop("moving_kernel", None)


def test_prune_stale_passes_over_what_numba_cannot_answer_for():
    assert compiled.prune_stale([len, object()]) == 0
