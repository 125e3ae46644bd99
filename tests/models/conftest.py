import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These models are tiny: on shared cores, torch's intra-op threads cost far more than they give
    (a PilotNet forward pass ran ~30x slower with 2 threads than with 1 on the CI box)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
