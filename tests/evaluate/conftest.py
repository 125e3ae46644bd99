"""The evaluate tests run many small tensor operations (perturbation steps, conjugate gradients): on
a shared machine, torch's worker threads spin at every one of them. One thread is steadier and as fast."""
import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every evaluate test runs under tests/conftest.py's one_thread."""
