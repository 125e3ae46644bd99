"""The web viewer: `pilotlens view` serves a drive (or a live camera) with its maps in the browser.

server.py holds the routes, app.py the state and cache, static/ the page (no build step).
Flask is imported only when the viewer starts.
"""
from .command import add_verb, build_viewer, serve

__all__ = ["add_verb", "build_viewer", "serve"]
