"""`pilotlens view`: start the viewer on 127.0.0.1 and open it in the browser (the library: view/launch.py)."""
from __future__ import annotations

from .arguments import add_input, add_model, input_options, model_options, selection, verb

EXAMPLE = "pilotlens view --model pilotnet --input synthetic --input-option frames=400\n  pilotlens view --model pilotnet --input camera:0"
HELP = "open a drive in the browser: frames, maps, the steering timeline, layers, occlusion, live camera"


def register(sub) -> None:
    p = verb(sub, "view", HELP, EXAMPLE, run, description=HELP + ". The app serves only the given model and input.")
    add_model(p)
    add_input(p, live=True)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; anything else exposes "
                        "the model and the drive to the network)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: a free one, printed)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser, only print the address")


def viewer(args):
    """The Viewer the arguments describe (not yet served)."""
    from ..view import build_viewer
    return build_viewer(args.model, args.input, input_options(args), **selection(args),
                        model_options=model_options(args))


def run(args) -> None:
    from ..view import serve
    from ..view.launch import check_port
    check_port(args.port)   # before the drive is read and predicted
    serve(viewer(args), args.host, args.port, open_browser=not args.no_browser)
