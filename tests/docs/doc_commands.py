"""The `pilotlens ...` commands of README.md and docs/*.md, and the small inputs they run on.

Every fenced ```bash block line that starts with `pilotlens` is a command. `shrink` makes it small
(the same verb and options, fewer frames, epochs and seconds; each rule below says what it changes),
and `workspace` builds a folder holding every file the documents name (a tub, a video, images, a
Keras file, a user's class with its weights, a myconfig.py under a fake home, ...), made here.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Commands that need what a test machine lacks, with the reason; they are listed, never run.
NOT_RUN = {
    "camera:0": "a live camera",
    "rtsp://": "a network camera stream",
    "--ray-address": "an existing Ray cluster",
}


def commands() -> list[tuple[str, int, str]]:
    """(document name, line number, command) for each `pilotlens` line of a bash block, in order."""
    found = []
    for doc in DOCUMENTS:
        inside = pending = False
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("```"):
                inside = line.strip() == "```bash" if not inside else False
                continue
            if inside and (line.startswith("pilotlens ") or (found and found[-1][2].endswith("\\")
                                                            and found[-1][0] == doc.name and pending)):
                text = line.split("  #")[0].split(" # ")[0].strip()
                if pending:                                   # the rest of a command cut with a backslash
                    d, n, first = found.pop()
                    found.append((d, n, first[:-1].rstrip() + " " + text))
                else:
                    found.append((doc.name, number, text))
            pending = inside and bool(found) and found[-1][2].endswith("\\")
    return found


def _set(argv: list[str], flag: str, value: str) -> None:
    if flag in argv:
        argv[argv.index(flag) + 1] = value
    else:
        argv += [flag, value]


def shrink(argv: list[str]) -> list[str]:
    """The same command on small inputs."""
    argv = list(argv)
    verb = argv[0]
    for i, item in enumerate(argv):                 # the synthetic world: 12 frames, not hundreds
        if re.fullmatch(r"frames=\d+", item):
            argv[i] = "frames=12"
    if "--start" in argv:                           # the fixture logs hold 12 frames
        _set(argv, "--start", "2")
        _set(argv, "--end", "8")
    elif "--input" in argv and verb in ("movie", "view", "evaluate", "batch") and "--end" not in argv:
        argv += ["--end", "6"]
    if verb == "train":
        _set(argv, "--epochs", "1")
    if verb == "drive":
        _set(argv, "--frames", "10")
    if verb == "demo":
        _set(argv, "--frames", "6")
    if verb == "evaluate":
        _set(argv, "--frames", "2")
        if "--quick" not in argv:
            argv.append("--quick")
    if "--actors" in argv:                          # 2 cores here: one actor, one CPU left for reading
        _set(argv, "--actors", "1")
    if verb == "view" and "--no-browser" not in argv:
        argv.append("--no-browser")
    return argv


def split(command: str) -> list[str]:
    return shlex.split(command)[1:]
