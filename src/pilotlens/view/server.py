"""The viewer's routes: each turns a request into one Viewer call; nothing else lives here.

Safe by default: it serves the one page and its static files from the package folder (Flask's
safe_join refuses `..` and absolute paths), frames only by position, requests of bounded size; a
bad request gets {"error": "..."} with status 400, never a stack trace (those go to the terminal).
Bound to a loopback address, it answers only requests addressed to localhost (no DNS rebinding).
"""
from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from ..render import COLORMAPS
from .app import Viewer
from .images import legend_ramp, png_bytes

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 32 * 1024    # bytes of a JSON request: settings, a box, a few frame numbers
MAX_QUERY = 1024        # bytes of a query string
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
log = logging.getLogger("pilotlens.view")


def create_app(viewer: Viewer, *, local_only: bool = True) -> Flask:
    app = Flask("pilotlens.view", static_folder=str(STATIC), static_url_path="/static")
    app.url_map.merge_slashes = False  # "/static//etc/passwd" is a 404, not a redirect
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, JSON_SORT_KEYS=False, PROPAGATE_EXCEPTIONS=False)

    @app.before_request
    def _bounds():
        if len(request.query_string) > MAX_QUERY:
            return _error(f"query string longer than {MAX_QUERY} bytes", 414)
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _error(f"request body larger than {MAX_BODY} bytes", 413)
        if local_only and request.host.rsplit(":", 1)[0] not in LOCAL_HOSTS and request.host not in LOCAL_HOSTS:
            return _error("this viewer answers only requests to 127.0.0.1 or localhost", 403)
        return None

    @app.after_request
    def _headers(resp):
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data: blob:; "
                                                   "media-src 'self' blob:; style-src 'self'; script-src 'self'")
        return resp

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return _error(exc.description or exc.name, exc.code or 500)

    @app.errorhandler(ValueError)
    @app.errorhandler(TypeError)
    def _bad(exc: Exception):
        return _error(str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__, 400)

    @app.errorhandler(Exception)
    def _internal(exc: Exception):
        log.exception("viewer request failed")
        return _error(f"internal error ({type(exc).__name__}): {str(exc).splitlines()[0][:300] if str(exc) else ''}", 500)

    # -- the page -------------------------------------------------------------------------------
    @app.get("/")
    def index():
        return app.send_static_file("index.html")

    @app.get("/api/info")
    def info():
        return jsonify(viewer.info())

    # -- the drive ------------------------------------------------------------------------------
    @app.post("/api/explain")
    def explain():
        body = _body()
        positions = body.get("positions")
        if not isinstance(positions, list) or not all(_whole(p) for p in positions):
            raise ValueError("positions must be a list of frame numbers")
        settings = viewer.settings(body.get("settings"))
        return jsonify({"results": viewer.explain(positions, settings)})

    @app.post("/api/occlude")
    def occlude():
        body = _body()
        settings = viewer.settings(body.get("settings"))
        return jsonify(viewer.occlude(_position(body.get("position")), body.get("box"),
                                      body.get("fill", "mean"), settings))

    @app.get("/api/features.png")
    def features():
        png = viewer.features(_position(request.args.get("position", "0")), request.args.get("layer") or None,
                              _trained())
        return _png(png)

    @app.get("/api/filters.png")
    def filters():
        png, layer = viewer.filters(request.args.get("layer") or None, _trained())
        resp = _png(png)
        resp.headers["X-Layer"] = layer
        return resp

    @app.get("/api/legend.png")
    def legend():
        name = request.args.get("colormap", "inferno")
        if name not in COLORMAPS:
            raise ValueError(f"unknown colormap {name[:32]!r}; colormaps: {', '.join(COLORMAPS)}")
        return _png(png_bytes(legend_ramp(name, signed=request.args.get("signed") == "1")))

    # -- live -----------------------------------------------------------------------------------
    @app.post("/api/live")
    def live():
        if viewer.live is None:
            raise ValueError("this viewer shows a recorded drive, not a live input")
        body = _body()
        viewer.live_settings = viewer.settings(body.get("settings"))
        after = body.get("after", 0)
        if not _whole(after):
            raise ValueError("after must be a whole number")
        answer = viewer.live.latest(int(after), wait=1.0)
        return jsonify({"answer": answer, "ended": viewer.live.ended, "error": viewer.live.error,
                        "history": list(viewer.live.history)[-200:]})

    # -- export ---------------------------------------------------------------------------------
    @app.post("/api/export.png")
    def export_png():
        body = _body()
        png = viewer.export_png(_position(body.get("position", 0)), viewer.settings(body.get("settings")))
        return send_file(io.BytesIO(png), mimetype="image/png", as_attachment=True,
                         download_name=f"pilotlens-{body.get('position', 0)}.png")

    @app.post("/api/export.mp4")
    def export_mp4():
        body = _body()
        start, end = _position(body.get("start")), _position(body.get("end"))
        data = viewer.export_mp4(start, end, viewer.settings(body.get("settings")))
        return send_file(io.BytesIO(data), mimetype="video/mp4", as_attachment=True,
                         download_name=f"pilotlens-{start}-{end}.mp4")

    return app


def _error(message: str, status: int):
    resp = jsonify({"error": message})
    resp.status_code = status
    return resp


def _body() -> dict[str, Any]:
    if not request.is_json:
        raise ValueError("send a JSON object with Content-Type: application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _position(v: Any) -> int:
    """A frame position from JSON (a whole number) or a query string (digits only)."""
    if isinstance(v, str) and v.isdigit() and len(v) < 10:
        return int(v)
    if _whole(v):
        return v
    raise ValueError(f"a frame is a whole number, got {str(v)[:20]!r}")


def _trained() -> bool:
    which = request.args.get("model", "trained")
    if which not in ("trained", "untrained"):
        raise ValueError(f"model must be 'trained' or 'untrained', got {which[:20]!r}")
    return which == "trained"


def _png(data: bytes):
    return send_file(io.BytesIO(data), mimetype="image/png")
