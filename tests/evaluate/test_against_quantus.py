"""pilotlens's metrics against Quantus (the reference library for them, as captum is for the methods),
on the same model, inputs and maps.

A one-channel model, so that a pixel (what pilotlens removes) is a feature (what Quantus removes).
Quantus's AUC helper calls np.trapz, gone from numpy 2.4: the `quantus` fixture puts it back for these
tests only.
"""
import copy

import numpy as np
import pytest
import torch
from torch import nn

import pilotlens
from pilotlens.evaluate import (deletion, faithfulness_correlation, linear_impute, parameter_layers, pointing_game,
                                sanity_check)
from pilotlens.evaluate._common import pixel_ranks
from pilotlens.evaluate.sanity import randomize_layer

H = W = 16
B = 4


@pytest.fixture(scope="module")
def quantus():
    try:
        import quantus as q
    except ImportError:   # the test command installs it (pip install --no-deps quantus): its absence is a failure
        pytest.fail("Quantus is the oracle for these metrics: pip install --no-deps quantus==0.6.0")
    patched = not hasattr(np, "trapz")
    if patched:
        np.trapz = np.trapezoid
    yield q
    if patched:
        del np.trapz


def regressor(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * (H // 2) * (W // 2), 8), nn.ReLU(), nn.Linear(8, 1)).eval()


def inputs(seed: int = 0) -> torch.Tensor:
    """Images in [0, 1] whose minimum is exactly 0 (Quantus's "black" baseline is the image's minimum)."""
    x = torch.rand(B, 1, H, W, generator=torch.Generator().manual_seed(seed))
    x[:, :, 0, 0] = 0
    return x


def maps(seed: int = 1) -> torch.Tensor:
    """Continuous random maps: no ties, so both libraries order the pixels the same way."""
    return torch.rand(B, H, W, generator=torch.Generator().manual_seed(seed))


def test_deletion_equals_pixel_flipping(quantus):
    model, x, m = regressor(), inputs(), maps()
    ours = deletion(model, x, m, target=0, steps=16, baseline="zeros")
    pf = quantus.PixelFlipping(features_in_step=H * W // 16, perturb_baseline="black", normalise=False, abs=False,
                               disable_warnings=True)
    ref = np.asarray(pf(model=model, x_batch=x.numpy(), y_batch=np.zeros(B, dtype=int), a_batch=m[:, None].numpy(),
                        device="cpu", softmax=False))
    # Quantus's curve is the raw output after each step; pilotlens's raw values also hold the clean start
    assert ref.shape == (B, 16)
    np.testing.assert_allclose(ours.values[:, 1:].numpy(), ref, rtol=0, atol=1e-6)


def test_road_imputation_equals_quantus(quantus):
    from quantus.functions.perturb_func import noisy_linear_imputation

    x = inputs().double()
    ranks = pixel_ranks(maps(), torch.Generator().manual_seed(0))
    worst = 0.0
    for f in (0.1, 0.5, 0.9):
        removed = (ranks < int(f * H * W)).view(B, H, W)
        ours = linear_impute(x, removed)
        for i in range(B):
            idx = np.flatnonzero(removed[i].numpy().reshape(-1))
            ref = noisy_linear_imputation(x[i].numpy(), indices=idx, noise=0.0)
            worst = max(worst, float(np.abs(ours[i].numpy() - ref).max()))
    assert worst < 1e-10
    # a float32 input: solved in float64 all the same, so Quantus's answer rounded to float32
    removed = (ranks < int(0.7 * H * W)).view(B, H, W)
    ref = np.stack([noisy_linear_imputation(x[i].numpy(), indices=np.flatnonzero(removed[i].numpy()), noise=0.0)
                    for i in range(B)])
    np.testing.assert_allclose(linear_impute(x.float(), removed).numpy(), ref.astype(np.float32), rtol=1e-6, atol=1e-7)


def test_cascading_randomisation_equals_mprt_on_the_same_models(quantus, monkeypatch):
    model, x = regressor(), inputs()
    ours_seed = 3
    names = parameter_layers(model, (1, H, W))

    def ours_twins(self, order="top_down", seed=42):  # noqa: ARG001 (Quantus's own seed is not used)     # Quantus walks pilotlens's randomised models
        twin = copy.deepcopy(self.model)
        for name in names[::-1]:
            randomize_layer(twin, name, ours_seed)
            yield name, twin

    from quantus.helpers.model.pytorch_model import PyTorchModel
    monkeypatch.setattr(PyTorchModel, "get_random_layer_generator", ours_twins)

    def explain(model, inputs, targets, **kwargs):
        return pilotlens.explain(model, torch.as_tensor(inputs), "gradient", target=0).maps[:, None].numpy()

    clean = explain(model, x.numpy(), None)
    mprt = quantus.MPRT(layer_order="top_down", disable_warnings=True)
    ref = mprt(model=model, x_batch=x.numpy(), y_batch=np.zeros(B, dtype=int), a_batch=clean, explain_func=explain,
               device="cpu", softmax=False)
    ours = sanity_check(model, x, "gradient", target=0, seed=ours_seed)
    assert ours.stages[0] == names[-1] and len(ours.stages) == len(names)
    for i, name in enumerate(names[::-1]):
        np.testing.assert_allclose(ours.spearman[i].numpy(), np.asarray(ref[name]), rtol=0, atol=1e-6)


def test_pointing_game_equals_quantus(quantus):
    model, x, m = regressor(), inputs(), maps()
    masks = torch.zeros(B, H, W)
    masks[:, :, : W // 2] = 1                 # the left half: some maxima fall in it, some do not
    masks[1] = 0
    masks[1, 3:9, 10:14] = 1
    pg = quantus.PointingGame(disable_warnings=True)
    ref = pg(model=model, x_batch=x.numpy(), y_batch=np.zeros(B, dtype=int), a_batch=m[:, None].numpy(),
             s_batch=masks[:, None].numpy(), device="cpu")
    ours = pointing_game(m, masks, tolerance=0)   # Quantus has no tolerance; one maximum per map here
    np.testing.assert_array_equal(ours.numpy(), np.asarray(ref, dtype=np.float32))


def test_faithfulness_correlation_equals_quantus_on_the_same_subsets(quantus):
    from quantus.functions.perturb_func import batch_baseline_replacement_by_indices

    model, x, m = regressor(), inputs(), maps()
    runs, k = 12, 20
    drawn = []

    def recording(arr, indices, **kwargs):      # Quantus's own perturbation, its subsets kept
        drawn.append(np.asarray(indices).copy())
        return batch_baseline_replacement_by_indices(arr=arr, indices=indices, **kwargs)

    np.random.seed(5)
    fc = quantus.FaithfulnessCorrelation(nr_runs=runs, subset_size=k, perturb_func=recording, perturb_baseline="black",
                                         normalise=False, abs=False, return_aggregate=False, disable_warnings=True)
    ref = fc(model=model, x_batch=x.numpy(), y_batch=np.zeros(B, dtype=int), a_batch=m[:, None].numpy(), device="cpu",
             softmax=False)
    subsets = torch.from_numpy(np.stack(drawn))
    assert subsets.shape == (runs, B, k)
    ours = faithfulness_correlation(model, x, m, target=0, subsets=subsets, baseline="zeros")
    np.testing.assert_allclose(ours.score.numpy(), np.asarray(ref), rtol=0, atol=1e-5)
