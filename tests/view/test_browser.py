"""The viewer in a real browser: Playwright drives Debian's Chromium on the page served on 127.0.0.1.

It scrubs, steps, plays, changes method, layer and target, occludes a region by dragging on the frame,
and checks that the pictures and the steering plot change (image sources and canvas pixels compared
before and after). Needs the `playwright` package and a Chromium (`apt-get install chromium`, which
.ci/run does; never `playwright install`); set PILOTLENS_SCREENSHOT=path.png to keep a screenshot.
"""
from __future__ import annotations

import json
import os
import shutil
import threading

import pytest

CHROMIUM = os.environ.get("PILOTLENS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
TIMEOUT = 60_000  # ms: the machine is shared, a map may take a while


@pytest.fixture(scope="module")
def url(app):
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def page(url):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set PILOTLENS_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            pg.set_default_timeout(TIMEOUT)
            pg.errors, pg.asked = [], []
            pg.on("pageerror", lambda e: pg.errors.append(str(e)))
            pg.on("request", lambda r: pg.asked.append(json.loads(r.post_data))
                  if r.url.endswith("/api/explain") else None)
            pg.goto(url)
            pg.wait_for_selector("body[data-ready='1']")
            yield pg
        finally:
            browser.close()


def snapshot(page) -> dict:
    """What is on screen: the frame's and each map's image source, the plot's pixels, the caption."""
    return page.evaluate("""() => ({
        frame: document.getElementById('frame').src,
        maps: Object.fromEntries([...document.querySelectorAll('#maps img')].map(i => [i.dataset.method, i.src])),
        plot: document.getElementById('timeline').toDataURL(),
        caption: document.getElementById('frame-caption').textContent,
        readout: document.getElementById('readout').textContent,
        error: document.getElementById('error').hidden ? '' : document.getElementById('error').textContent,
    })""")


def wait_change(page, element: str, prop: str, old: str) -> None:
    """Wait until document.getElementById(element)[prop] differs from `old` (the page's CSP forbids eval)."""
    page.wait_for_function("([id, prop, old]) => document.getElementById(id)[prop] !== old", arg=[element, prop, old])


MAP = "(m) => document.querySelector(`#maps img[data-method='${m}']`).src"


def map_src(page, method: str) -> str:
    return page.evaluate(f"({MAP})('{method}')")


def wait_map_change(page, method: str, old: str) -> None:
    page.wait_for_function(f"([m, old]) => ({MAP})(m) && ({MAP})(m) !== old", arg=[method, old])


def test_scrub_step_and_play_change_the_frame_maps_and_plot(page, viewer):
    before = snapshot(page)
    assert before["frame"].startswith("data:image/png") and set(before["maps"]) == {"visual_backprop", "grad_cam"}
    assert not before["error"]
    page.evaluate("() => { const s = document.getElementById('scrub'); s.value = 10;"
                  " s.dispatchEvent(new Event('input')); }")
    wait_change(page, "frame-caption", "textContent", before["caption"])
    after = snapshot(page)
    assert after["caption"].startswith(f"frame {viewer.drive.frame(10).index} ")
    assert after["frame"] != before["frame"]
    assert all(after["maps"][m] != before["maps"][m] for m in before["maps"])
    assert after["plot"] != before["plot"]  # the cursor moved

    page.click("#next")
    wait_change(page, "frame-caption", "textContent", after["caption"])
    assert snapshot(page)["caption"].startswith("frame 11 ")

    page.asked.clear()
    page.click("#play")
    page.wait_for_function("() => document.getElementById('frame-caption').textContent.startsWith('frame 14 ')")
    page.click("#play")  # pause
    assert page.evaluate("() => document.getElementById('play').textContent") == "\u25b6"
    assert max(len(a["positions"]) for a in page.asked) > 1, page.asked  # playing prefetches frames in batches


def test_disagreement_jump(page, viewer):
    page.click("#disagree")
    worst = viewer.drive.disagreements()[0]
    page.wait_for_function(f"() => document.getElementById('frame-caption').textContent.startsWith('frame {worst} ')")


def test_changing_method_layer_and_target_changes_the_maps(page):
    old = snapshot(page)
    page.uncheck("#methods input[value='visual_backprop']")
    page.check("#methods input[value='gradient']")
    page.wait_for_function(f"() => ({MAP})('gradient') && ({MAP})('gradient').startsWith('data:image/png')")
    assert set(snapshot(page)["maps"]) == {"grad_cam", "gradient"}

    grad_cam = map_src(page, "grad_cam")
    assert grad_cam == old["maps"]["grad_cam"]  # the same frame and settings come from the page's cache
    page.select_option("#layer", "features.conv3")
    wait_map_change(page, "grad_cam", grad_cam)

    grad_cam = map_src(page, "grad_cam")
    page.select_option("#target", "left")
    wait_map_change(page, "grad_cam", grad_cam)

    grad_cam = map_src(page, "grad_cam")
    page.select_option("#view", "focus")
    wait_map_change(page, "grad_cam", grad_cam)
    assert not snapshot(page)["error"]
    # the legend names the percentile the drawing really clips at
    from pilotlens.render.scale import CLIP
    note = page.text_content("#legend-note")
    assert f"full colour at the {CLIP:g}th percentile of |value| (the top {100 - CLIP:g} % saturate)" in note, note


def test_a_bad_choice_is_shown_in_the_page(page):
    page.select_option("#layer", "head.fc1")  # not a spatial layer: grad_cam cannot use it
    page.wait_for_selector("#error:not([hidden])")
    assert "spatial" in snapshot(page)["error"]
    page.select_option("#layer", "features.conv4")
    page.wait_for_selector("#error", state="hidden")


def test_dragging_a_box_on_the_frame_occludes_it_and_plots_the_new_steering(page, viewer):
    before = snapshot(page)
    box = page.locator("#frame-draw").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.55)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.95, steps=5)
    page.mouse.up()
    page.wait_for_function("() => document.getElementById('readout').textContent.includes('region hidden')")
    after = snapshot(page)
    assert after["frame"] != before["frame"]
    assert after["maps"]["grad_cam"] != before["maps"]["grad_cam"]
    assert after["plot"] != before["plot"]  # the occluded prediction's marker
    assert "angle" in after["readout"] and not after["error"]
    page.click("#clear-occlusion")
    wait_change(page, "frame", "src", after["frame"])
    assert snapshot(page)["frame"] == before["frame"]


