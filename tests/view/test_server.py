"""The viewer's routes through Flask's test client: answers checked against the library computed directly,
and every way out of the given model and input refused with a JSON error."""
from __future__ import annotations

import base64
import io

import av
import cv2
import numpy as np
import pytest

from pilotlens.render.notice import no_evidence_text

from pilotlens.data import open_source
from pilotlens.layers import trace
from pilotlens.methods import REGISTRY
from pilotlens.frame_explainer import FrameExplainer
from pilotlens.render.look import Look

from .conftest import FRAMES

SETTINGS = {"methods": ["visual_backprop", "grad_cam"]}


def decode(data: bytes | str) -> np.ndarray:
    """PNG bytes or a data URL -> uint8 RGB."""
    if isinstance(data, str):
        data = base64.b64decode(data.split(",", 1)[1])
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a PNG"
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def assert_json_error(resp, status: int, *words: str) -> str:
    assert resp.status_code == status, (resp.status_code, resp.data[:200])
    assert resp.is_json, resp.data[:200]
    message = resp.get_json()["error"]
    assert "Traceback" not in message and 'File "' not in message
    for w in words:
        assert w in message, message
    return message


# -- what the page is told ------------------------------------------------------------------------
def test_info_lists_the_model_layers_methods_and_drive(client, viewer):
    info = client.get("/api/info").get_json()
    assert sorted(info["methods"]) == sorted(REGISTRY)
    from pilotlens.render.scale import CLIP
    assert info["clip"] == CLIP                      # what the legend names: the drawing's own percentile
    traced = trace(viewer.pilot.model, (3, 66, 200))
    assert [(l["name"], tuple(l["shape"])) for l in info["layers"]] == [(l.name, l.output_shape) for l in traced]
    drive = info["drive"]
    assert drive["frames"] == FRAMES and drive["fps"] == 20.0
    src = list(open_source("synthetic", frames=FRAMES))
    assert drive["recorded"]["angle"] == pytest.approx([f.labels["angle"] for f in src])
    predicted = viewer.pilot.predict(src)["angle"]
    assert drive["predicted"]["angle"] == pytest.approx(predicted.tolist(), abs=1e-5)
    gaps = np.abs(predicted - np.array([f.labels["angle"] for f in src]))
    assert drive["disagreements"][0] == int(np.argmax(gaps))
    assert [gaps[i] for i in drive["disagreements"]] == sorted(gaps, reverse=True)[:len(drive["disagreements"])]


# -- a scrub step ---------------------------------------------------------------------------------
def test_explain_draws_the_library_maps_on_the_frame(client, viewer):
    settings = {**SETTINGS, "view": "overlay", "colormap": "jet", "alpha": 0.6, "target": "left"}
    resp = client.post("/api/explain", json={"positions": [5], "settings": settings})
    assert resp.status_code == 200, resp.data
    result = resp.get_json()["results"][0]
    frame = viewer.drive.frame(5)
    np.testing.assert_array_equal(decode(result["frame"]), frame.image)
    fx = FrameExplainer(viewer.pilot, ["visual_backprop", "grad_cam"], target="left")
    result_ = fx([frame])
    maps, preds = result_.maps, result_.predictions
    look = Look(view="overlay", colormap="jet", alpha=0.6)
    for m in ("visual_backprop", "grad_cam"):
        note = no_evidence_text(result_.target, result_.prediction(0), result_.layers[m])  # said on an empty map
        expected = look.draw(frame.image, maps[m][0], result_.signed[m], note=note)
        got = decode(result["maps"][m]).astype(int)
        assert np.abs(got - expected.astype(int)).max() <= 1, m  # float rounding of the map, at most 1 level
    assert result["predicted"]["angle"] == pytest.approx(float(preds["angle"][0]), abs=1e-5)
    assert result["recorded"]["angle"] == pytest.approx(frame.labels["angle"])


