"""A written mp4 plays in a real browser: headless Chromium loads it in a <video>, reads its duration, plays it.

Needs the `playwright` Python package and a Chromium that decodes H.264. Playwright's own Chromium
build does not ship H.264, so this uses the system one (Debian: `apt-get install chromium`), or
the executable named by PILOTLENS_CHROMIUM.
"""
import functools
import http.server
import os
import shutil
import threading

import numpy as np
import pytest

from pilotlens.render import open_sink

CHROMIUM = os.environ.get("PILOTLENS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
FRAMES, FPS = 45, 15.0  # 3 seconds

PAGE = """<!doctype html><html><body>
<video id="v" src="clip.mp4" muted playsinline preload="auto"></video>
</body></html>"""

# waits for metadata or an error; resolves with what the page saw
LOAD = """() => new Promise(resolve => {
  const v = document.getElementById('v');
  const report = () => resolve({duration: v.duration, error: v.error && v.error.code,
                                width: v.videoWidth, height: v.videoHeight,
                                canPlay: v.canPlayType('video/mp4; codecs="avc1.640028"')});
  if (v.readyState >= 1 || v.error) return report();
  v.addEventListener('loadedmetadata', report);
  v.addEventListener('error', report);
})"""

PLAY = """async () => {
  const v = document.getElementById('v');
  await v.play();
  const t0 = performance.now();
  while (v.currentTime < 0.3 && performance.now() - t0 < 10000) await new Promise(r => setTimeout(r, 50));
  return {time: v.currentTime, error: v.error && v.error.code};
}"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A localhost HTTP server for tmp_path on a free port."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_mp4_plays_in_chromium(tmp_path, server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set PILOTLENS_CHROMIUM)")

    yy, xx = np.mgrid[0:90, 0:160]
    with open_sink(tmp_path / "clip.mp4", fps=FPS) as sink:
        for i in range(FRAMES):
            sink.write(np.stack([(xx + 4 * i) % 256, yy * 2, np.full_like(xx, 128)], axis=2).astype(np.uint8))
    (tmp_path / "index.html").write_text(PAGE)

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{server}/index.html")
            meta = page.evaluate(LOAD)
            assert meta["error"] is None, f"Chromium could not load the mp4 (MediaError code {meta['error']}): {meta}"
            assert meta["canPlay"] in ("probably", "maybe"), f"this Chromium cannot decode H.264: {meta}"
            assert meta["duration"] == pytest.approx(FRAMES / FPS, abs=1.5 / FPS)
            assert (meta["width"], meta["height"]) == (160, 90)
            played = page.evaluate(PLAY)
            assert played["error"] is None and played["time"] >= 0.3, played
        finally:
            browser.close()
