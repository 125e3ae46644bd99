"""`pilotlens grid`: one PNG, rows are inputs, columns are methods (or models, with several --model)."""
from __future__ import annotations

from pathlib import Path

from .arguments import add_explain, add_look, add_model, explain_options, image_frames, look, open_model, verb

EXAMPLE = "pilotlens grid --model pilotnet --model donkey --method visual_backprop frame_1.png frame_2.png --out grid.png"


def register(sub) -> None:
    p = verb(sub, "grid", "a PNG grid: rows are inputs, columns are methods (or models, with several --model)",
             EXAMPLE, run)
    add_model(p, several=True)
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="output .png")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable image")
    add_explain(p)
    add_look(p)


def model_labels(specs: list[str]) -> list[str]:
    """Column labels for several --model: file stems, or the whole spec where two stems are alike."""
    stems = [Path(m).stem for m in specs]
    labels = [stem if stems.count(stem) == 1 else spec for stem, spec in zip(stems, specs)]
    repeated = sorted({lab for lab in labels if labels.count(lab) > 1})
    if repeated:
        raise ValueError(f"--model {', '.join(repeated)} is given twice")
    return labels


def run(args) -> None:
    from ..figures import grid_figure
    from ..outputs import check_output_file
    from ..render import save_image
    from ..render.panels import IMAGE_SUFFIXES
    check_output_file(args.out, inputs=args.images, suffixes=IMAGE_SUFFIXES, what="grid image")
    from ..pipeline import check_target
    pilots = {label: open_model(args, m) for label, m in zip(model_labels(args.model), args.model)}
    for pilot in pilots.values():
        check_target(pilot, args.target)
    image = grid_figure(pilots, list(image_frames(args.images, args.strict)), **explain_options(args), look=look(args),
                        strict=args.strict)
    save_image(args.out, image)
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")