def test_a_batch_gives_the_maps_of_single_frames_and_fills_the_cache(client, viewer):
    settings = {"methods": ["grad_cam"], "layer": "features.conv4"}
    batch = client.post("/api/explain", json={"positions": [8, 9, 10, 11], "settings": settings}).get_json()["results"]
    hits = viewer.cache.hits
    again = client.post("/api/explain", json={"positions": [10], "settings": settings}).get_json()["results"][0]
    assert viewer.cache.hits == hits + 1
    assert again["maps"] == batch[2]["maps"]
    fx = FrameExplainer(viewer.pilot, ["grad_cam"], layer="features.conv4")
    single = fx([viewer.drive.frame(10)]).maps["grad_cam"][0]
    cached = viewer.cache.get((10, viewer.settings(settings).key("grad_cam")))
    np.testing.assert_allclose(cached, single, atol=1e-5)


def test_changing_method_layer_or_target_changes_the_map(client):
    def grad_cam(**extra):
        body = {"positions": [3], "settings": {"methods": ["grad_cam"], **extra}}
        return client.post("/api/explain", json=body).get_json()["results"][0]["maps"]["grad_cam"]
    base = grad_cam()
    assert grad_cam(layer="features.conv3") != base
    assert grad_cam(target="right") != grad_cam(target="left")
    assert grad_cam(view="saliency") != base

    def activation(**options):
        body = {"positions": [3], "settings": {"methods": ["activation"], "options": {"activation": options}}}
        return client.post("/api/explain", json=body).get_json()["results"][0]["maps"]["activation"]
    assert activation(threshold="0.5") != activation()  # an option reaches the method


def test_cache_is_bounded():
    from pilotlens.view.app import MapCache
    cache = MapCache(max_bytes=3 * 400)
    for i in range(5):
        cache.put((i,), np.zeros(100, np.float32))
    assert len(cache) == 3 and cache.get((0,)) is None and cache.get((4,)) is not None


