"""A panel whose map is all zero says so in words: "no evidence for steering right at conv5"."""
import numpy as np
import pytest

from pilotlens.data.frame import Frame
from pilotlens.render.look import Look
from pilotlens.render.notice import no_evidence_text, stamp, target_words
from pilotlens.render.panels import TEXT_COLOR


def _text_pixels(img):
    """Pixels in the (near-white) text colour: the words drawn on a panel."""
    return int((np.abs(img.astype(int) - np.array(TEXT_COLOR)).max(axis=2) < 40).sum())


@pytest.mark.parametrize("target, angle, words", [
    ("steering(0.05)", 0.2, "steering right"),
    ("steering(0.05)", -0.2, "steering left"),
    ("steering(0.05)", 0.01, "keeping the centre"),
    ("steering(left)", 0.3, "steering left"),
    ("class 3", 0.0, "class 3"),
    ("", None, ""),
])
def test_the_target_in_words_follows_the_side_each_image_explains(target, angle, words):
    assert target_words(target, {} if angle is None else {"angle": angle}) == words


def test_the_notice_names_what_is_known():
    assert no_evidence_text("steering(0.05)", {"angle": 0.3}, "conv5") == "no evidence for steering right at conv5"
    assert no_evidence_text("class argmax") == "no evidence for class argmax"
    assert no_evidence_text() == "no evidence"


@pytest.mark.parametrize("view", ["overlay", "saliency", "focus", "mask"])
@pytest.mark.parametrize("signed", [False, True])
def test_an_empty_panel_carries_words_and_a_live_one_does_not(view, signed):
    frame = Frame(np.full((120, 160, 3), 60, np.uint8), 3, labels={"angle": 0.2})
    empty = np.zeros((120, 160), np.float32)
    faint = empty.copy()
    faint[0, 0] = 1e-3          # one tiny value in a corner: not empty, and no text
    look = Look(view=view, legend=False, gauge=False)
    kw = dict(prediction={"angle": 0.2}, signed={"m": signed}, target="steering(0.05)", layers={"m": "conv5"})
    with_words = look.compose(frame, {"m": empty}, **kw)
    without = look.compose(frame, {"m": faint}, **kw)
    body = slice(with_words.shape[0] // 3, None)     # below the title bars
    half = with_words.shape[1] // 2                   # the map's panel, right of the input
    assert _text_pixels(with_words[body, half:]) > 150
    assert _text_pixels(without[body, half:]) < 5
    assert _text_pixels(with_words[body, :half]) == _text_pixels(without[body, :half])  # the input untouched


def test_stamp_fits_long_words_on_small_images():
    img = np.zeros((40, 60, 3), np.uint8)
    out = stamp(img, "no evidence for steering right at features.conv5", 1)
    assert out.shape == img.shape and int((out.max(axis=2) > 60).sum()) > 50   # grey text on black


def test_the_words_are_on_the_png_that_explain_writes(tmp_path):
    import cv2

    from pilotlens.figures import explain_to_pngs
    from pilotlens.models.pilot import Pilot
    from pilotlens.data.synthetic import SyntheticSource

    pilot = Pilot.load("pilotnet")
    frames = list(SyntheticSource(seed=1, frames=2))
    # "grad_cam" for a side the frame does not steer to: find one whose map is empty, else skip
    paths = explain_to_pngs(pilot, frames, tmp_path / "a", ["grad_cam"], target="left", look=Look(legend=False))
    paths += explain_to_pngs(pilot, frames, tmp_path / "b", ["grad_cam"], target="right", look=Look(legend=False))
    from pilotlens.frame_explainer import FrameExplainer
    empties = []
    for side, folder in (("left", "a"), ("right", "b")):
        with FrameExplainer(pilot, ["grad_cam"], target=side) as fx:
            r = fx(frames)
        empties += [(folder, i, side) for i in range(len(frames)) if not np.any(r.maps["grad_cam"][i])]
    if not empties:
        pytest.skip("no empty grad_cam map among these frames")
    folder, i, side = empties[0]
    png = cv2.cvtColor(cv2.imread(str(sorted((tmp_path / folder).iterdir())[i])), cv2.COLOR_BGR2RGB)
    half = png.shape[1] // 2
    assert _text_pixels(png[30:, half:]) > 150
