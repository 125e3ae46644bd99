from conftest import assert_rel_close, build

import pilotlens


def test_guided_grad_cam_is_guided_backprop_times_grad_cam():
    model, x = build("donkey", batch=2)
    both = pilotlens.explain(model, x, "guided_grad_cam", target=1, layer="features.6")
    guided = pilotlens.explain(model, x, "guided_backprop", target=1).raw
    cam = pilotlens.explain(model, x, "grad_cam", target=1, layer="features.6").raw
    assert_rel_close(both.raw, guided * cam)
