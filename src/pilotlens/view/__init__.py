"""The web viewer: `pilotlens view` serves a drive (or a live camera) with its maps in the browser.

launch.py builds and serves it, server.py holds the routes, app.py the state and cache, static/ the page
(no build step). The `view` verb's arguments live in cli/view.py.
Flask is imported only when the viewer starts.
"""
from .launch import build_viewer, serve

__all__ = ["build_viewer", "serve"]
