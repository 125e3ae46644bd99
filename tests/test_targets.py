import pytest
import torch

from pilotlens.targets import Class, Index, Steering, Sum, default_target, parse_target, score


def test_index_class_and_sum():
    out = torch.tensor([[1., 5., 2.], [7., 0., 3.]])
    assert torch.equal(Index(2)(out), torch.tensor([2., 3.]))
    assert torch.equal(Class()(out), torch.tensor([5., 7.]))
    assert torch.equal(Class(0)(out), torch.tensor([1., 7.]))
    assert torch.equal(Sum()(out), torch.tensor([8., 10.]))


def test_default_is_the_single_output_or_the_argmax_class():
    assert repr(default_target(torch.zeros(2, 1))) == "index 0"
    assert repr(default_target(torch.zeros(2, 4))) == "class argmax"


def test_steering_sides_and_a_finite_centre_score():
    a = torch.tensor([[0.5], [-0.4], [0.01], [0.0]])
    s = Steering(threshold=0.1)(a)
    assert torch.equal(s, torch.tensor([0.5, 0.4, -0.01, 0.0]))
    # the centre score grows toward 0 and is finite there
    centre = Steering(mode="centre")
    vals = centre(torch.tensor([[0.3], [0.1], [0.0], [-0.1]]))
    assert vals[0] < vals[1] < vals[2] and vals[2] == 0 and torch.isfinite(vals).all()


def test_steering_gradients_point_the_right_way():
    a = torch.tensor([[0.5], [-0.4], [0.02]], requires_grad=True)
    (g,) = torch.autograd.grad(Steering(0.1)(a).sum(), a)
    # right: d/da = +1; left: d/da = -1; centre (a > 0): pull back toward 0, -1
    assert torch.equal(g[:, 0], torch.tensor([1., -1., -1.]))


def test_fix_freezes_the_choice_on_the_clean_output():
    clean = torch.tensor([[0.5], [-0.5]])
    fixed = Steering(0.1).fix(clean)
    moved = torch.tensor([[-0.5], [0.5]])           # a perturbed input flipped both predictions
    assert torch.equal(fixed(moved), torch.tensor([-0.5, -0.5]))
    cls = Class().fix(torch.tensor([[0., 1.], [1., 0.]]))
    assert torch.equal(cls(torch.tensor([[5., 0.], [0., 5.]])), torch.tensor([0., 0.]))
    assert torch.equal(cls.select(torch.tensor([1]))(torch.tensor([[3., 4.]])), torch.tensor([3.]))


@pytest.mark.parametrize("spec,label", [(1, "index 1"), ("2", "index 2"), ("sum", "sum"), ("class", "class argmax"),
                                        ("class:3", "class 3"), ("steering:0.2", "steering(0.2)"),
                                        ("left", "steering(left)"), (None, None)])
def test_parse_target(spec, label):
    t = parse_target(spec)
    assert (t is None and label is None) or repr(t) == label


def test_bad_targets_are_explained():
    with pytest.raises(ValueError, match="steering"):
        parse_target("angle-ish")
    with pytest.raises(ValueError, match=r"index takes an output number \(e.g. index:2\), got 'abc'"):
        parse_target("index:abc")
    with pytest.raises(ValueError, match=r"class takes a class number \(e.g. class:3\).*got '1.5'"):
        parse_target("class:1.5")
    with pytest.raises(ValueError, match="out of range"):
        Index(3)(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="one score per image"):
        score(lambda out: out.sum(), torch.zeros(2, 1))