# -- ask the model --------------------------------------------------------------------------------
def test_occlusion_fills_the_box_and_reports_the_models_new_steering(client, viewer):
    resp = client.post("/api/occlude", json={"position": 7, "box": [100, 130, 20, 60], "fill": "mean",
                                             "settings": SETTINGS})
    assert resp.status_code == 200, resp.data
    answer = resp.get_json()
    assert answer["box"] == [20, 60, 100, 120]  # sorted and clipped to the 160x120 frame
    frame = viewer.drive.frame(7).image
    shown = decode(answer["frame"])
    mean = np.rint(frame.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
    assert (shown[60:120, 20:100] == mean).all()
    outside = np.ones(frame.shape[:2], bool)
    outside[60:120, 20:100] = False
    np.testing.assert_array_equal(shown[outside], frame[outside])
    after = float(viewer.pilot.predict([shown])["angle"][0])
    before = float(viewer.pilot.predict([frame])["angle"][0])
    assert answer["after"]["angle"] == pytest.approx(after, abs=1e-5)
    assert answer["change"]["angle"] == pytest.approx(after - before, abs=1e-5)
    assert set(answer["maps"]) == set(SETTINGS["methods"])


def test_occlusion_with_blur_and_bad_boxes(client):
    ok = client.post("/api/occlude", json={"position": 1, "box": [0, 0, 40, 40], "fill": "blur"})
    assert ok.status_code == 200
    assert_json_error(client.post("/api/occlude", json={"position": 1, "box": [5, 5, 5, 9]}), 400, "covers no pixel")
    assert_json_error(client.post("/api/occlude", json={"position": 1, "box": "all"}), 400, "four numbers")
    assert_json_error(client.post("/api/occlude", json={"position": 1, "box": [0, 0, 9, 9], "fill": "paint"}), 400, "fill")


# -- inside the network ---------------------------------------------------------------------------
def test_features_and_filters_trained_and_untrained(client):
    trained = client.get("/api/features.png?position=2&layer=features.relu2&model=trained")
    untrained = client.get("/api/features.png?position=2&layer=features.relu2&model=untrained")
    assert trained.status_code == untrained.status_code == 200
    assert trained.data != untrained.data and decode(trained.data).shape == decode(untrained.data).shape
    f = client.get("/api/filters.png?layer=features.relu2")
    assert f.status_code == 200 and f.headers["X-Layer"] == "features.conv2"
    assert_json_error(client.get("/api/features.png?position=2&layer=head.fc1"), 400, "no spatial feature maps")
    assert_json_error(client.get("/api/features.png?position=2&model=random"), 400, "trained")


# -- export ---------------------------------------------------------------------------------------
def test_export_png_is_the_composed_view(client, viewer):
    resp = client.post("/api/export.png", json={"position": 4, "settings": SETTINGS})
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    image = decode(resp.data)
    h, w = viewer.drive.frame(4).image.shape[:2]
    assert image.shape[1] == 3 * 2 * w and image.shape[0] > 2 * h  # input + two maps at scale 2, titles above


def test_export_mp4_holds_the_range(client):
    resp = client.post("/api/export.mp4", json={"start": 3, "end": 9, "settings": {"methods": ["visual_backprop"]}})
    assert resp.status_code == 200, resp.data[:200]
    with av.open(io.BytesIO(resp.data)) as container:
        frames = sum(1 for _ in container.decode(video=0))
        assert container.streams.video[0].codec_context.name == "h264"
    assert frames == 6
    assert_json_error(client.post("/api/export.mp4", json={"start": 5, "end": 5}), 400, "frame range")
    assert_json_error(client.post("/api/export.mp4", json={"start": 0, "end": FRAMES + 1}), 400, "frame range")


# -- bad requests: a clear JSON message, never a stack trace ------------------------------------
@pytest.mark.parametrize("settings, words", [
    ({"methods": ["no_such_method"]}, ("unknown method", "no_such_method")),
    ({"methods": "grad_cam", "layer": "features.conv9"}, ("no layer named", "features.conv9")),
    ({"methods": ["grad_cam"], "layer": "head.fc1"}, ("spatial",)),
    ({"target": "upwards"}, ("unknown target", "upwards")),
    ({"methods": ["grad_cam"], "target": "index:7"}, ("out of range",)),
    ({"view": "xray"}, ("unknown view",)),
    ({"colormap": "rainbow"}, ("unknown colormap",)),
    ({"alpha": 3}, ("alpha",)),
    ({"methods": ["occlusion"], "options": {"occlusion": {"windows": "3"}}}, ("unknown option", "windows")),
    ({"methods": ["grad_cam"] * 2 + ["gradient", "cam", "activation"]}, ("at most",)),
    ({"layer": "x" * 200}, ("longer than",)),
    ({"shell": "rm -rf"}, ("unknown setting",)),
])
def test_bad_settings_get_a_clear_error(client, settings, words):
    resp = client.post("/api/explain", json={"positions": [0], "settings": settings})
    assert_json_error(resp, 400, *words)


@pytest.mark.parametrize("positions", [[FRAMES], [-1], [True], ["3"], [0.5], list(range(17)), []])
def test_frames_only_by_position_in_range(client, positions):
    assert_json_error(client.post("/api/explain", json={"positions": positions}), 400)


def test_requests_must_be_json_objects(client):
    assert_json_error(client.post("/api/explain", data="positions=1"), 400, "JSON")
    assert_json_error(client.post("/api/explain", data="[1]", content_type="application/json"), 400, "object")
    assert_json_error(client.get("/api/explain"), 405)
    assert_json_error(client.get("/api/nothing"), 404)


def test_oversized_requests_are_refused(client):
    big = {"positions": [0], "settings": {"target": "a" * 40_000}}
    assert_json_error(client.post("/api/explain", json=big), 413)
    assert_json_error(client.get("/api/features.png?layer=" + "a" * 2000), 414)


@pytest.mark.parametrize("path", [
    "/static/../server.py", "/static/%2e%2e/server.py", "/static/%2e%2e%2fserver.py", "/static/..%2fapp.py",
    "/static/%2e%2e/%2e%2e/models/pilot.py", "/static//etc/passwd", "/static/%2fetc%2fpasswd", "/etc/passwd",
    "/static/....//server.py", "/..%2f..%2fetc/passwd", "/static/%252e%252e/server.py", "/static/C:/Windows/win.ini",
    "/api/features.png?position=../../etc/passwd", "/api/features.png?position=0&layer=../../etc/passwd",
    "/api/filters.png?layer=/etc/passwd",
])
def test_path_traversal_is_refused(client, path):
    resp = client.get(path)
    assert resp.status_code in (400, 404), (path, resp.status_code)
    assert resp.is_json
    assert b"root:" not in resp.data and b"def " not in resp.data and b"import" not in resp.data


def test_static_files_are_the_packaged_page(client):
    page = client.get("/")
    assert page.status_code == 200 and b"pilotlens view" in page.data
    assert client.get("/static/app.js").status_code == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_only_localhost_requests_when_bound_locally(client):
    assert_json_error(client.get("/api/info", headers={"Host": "evil.example:8000"}), 403, "127.0.0.1")
    assert client.get("/api/info", headers={"Host": "127.0.0.1:8000"}).status_code == 200


def test_internal_errors_are_a_message_not_a_trace(app, viewer, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("the disk is on fire")
    monkeypatch.setattr(viewer, "export_png", boom)
    resp = app.test_client().post("/api/export.png", json={"position": 0})
    assert_json_error(resp, 500, "internal error", "RuntimeError", "the disk is on fire")


# -- other pilots -----------------------------------------------------------------------------------
def test_a_two_output_pilot_shows_throttle_and_offers_it_as_a_target():
    from pilotlens.view import build_viewer
    from pilotlens.view.server import create_app
    viewer = build_viewer("donkey", "synthetic", {"frames": 4})
    try:
        client = create_app(viewer).test_client()
        info = client.get("/api/info").get_json()
        assert {"angle", "throttle"} <= set(info["drive"]["predicted"])
        assert "throttle" in [t["value"] for t in info["targets"]]
        r = client.post("/api/explain", json={"positions": [1], "settings": {"methods": ["grad_cam"],
                                                                             "target": "throttle"}})
        assert r.status_code == 200, r.data[:300]
        assert set(r.get_json()["results"][0]["predicted"]) == {"angle", "throttle"}
    finally:
        viewer.close()


def test_a_pilot_without_a_zoo_arch_has_no_untrained_twin():
    from pilotlens.models.pilot import Pilot
    from pilotlens.view.app import Viewer
    from pilotlens.view.drive import Drive
    from pilotlens.view.server import create_app

    from conftest import pilotnet_like  # tests/conftest.py, as the method tests import it
    pilot = Pilot(pilotnet_like(), input_size=(200, 66))
    viewer = Viewer(pilot, Drive(open_source("synthetic", frames=3), pilot))
    client = create_app(viewer).test_client()
    assert client.get("/api/info").get_json()["untrained"] is False
    assert client.get("/api/features.png?position=0&layer=0").status_code == 200
    assert_json_error(client.get("/api/features.png?position=0&layer=0&model=untrained"), 400, "untrained twin")


def test_signed_maps_are_drawn_on_the_diverging_scale(client, viewer):
    body = {"positions": [4], "settings": {"methods": ["grad_cam"], "options": {"grad_cam": {"signed": "true"}}}}
    resp = client.post("/api/explain", json=body)
    assert resp.status_code == 200, resp.data
    result = resp.get_json()["results"][0]
    assert result["signed"]["grad_cam"] is True
    frame = viewer.drive.frame(4)
    fx = FrameExplainer(viewer.pilot, ["grad_cam:signed=true"])
    signed_map = fx([frame]).maps["grad_cam:signed=true"][0]
    expected = Look().draw(frame.image, signed_map, signed=True)
    assert np.abs(decode(result["maps"]["grad_cam"]).astype(int) - expected.astype(int)).max() <= 1
    ramp = client.get("/api/legend.png?signed=1")
    assert ramp.status_code == 200
