"""`pilotlens view`: start the viewer on 127.0.0.1 and open it in the browser."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import webbrowser

EXAMPLE = "pilotlens view --model pilotnet --input synthetic --input-option frames=400"
HELP = "open a drive in the browser: frames, maps, the steering timeline, layers, occlusion, live camera"


def add_verb(sub) -> None:
    """Add the `view` verb to the CLI's sub-parsers."""
    p = sub.add_parser("view", help=HELP, description=HELP + ". The app serves only the given model and input.",
                       epilog=f"example:\n  {EXAMPLE}\n  pilotlens view --model pilotnet --input camera:0",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(fn=cmd_view)
    p.add_argument("--model", required=True, metavar="PILOT",
                   help="a pilot file (.pt), a shipped pilot's name (pilotnet, donkey) or a zoo architecture name")
    p.add_argument("--input", required=True, metavar="SOURCE",
                   help="a drive (image folder, video, donkeycar tub, Udacity csv, SullyChen data.txt, 'synthetic'), "
                        "or live: camera:N (an OpenCV device index) or a stream URL (rtsp://, http://...)")
    p.add_argument("--input-option", action="append", metavar="KEY=VALUE",
                   help="an option of the source, repeatable: frames=500, seed=3 (synthetic); camera=left (Udacity)")
    p.add_argument("--start", type=int, default=0, help="first frame index (default 0)")
    p.add_argument("--end", type=int, default=None, help="stop before this frame index (default: the end)")
    p.add_argument("--step", type=int, default=1, help="take every STEP-th frame (default 1)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; anything else exposes "
                        "the model and the drive to the network)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: a free one, printed)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser, only print the address")


def cmd_view(args) -> None:
    viewer = build_viewer(args.model, args.input, _options(args.input_option), args.start, args.end, args.step)
    serve(viewer, args.host, args.port, open_browser=not args.no_browser)


def _options(items) -> dict:
    from ..cli import _key_values  # the CLI's KEY=VALUE parsing, shared
    return _key_values(items, "--input-option")


def build_viewer(model: str, source_spec: str, options: dict | None = None, start: int = 0,
                 end: int | None = None, step: int = 1):
    """The Viewer for a model spec and an input spec (a drive, or camera:N / a stream URL)."""
    from ..models import open_pilot
    from ..data import open_source
    from .app import Viewer
    from .drive import Drive
    from .live import is_live, open_stream

    pilot = open_pilot(model)
    if is_live(source_spec):
        frames = open_stream(source_spec)
        viewer = Viewer(pilot, None, model_name=model)
        viewer.start_live(frames)
        return viewer
    source = open_source(source_spec, start=start, end=end, step=step, **(options or {}))
    print(f"pilotlens view: reading {source_spec} and predicting every frame ...", file=sys.stderr, flush=True)
    return Viewer(pilot, Drive(source, pilot), model_name=model)


def serve(viewer, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True) -> None:
    """Serve until Ctrl-C; the address is printed, and opened in a browser when there is a display."""
    from werkzeug.serving import make_server

    from .server import create_app

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
