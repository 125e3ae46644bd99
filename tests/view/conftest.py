"""One viewer for the view tests: the shipped PilotNet on a short synthetic drive."""
from __future__ import annotations

import pytest

pytest.importorskip("flask", reason="the viewer needs flask (pip install flask)")

FRAMES = 24


@pytest.fixture(scope="session")
def viewer():
    from pilotlens.view import build_viewer
    v = build_viewer("pilotnet", "synthetic", {"frames": FRAMES})
    yield v
    v.close()


@pytest.fixture(scope="session")
def app(viewer):
    from pilotlens.view.server import create_app
    return create_app(viewer)


@pytest.fixture
def client(app):
    return app.test_client()
