"""`pilotlens evaluate`: score methods (faithfulness, sanity, localisation, robustness) on a drive."""
from __future__ import annotations

import argparse
from typing import Any

from ..text import grouped, literal
from .arguments import (add_engine, add_explain, add_input, add_model, engine_options, method_options, model_options,
                        open_input, open_model, verb)

EXAMPLE = "pilotlens evaluate --model pilotnet --input synthetic --method visual_backprop --method grad_cam --out report/"


def register(sub) -> None:
    p = verb(sub, "evaluate", "score methods: faithfulness, sanity, localisation and robustness, as CSV/Markdown/plots",
             EXAMPLE, run)
    add_model(p)
    add_input(p)
    add_explain(p, "a method to score, repeatable (default: all that apply; the random baseline is always added)")
    add_evaluate_options(p)
    p.add_argument("--out", required=True, help="output folder for the tables, plots and example frames")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_engine(p, "the per-frame work on a pool of Ray actors, the same report")


def engine(args):
    """evaluate's engine= from --engine and the Ray options: None for the local engine."""
    chosen = engine_options(args)
    if chosen["engine"] == "local":
        return None
    from ..fleet.evaluate import RayEngine
    return RayEngine(args.model, model_options(args), address=chosen["ray_address"], actors=chosen["actors"],
                     threads_per_actor=chosen["threads_per_actor"])


def add_evaluate_options(parser: argparse.ArgumentParser) -> None:
    """evaluate's own options (--metric, --quick, --frames, --precision, --metric-option, --batch-size),
    and the metrics listed in the --help epilog."""
    from ..evaluate import DEFAULT_FRAMES, METRICS, PRESETS, describe_metrics
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
    from ..evaluate import METRICS
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        try:
            ((metric, option),) = grouped([item], "--metric-option", "METRIC.OPTION=VALUE", convert=None).items()
        except ValueError:
            raise ValueError(f"--metric-option {item!r}: expected METRIC.OPTION=VALUE, e.g. deletion.steps=10") from None
        if metric not in METRICS:
            raise ValueError(f"--metric-option {item!r}: unknown metric {metric!r}; metrics: {', '.join(METRICS)}")
        out.setdefault(metric, {}).update({k: literal(v, f"--metric-option {metric}.{k}") for k, v in option.items()})
    return out


def evaluate_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of `evaluate_source` that add_evaluate_options's options give."""
    if args.frames is not None and args.frames < 1:
        raise ValueError(f"--frames must be >= 1, got {args.frames}")
    return {"metrics": args.metric or None, "preset": "quick" if args.quick else None, "max_frames": args.frames,
            "precision": args.precision, "options": metric_options(args.metric_option),
            "batch_size": args.batch_size}


def run(args) -> None:
    from ..evaluate import evaluate_source
    from ..outputs import check_output_dir
    from ..pipeline import check_target
    check_output_dir(args.out, inputs=[args.input])
    chosen_engine = engine(args)
    pilot = open_model(args)
    check_target(pilot, args.target)
    evaluate_source(pilot, open_input(args), methods=args.method or None, out_dir=args.out,
                    seed=args.seed, progress=not args.quiet, target=args.target, layer=args.layer,
                    method_options=method_options(args.set), engine=chosen_engine, **evaluate_arguments(args))
