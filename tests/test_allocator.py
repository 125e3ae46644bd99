"""keep_freed_memory: glibc keeps freed blocks when asked, nothing happens elsewhere or when turned off."""
import platform

import pytest

import pilotlens
from pilotlens import allocator, cli


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_takes_both_settings(monkeypatch):
    monkeypatch.delenv("PILOTLENS_KEEP_MEMORY", raising=False)
    assert pilotlens.keep_freed_memory() is True
    assert pilotlens.keep_freed_memory() is True  # asking twice is harmless


def test_the_settings_go_to_mallopt(monkeypatch):
    calls = []

    class Libc:
        class mallopt:  # noqa: N801 - stands in for the C function
            argtypes = restype = None

            def __new__(cls, param, value):
                calls.append((param, value))
                return 1

    monkeypatch.delenv("PILOTLENS_KEEP_MEMORY", raising=False)
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: Libc)
    assert allocator.keep_freed_memory() is True
    assert calls == [(allocator.M_MMAP_THRESHOLD, 32 << 20), (allocator.M_TRIM_THRESHOLD, 1 << 30)]


def test_no_glibc_means_no_change(monkeypatch):
    def missing(name):
        raise OSError(f"{name}: cannot open shared object file")
    monkeypatch.delenv("PILOTLENS_KEEP_MEMORY", raising=False)
    monkeypatch.setattr(allocator.ctypes, "CDLL", missing)
    assert allocator.keep_freed_memory() is False


def test_the_environment_can_turn_it_off(monkeypatch):
    monkeypatch.setenv("PILOTLENS_KEEP_MEMORY", "0")
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: pytest.fail("libc was touched"))
    assert allocator.keep_freed_memory() is False


def test_the_command_asks_for_it_before_any_work(monkeypatch, capsys):
    asked = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: asked.append(True) or True)
    assert cli.main(["methods"]) == 0
    assert asked == [True]