def test_export_downloads_a_png_and_an_mp4(page):
    with page.expect_download() as png:
        page.click("#export-png")
    assert open(png.value.path(), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    page.fill("#export-start", "2")
    page.fill("#export-end", "6")
    with page.expect_download() as mp4:
        page.click("#export-mp4")
    assert open(mp4.value.path(), "rb").read(12)[4:8] == b"ftyp"
    assert mp4.value.suggested_filename == "pilotlens-2-6.mp4"


def test_inside_the_network_shows_trained_and_untrained_grids(page):
    page.select_option("#layer", "features.relu2")
    page.click("#inside summary")
    for img in ("feat-trained", "feat-untrained", "filt-trained", "filt-untrained"):
        page.wait_for_function(f"() => document.getElementById('{img}').naturalWidth > 0")
    srcs = page.evaluate("() => ['feat-trained', 'feat-untrained'].map(i => document.getElementById(i).src)")
    assert srcs[0] != srcs[1]
    page.wait_for_timeout(300)
    shot = os.environ.get("PILOTLENS_SCREENSHOT")
    if shot:
        page.screenshot(path=shot, full_page=True)
    assert not page.errors, page.errors


# -- without a browser: what the server draws ----------------------------------------------------
def test_the_viewer_writes_no_evidence_on_an_empty_map(viewer, monkeypatch):
    """An all-zero map comes back from the viewer with "no evidence" written across it."""
    import base64

    import cv2
    import numpy as np

    from pilotlens.render.views import draw
    from pilotlens.view.settings import Settings

    def decode(url):
        data = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)

    frame = viewer.drive.frame(3)
    settings = Settings(methods=["gradient"])
    real = viewer.explain_frames([frame], settings, "gradient")
    monkeypatch.setattr(viewer, "explain_frames", lambda frames, s, m: np.zeros_like(real))
    empty = decode(viewer.explain_live(frame, settings)["maps"]["gradient"])
    # the same view drawn by the pure render function, which writes no words
    plain = draw(settings.view, frame.image, np.zeros(frame.image.shape[:2], np.float32),
                 **({"colormap": settings.colormap, "alpha": settings.alpha} if settings.view == "overlay" else {}))
    text = np.abs(empty.astype(int) - plain.astype(int)).max(axis=2) > 60
    assert empty.shape == frame.image.shape and text.sum() > 40        # the words, bright on a dark band
    rows = np.nonzero(text.any(axis=1))[0]
    assert rows.min() > 10 and rows.max() < frame.image.shape[0] - 10  # across the middle of the panel
