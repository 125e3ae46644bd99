"""Every `pilotlens` command in README.md and docs/ runs, on small inputs (see doc_commands.py)."""
from __future__ import annotations

import glob
import os
import shlex
import subprocess
import sys

import pytest

from .doc_commands import NOT_RUN, commands, shrink, split

pytestmark = pytest.mark.slow
COMMANDS = commands()


def test_the_documents_have_commands():
    docs = {doc for doc, _, _ in COMMANDS}
    assert "README.md" in docs and len(COMMANDS) >= 20


def _expand(argv, home):
    """What the shell would do: ~ and globs."""
    out = []
    for item in argv:
        item = item.replace("~", str(home)) if item.startswith("~") else item
        out += sorted(glob.glob(item)) or [item] if any(c in item for c in "*?[") else [item]
    return out


class _NoServer:
    """Stands in for the web server: `view` builds its viewer, then serves nothing."""

    server_port = 0

    def __init__(self, *args, **kwargs):
        pass

    def serve_forever(self):
        pass

    def server_close(self):
        pass


@pytest.mark.parametrize("doc,line,command", COMMANDS, ids=[f"{d}:{n}" for d, n, _ in COMMANDS])
def test_command_runs(doc, line, command, workspaces, monkeypatch, capsys):
    reason = next((why for key, why in NOT_RUN.items() if key in command), None)
    if reason:
        pytest.skip(f"needs {reason}")
    workspace = workspaces(doc)
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("HOME", str(workspace))
    argv = _expand(shrink(split(command)), workspace)
    if "--engine" in argv and argv[argv.index("--engine") + 1] == "ray":
        # Ray in its own process: the cluster pilotlens starts must not meet one this test process holds
        run = subprocess.run([sys.executable, "-m", "pilotlens.cli", *argv], cwd=workspace, capture_output=True,
                             text=True, timeout=600, env={**os.environ, "HOME": str(workspace)})
        code, err = run.returncode, run.stderr
    else:
        from pilotlens.cli import main
        monkeypatch.setattr("werkzeug.serving.make_server", _NoServer)
        code = main(argv)
        err = capsys.readouterr().err
    assert code == 0, f"{doc}:{line}: pilotlens {shlex.join(argv)}\n{err[-3000:]}"
