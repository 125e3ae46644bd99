"""The evaluate tests run many small tensor operations (perturbation steps, conjugate gradients): on
a shared machine, torch's worker threads spin at every one of them. One thread is steadier and as fast."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
