"""Remake docs/viewer.png: the viewer on the shipped PilotNet and a 300-frame synthetic drive, frame 72,
grad_cam and visual_backprop, a region hidden by dragging a box on the frame.

    python docs/make_viewer_png.py            # needs flask, playwright and Chromium (/usr/bin/chromium)

The page is driven as a user would (the same calls as tests/view/test_browser.py), then captured at
960 x 600. Look at the picture before committing it.
"""
from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from pilotlens.view import build_viewer
from pilotlens.view.server import create_app

OUT = Path(__file__).resolve().parent / "viewer.png"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def main() -> None:
    viewer = build_viewer("pilotnet", "synthetic", {"frames": 300})
    server = make_server("127.0.0.1", 0, create_app(viewer), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 960, "height": 600})
            page.set_default_timeout(120_000)
            page.goto(f"http://127.0.0.1:{server.server_port}/")
            page.wait_for_selector("body[data-ready='1']")
            page.evaluate("() => { const s = document.getElementById('scrub'); s.value = 72;"
                          " s.dispatchEvent(new Event('input')); }")
            page.wait_for_function("() => document.getElementById('frame-caption').textContent.startsWith('frame 72 ')")
            box = page.locator("#frame-draw").bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.97, box["y"] + box["height"] * 0.95, steps=5)
            page.mouse.up()
            page.wait_for_function("() => document.getElementById('readout').textContent.includes('region hidden')")
            page.wait_for_timeout(1500)                      # the maps of the changed frame
            page.screenshot(path=str(OUT))
            browser.close()
    finally:
        server.shutdown()
        viewer.close()
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
