import pytest
import torch
from captum.attr import IntegratedGradients as CaptumIG
from conftest import assert_rel_close, build, captum_forward, explained_columns

import pilotlens


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_middle", "riemann_trapezoid"])
def test_integrated_gradients_match_captum(case, rule):
    name, model, x = case
    cols = explained_columns(name, model, x)
    ig = CaptumIG(captum_forward(model))
    steps = 16
    ref = ig.attribute(x.clone(), baselines=0.1, target=cols, n_steps=steps, method=rule).sum(dim=1)
    if rule == "riemann_trapezoid":
        # captum weights the trapezoid's steps 1/n instead of 1/(n - 1) (its weights sum to (n-1)/n);
        # pilotlens uses the textbook rule, so the two differ by exactly that factor
        ref = ref * steps / (steps - 1)
    sal = pilotlens.explain(model, x, "integrated_gradients", target=None if name == "gap" else cols[0],
                            steps=steps, baseline=0.1, rule=rule)
    assert_rel_close(sal.raw, ref)


def test_completeness_attributions_sum_to_the_output_change():
    # the IG axiom: sum of attributions = f(x) - f(baseline), to quadrature accuracy
    model, x = build("pilotnet", batch=2)
    sal = pilotlens.explain(model, x, "integrated_gradients", target=0, steps=200)
    change = model(x)[:, 0] - model(torch.zeros_like(x))[:, 0]
    assert torch.allclose(sal.raw.sum(dim=(1, 2)), change.detach(), rtol=1e-2, atol=1e-4)


def test_baseline_equal_to_the_input_gives_zeros():
    model, _ = build("pilotnet", batch=1)
    x = torch.full((1, 3, 66, 200), 0.3)
    sal = pilotlens.explain(model, x, "integrated_gradients", baseline=0.3, steps=4)
    assert torch.count_nonzero(sal.raw) == 0 and torch.count_nonzero(sal.maps) == 0


def test_unknown_rule_is_named():
    model, _ = build("pilotnet", batch=1)
    with pytest.raises(ValueError, match="gausslegendre"):
        pilotlens.explainer(model, "integrated_gradients", rule="simpson")
