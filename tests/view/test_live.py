"""The live loop on synthetic frame iterators (no camera here): answers arrive for the newest frames,
failures end the loop with a message, and the route serves the answers with the page's settings."""
from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from pilotlens.data import open_source
from pilotlens.view.live import LiveLoop, is_live, open_stream


def wait_for(loop: LiveLoop, count: int, timeout: float = 30.0) -> None:
    end = time.perf_counter() + timeout
    while loop.count < count and not loop.ended and time.perf_counter() < end:
        time.sleep(0.01)


def test_is_live():
    assert is_live("camera:0") and is_live("rtsp://10.0.0.2/stream") and is_live("http://cam.local/mjpg")
    assert not is_live("synthetic") and not is_live("drive.mp4") and not is_live("camera_folder")


def test_open_stream_refuses_what_it_cannot_open():
    with pytest.raises(ValueError, match="camera:N"):
        open_stream("camera:first")
    with pytest.raises(ValueError, match="cannot open"):
        open_stream("camera:97")


def test_the_loop_explains_frames_in_order_and_keeps_the_newest():
    seen = []

    def explain(frame):
        seen.append(frame.index)
        return {"predicted": {"angle": float(frame.image[0, 0, 0])}}

    frames = (np.full((12, 16, 3), i, np.uint8) for i in range(40))
    loop = LiveLoop(frames, explain, pace=0.002).start()
    wait_for(loop, 5)
    first = loop.latest(0)
    assert first is not None and first["seq"] >= 1 and first["latency_ms"] >= 0
    loop.stop()
    assert seen == sorted(seen) and len(set(seen)) == len(seen)  # never an older frame after a newer one
    assert loop.latest(first["seq"] - 1)["seq"] >= first["seq"]
    last = loop.latest(0)
    assert last["predicted"]["angle"] == seen[-1]  # the answer is for the frame it names
    assert [h["predicted"]["angle"] for h in loop.history] == seen[-len(loop.history):]


def test_a_failing_stream_ends_the_loop_with_its_reason():
    def frames():
        yield np.zeros((8, 8, 3), np.uint8)
        raise OSError("camera unplugged")

    loop = LiveLoop(frames(), lambda f: {"predicted": {}}).start()
    wait_for(loop, 1)
    time.sleep(0.1)
    assert loop.ended and "camera unplugged" in loop.error
    assert loop.latest(0)["seq"] == 1
    loop.stop()


def test_an_explain_error_is_an_answer_and_the_loop_goes_on():
    calls = itertools.count()

    def explain(frame):
        if next(calls) == 0:
            raise ValueError("no layer named 'x'")
        return {"predicted": {"angle": 0.0}}

    loop = LiveLoop((np.zeros((8, 8, 3), np.uint8) for _ in range(100)), explain, pace=0.005).start()
    wait_for(loop, 3)
    loop.stop()
    assert loop.count >= 3 and "error" not in loop.latest(0)


def test_live_route_serves_maps_of_the_synthetic_stream_with_the_pages_settings():
    from pilotlens.models.pilot import Pilot
    from pilotlens.view.app import Viewer
    from pilotlens.view.server import create_app

    pilot = Pilot.load("pilotnet")
    viewer = Viewer(pilot, None, model_name="pilotnet")
    frames = itertools.cycle(list(open_source("synthetic", frames=6)))
    viewer.start_live(frames, pace=0.01)
    try:
        client = create_app(viewer).test_client()
        info = client.get("/api/info").get_json()
        assert info["live"] and info["drive"] is None
        body = {"settings": {"methods": ["grad_cam"], "view": "mask"}, "after": 0}
        answer = None
        for _ in range(50):
            got = client.post("/api/live", json=body).get_json()
            if got["answer"] and "grad_cam" in got["answer"].get("maps", {}):
                answer = got["answer"]
                break
            if got["answer"]:
                body["after"] = got["answer"]["seq"]  # wait for a newer answer (made with these settings)
        assert answer is not None, f"no live answer with the page's method: {got}"
        assert answer["latency_ms"] >= answer["ms"] > 0
        assert set(answer["predicted"]) == {"angle"}
        bad = client.post("/api/live", json={"settings": {"methods": ["nope"]}})
        assert bad.status_code == 400 and "unknown method" in bad.get_json()["error"]
        assert client.post("/api/explain", json={"positions": [0]}).status_code == 400
        feats = client.get("/api/features.png?position=0&layer=features.relu1")
        assert feats.status_code == 200
    finally:
        viewer.close()
