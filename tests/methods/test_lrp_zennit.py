"""LRP against zennit 0.5.1, the LRP library of the rules' authors' group, rule by rule, on the four test models.

zennit imports torchvision for its ResNet canonizer; tests/torchvision_stand_in.py stands in while it imports
(the ResNet blocks as classes nothing is an instance of). Each zennit rule gets pilotlens's stabiliser (epsilon's
own, 1e-9 for the others), average pools zennit's Norm rule with 1e-9, activations its Pass rule; max pools,
dropout and flatten take no rule in either (relevance follows the gradient: a max pool gives it to its arg-max).
The relevance at the output is the explained score in its column, in both.

Where zennit's conventions differ, the case is chosen where they meet, and the difference is shown:
- biases: zennit's gamma adds gamma * max(b, 0) to a layer's bias and its z+ keeps max(b, 0); pilotlens, as
  captum, keeps b (test_lrp.py holds it to captum with biases). The epsilon rule keeps b in both and is
  compared as built; the others are compared with the biases set to zero.
- gamma at a layer whose output is negative: zennit's is the generalised rule (Andeol et al. 2021), which
  amplifies the negative weights there; pilotlens's is the rule as published for positive activations. A
  ReLU's input carries relevance only where it is positive, so this shows only at the last layer: the
  pure gamma rule is compared where every explained output is positive, and a test shows the difference.
"""
import copy

import pytest
import torch
import torchvision_stand_in
from conftest import assert_rel_close, build, captum_forward, explained_columns

import pilotlens
from pilotlens.layout import decide

try:  # zennit imports torchvision for a canonizer these tests do not use
    with torchvision_stand_in.standing_in():
        from zennit.attribution import Gradient
        from zennit.composites import LayerMapComposite, SpecialFirstLayerMapComposite
        from zennit.rules import Epsilon, Flat, Gamma, Norm, Pass, WSquare, ZBox, ZPlus
        from zennit.types import Activation, AvgPool, Convolution, Linear
except ImportError as exc:
    pytest.fail(f"zennit is the oracle here: pip install --no-deps zennit==0.5.1 ({exc})", pytrace=False)

CASES = ["pilotnet", "donkey", "nested", "gap"]
EPS, GAMMA, TINY = 1e-4, 0.25, 1e-9   # TINY: pilotlens's stabiliser of every rule but epsilon


def _zennit(model, x, cols, conv, linear, first=None):
    """zennit's relevance summed over the input's channels, B x H x W."""
    view = captum_forward(copy.deepcopy(model))
    decide(view.model, x)  # the copy runs in the layout pilotlens runs the original in (conftest.Concat)
    rules = [(Activation, Pass()), (AvgPool, Norm(stabilizer=TINY)), (Convolution, conv), (Linear, linear)]
    composite = (SpecialFirstLayerMapComposite(rules, [(Convolution, first)]) if first is not None
                 else LayerMapComposite(rules))
    chosen = torch.zeros(x.shape[0], view(x).shape[1])
    chosen[torch.arange(x.shape[0]), cols] = 1
    with Gradient(model=view, composite=composite) as attributor:
        _, relevance = attributor(x.clone(), lambda output: output * chosen)
    return relevance.sum(dim=1)


def _case(name: str, biases: bool):
    model, x = build(name, batch=2)
    if not biases:
        with torch.no_grad():
            for m in model.modules():
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
    cols = explained_columns(name, model, x)
    with torch.no_grad():
        scores = captum_forward(model)(x)[torch.arange(2), cols]
    return model, x, cols, "class" if name == "gap" else cols[0], scores


@pytest.mark.parametrize("name", CASES)
def test_epsilon_equals_zennit_with_biases(name):
    model, x, cols, target, _ = _case(name, biases=True)
    ours = pilotlens.explain(model, x, "lrp", target=target, rule="epsilon", epsilon=EPS)
    assert_rel_close(ours.raw, _zennit(model, x, cols, Epsilon(EPS), Epsilon(EPS)))


@pytest.mark.parametrize("name", CASES)
def test_zplus_equals_zennit(name):
    model, x, cols, target, _ = _case(name, biases=False)
    ours = pilotlens.explain(model, x, "lrp", target=target, rule="zplus")
    assert_rel_close(ours.raw, _zennit(model, x, cols, ZPlus(stabilizer=TINY), ZPlus(stabilizer=TINY)))


@pytest.mark.parametrize("name", ["donkey", "nested", "gap"])
def test_gamma_equals_zennit_where_the_outputs_are_positive(name):
    model, x, cols, target, scores = _case(name, biases=False)
    assert (scores > 0).all(), "a negative output: zennit's generalised gamma differs there by design"
    ours = pilotlens.explain(model, x, "lrp", target=target, rule="gamma", gamma=GAMMA)
    rule = Gamma(GAMMA, stabilizer=TINY)
    assert_rel_close(ours.raw, _zennit(model, x, cols, rule, rule))


def test_gamma_at_a_negative_output_is_where_zennit_generalises():
    model, x, cols, target, scores = _case("pilotnet", biases=False)
    assert (scores < 0).all()
    ours = pilotlens.explain(model, x, "lrp", target=target, rule="gamma", gamma=GAMMA).raw.double()
    rule = Gamma(GAMMA, stabilizer=TINY)
    theirs = _zennit(model, x, cols, rule, rule).double()
    assert (ours - theirs).abs().max() > 1e-2 * theirs.abs().max()
    # the composite's layers end in the epsilon rule, and there the two agree (test_composite_equals_zennit)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("first", ["zbox", "wsquare", "flat"])
def test_composite_equals_zennit(first, name):
    model, x, cols, target, _ = _case(name, biases=False)
    low, high = float(x.min()), float(x.max())
    ours = pilotlens.explain(model, x, "lrp", target=target, rule="composite", first=first, low=low, high=high,
                             epsilon=EPS, gamma=GAMMA)
    first_rule = {"zbox": ZBox(low, high, stabilizer=TINY), "wsquare": WSquare(stabilizer=TINY),
                  "flat": Flat(stabilizer=TINY)}[first]
    theirs = _zennit(model, x, cols, Gamma(GAMMA, stabilizer=TINY), Epsilon(EPS), first_rule)
    assert_rel_close(ours.raw, theirs)
