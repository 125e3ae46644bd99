"""An explanation leaves the model as it found it: no hooks, same mode, parameters and flags; no leaks."""
import gc
import resource

import pytest
import torch
from conftest import build
from test_explain import ALL, FAST_OPTIONS, _case_for

import pilotlens


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in model.modules())


def _snapshot(model):
    return ([(n, p.detach().clone(), p.requires_grad) for n, p in model.named_parameters()],
            [m.training for m in model.modules()],
            [(n, b.clone()) for n, b in model.named_buffers()])


def _same(a, b):
    (pa, ta, ba), (pb, tb, bb) = a, b
    return (ta == tb and all(n1 == n2 and torch.equal(v1, v2) and r1 == r2 for (n1, v1, r1), (n2, v2, r2) in zip(pa, pb))
            and all(torch.equal(v1, v2) for (_, v1), (_, v2) in zip(ba, bb)))


@pytest.mark.parametrize("method", ALL)
def test_after_a_call_nothing_remains_and_nothing_changed(method):
    model, x = build(_case_for(method), batch=2)
    model.train()                       # a model left in training mode stays there
    next(model.parameters()).requires_grad_(False)  # and a frozen layer stays frozen
    before = _snapshot(model)
    pilotlens.explain(model, x, method, **FAST_OPTIONS.get(method, {}))
    assert _hook_count(model) == 0
    assert _same(before, _snapshot(model))
    assert all(p.grad is None for p in model.parameters())


def test_batchnorm_statistics_are_untouched_even_for_a_training_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.LazyLinear(1))
    x = torch.rand(2, 3, 8, 8)
    model(x)
    model.train()
    before = _snapshot(model)
    pilotlens.explain(model, x, "grad_cam")
    assert _same(before, _snapshot(model)) and model.training


@pytest.mark.parametrize("method", ["grad_cam", "guided_backprop", "guided_grad_cam", "smoothgrad", "occlusion", "cam"])
def test_an_exception_inside_a_call_leaves_no_hook(method):
    model, x = build("pilotnet", batch=2)

    def explode(output):
        raise RuntimeError("boom")
    if method == "cam":
        model, x = build("gap", batch=2)
    with pytest.raises(RuntimeError, match="boom"):
        pilotlens.explain(model, x, method, target=explode, **FAST_OPTIONS.get(method, {}))
    assert _hook_count(model) == 0 and not model.training


def test_an_exception_in_the_model_leaves_no_hook():
    model, _ = build("pilotnet", batch=1)
    with pytest.raises(ValueError):
        pilotlens.explain(model, torch.rand(1, 3, 10, 10), "visual_backprop")
    assert _hook_count(model) == 0


def test_closing_an_explainer_leaves_no_hook():
    model, x = build("pilotnet", batch=1)
    with pilotlens.explainer(model, "guided_grad_cam") as ex:
        ex(x)
        assert _hook_count(model) == 0
    assert _hook_count(model) == 0


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


@pytest.mark.parametrize("method", ["grad_cam", "gradient", "visual_backprop"])
def test_a_thousand_calls_do_not_grow_memory(method):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 8, 3), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(8 * 12 * 12, 1)).eval()
    x = torch.rand(2, 3, 16, 16)
    with pilotlens.explainer(model, method) as ex:
        for _ in range(200):   # warm up allocator caches
            ex(x)
        gc.collect()
        start = _rss_mb()
        kept = [ex(x).maps.sum().item() for _ in range(1000)]
        gc.collect()
        grown = _rss_mb() - start
    assert len(kept) == 1000
    assert grown < 20, f"{method}: resident memory grew {grown:.1f} MB over 1000 calls"
