"""`pilotlens train`: fit a zoo architecture (or fine-tune a pilot) on driving data."""
from __future__ import annotations

from .arguments import add_input, add_model, model_options, open_input, open_model, verb

EXAMPLE = "pilotlens train --arch pilotnet --input mytub/ --epochs 20 --out mypilot.pt"


def register(sub) -> None:
    p = verb(sub, "train", "train a zoo pilot on driving data and save the best checkpoint as a pilot file", EXAMPLE, run)
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--arch", help="a zoo architecture: pilotnet, donkey_linear, donkey_categorical, long_range")
    add_model(p, required=False, into=group)
    add_input(p)
    p.add_argument("--out", required=True, help="the pilot file to write (.pt)")
    p.add_argument("--epochs", type=int, default=10, help="passes over the training frames (default 10)")
    p.add_argument("--batch-size", type=int, default=64, help="default 64")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of frames held out for validation (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, shuffling and augmentation (default 0)")
    p.add_argument("--no-augment", action="store_true", help="no brightness or flip augmentation")
    p.add_argument("--sparsity", type=float, default=0.0,
                   help="L1 penalty on the first conv layer's rectified output: edge-like features, maps that "
                        "follow the road (the shipped pilotnet: 0.3, donkey: 0.05; default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> None:
    from ..outputs import check_output_file
    from ..train import train
    if args.arch and model_options(args):
        raise ValueError(f"{', '.join(sorted(model_options(args)))}: for a pilot given with --model, not --arch")
    check_output_file(args.out, inputs=[args.input] + ([args.model] if args.model else []), suffixes=(".pt",),
                      what="pilot file")
    result = train(args.arch or open_model(args), open_input(args), epochs=args.epochs, batch_size=args.batch_size,
                   lr=args.lr, val_fraction=args.val_fraction, seed=args.seed, augment=not args.no_augment,
                   out=args.out, progress=not args.quiet, sparsity=args.sparsity)
    print(result)
