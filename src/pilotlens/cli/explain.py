"""`pilotlens explain`: one PNG per input image with each method's map side by side."""
from __future__ import annotations

from .arguments import add_explain, add_look, add_model, explain_options, image_frames, look, open_model, verb

EXAMPLE = "pilotlens explain --model donkey --method grad_cam --target steering:0.05 images/*.jpg --out explained/"


def register(sub) -> None:
    p = verb(sub, "explain", "explain images: one PNG per input with each method side by side", EXAMPLE, run)
    add_model(p)
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable image")
    p.add_argument("--batch-size", type=int, default=32, help="images per model call (default 32)")
    add_explain(p)
    add_look(p)


def run(args) -> None:
    from ..figures import explain_to_pngs
    from ..outputs import check_output_dir
    from ..pipeline import check_target
    check_output_dir(args.out, inputs=args.images)
    pilot = open_model(args)
    check_target(pilot, args.target)
    written = explain_to_pngs(pilot, image_frames(args.images, args.strict), args.out, **explain_options(args),
                              look=look(args), batch_size=args.batch_size, inputs=args.images, strict=args.strict)
    print(f"wrote {len(written)} image{'' if len(written) == 1 else 's'} to {args.out} "
          f"(target: {pilot.resolve_target(args.target)!r})")
