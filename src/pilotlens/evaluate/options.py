"""The command line's evaluate-specific options, for cli.py's `evaluate` verb:

    p = _verb(sub, "evaluate", ...)
    add_evaluate_options(p)          # --metric, --quick, --frames, --precision, --metric-option; the metric list in --help
    ...
    evaluate_source(pilot, source, methods=..., **evaluate_arguments(args))

(--model, --input, --method, --target, --layer, --set, --out, --seed and --quiet stay with cli.py.)
"""
from __future__ import annotations

import argparse
import ast
from typing import Any

from .registry import METRICS, PRESETS, describe_metrics
from .report import DEFAULT_FRAMES


def add_evaluate_options(parser: argparse.ArgumentParser) -> None:
    """Add evaluate's own options to `parser` and list the metrics in its --help epilog."""
    parser.add_argument("--metric", action="append", metavar="NAME",
                        help=f"a metric, repeatable (default: all that apply): {', '.join(METRICS)}")
    parser.add_argument("--quick", action="store_true",
                        help=f"the quick preset: {PRESETS['quick']['frames']} frames, fewer deletion steps, ROAD "
                             "fractions, sanity stages and perturbations (about 4x faster)")
    parser.add_argument("--frames", type=int, default=None, metavar="N",
                        help=f"score at most N frames (default {DEFAULT_FRAMES}; {PRESETS['quick']['frames']} with --quick)")
    parser.add_argument("--precision", choices=("float32", "float64"), default="float32",
                        help="float32 (default; scores agree with float64 to about 1e-4) or float64")
    parser.add_argument("--metric-option", action="append", metavar="METRIC.OPTION=VALUE",
                        help="an option of a metric, repeatable: deletion.steps=10, road.fractions=(0.2,0.5,0.8), "
                             "sanity.mode=independent, robustness.perturbations=['noise']")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per batch (default 16)")
    metrics = "metrics:\n" + describe_metrics()
    parser.epilog = f"{parser.epilog}\n\n{metrics}" if parser.epilog else metrics
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def metric_options(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """["deletion.steps=10", ...] -> {"deletion": {"steps": 10}}; a bad item names itself."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        metric, dot, option = key.strip().partition(".")
        if not eq or not dot or not metric or not option:
            raise ValueError(f"--metric-option {item!r}: expected METRIC.OPTION=VALUE, e.g. deletion.steps=10")
        if metric not in METRICS:
            raise ValueError(f"--metric-option {item!r}: unknown metric {metric!r}; metrics: {', '.join(METRICS)}")
        try:
            parsed = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            parsed = value.strip()
        out.setdefault(metric, {})[option.strip()] = parsed
    return out


def evaluate_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of `evaluate_source` that add_evaluate_options's options give."""
    if args.frames is not None and args.frames < 1:
        raise ValueError(f"--frames must be >= 1, got {args.frames}")
    return {"metrics": args.metric or None, "preset": "quick" if args.quick else None, "max_frames": args.frames,
            "precision": args.precision, "options": metric_options(args.metric_option),
            "batch_size": args.batch_size}
