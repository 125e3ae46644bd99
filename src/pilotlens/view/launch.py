"""Start the viewer: build it for a model and an input, serve it on 127.0.0.1, open the browser.

    viewer = build_viewer("pilotnet", "synthetic", {"frames": 400})
    serve(viewer, port=0, open_browser=False)      # until Ctrl-C

`pilotlens view` (cli/view.py) is these two calls.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import webbrowser


def build_viewer(model: str, source_spec: str, options: dict | None = None, start: int = 0,
                 end: int | None = None, step: int = 1, *, strict: bool = False, model_options: dict | None = None):
    """The Viewer for a model spec and an input spec (a drive, or camera:N / a stream URL).

    options, start, end, step, strict: the drive's (data.open_source); model_options: how the model
    loads and sees (models.open_pilot: weights, crop, myconfig, lambdas)."""
    from ..models import open_pilot
    from ..data import open_source
    from .app import Viewer
    from .drive import Drive
    from .live import is_live, open_stream

    pilot = open_pilot(model, **(model_options or {}))
    if is_live(source_spec):
        frames = open_stream(source_spec)
        viewer = Viewer(pilot, None, model_name=model)
        viewer.start_live(frames)
        return viewer
    source = open_source(source_spec, start=start, end=end, step=step, strict=strict, **(options or {}))
    print(f"pilotlens view: reading {source_spec} and predicting every frame ...", file=sys.stderr, flush=True)
    return Viewer(pilot, Drive(source, pilot), model_name=model)


def check_port(port) -> int:
    """`port` when it is 0..65535; the socket layer would take 99999 modulo 65536 and serve on 34463."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port (--port) must be 0..65535 (0: a free one), got {port!r}")
    return port


def serve(viewer, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True) -> None:
    """Serve until Ctrl-C; the address is printed, and opened in a browser when there is a display."""
    from werkzeug.serving import make_server

    from .server import create_app

    check_port(port)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the terminal
    local = host in ("127.0.0.1", "localhost", "::1")
    server = make_server(host, port, create_app(viewer, local_only=local), threaded=True)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    url = f"http://{shown}:{server.server_port}/"
    print(f"pilotlens view: serving {viewer.model_name} at {url} (Ctrl-C to stop)", flush=True)
    if not local:
        print("pilotlens view: warning: listening beyond this machine; anyone who reaches it sees the drive",
              file=sys.stderr)
    if open_browser and _has_display():
        threading.Timer(0.3, webbrowser.open, args=(url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        viewer.close()


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
