"""`pilotlens ...`: the command line, the only room that knows argparse. Every verb calls the library.

One module per verb: `register(sub)` adds its sub-parser (with `set_defaults(fn=run)`), `run(args)`
does it. The argument groups verbs share (model, input, explaining, look) and what they become for
the library live once, in arguments.py; the parsed Namespace goes no further than this package.
A new verb is a new module here and one more name in VERBS.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..allocator import keep_freed_memory
from .arguments import join_signed_values
from . import batch, demo, drive, evaluate, explain, grid, import_, layers, methods, movie, train, view

VERBS = (demo, movie, batch, explain, grid, layers, train, evaluate, import_, view, drive, methods)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pilotlens", description="See what a driving network looks at when it decides.",
                                     epilog="start with:  pilotlens demo", formatter_class=argparse.RawDescriptionHelpFormatter)
    from .. import __version__
    parser.add_argument("--version", action="version", version=f"pilotlens {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for module in VERBS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..outputs import Terminated, cleanup_on_terminate, remove_all_partials
    parser = build_parser()
    args = parser.parse_args(join_signed_values(sys.argv[1:] if argv is None else list(argv)))
    if not getattr(args, "fn", None):
        parser.print_help()
        return 2
    keep_freed_memory()  # steadier, faster batches on glibc; PILOTLENS_KEEP_MEMORY=0 turns it off
    try:
        with cleanup_on_terminate():
            args.fn(args)
    except (KeyboardInterrupt, Terminated) as stop:
        remove_all_partials()
        # what a run keeps on purpose (train's checkpoint) it says on the exception; else nothing is kept
        kept = getattr(stop, "pilotlens_kept", None) or "no partial output was kept"
        print(f"pilotlens: interrupted; {kept}", file=sys.stderr)
        return 130 if isinstance(stop, KeyboardInterrupt) else 143
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        remove_all_partials()
        if os.environ.get("PILOTLENS_DEBUG"):
            raise
        kept = getattr(exc, "pilotlens_kept", None)
        print(f"pilotlens {args.verb}: error: {_one_line(exc)}{'; ' + kept if kept else ''}", file=sys.stderr)
        return 1
    return 0


def _one_line(exc: BaseException) -> str:
    """An error's message: OSError's own text with its path; any other message as it was written (a
    few carry a table on the lines after their first, e.g. the layers a bad layer index can take)."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc).strip() or type(exc).__name__


__all__ = ["VERBS", "build_parser", "main"]
