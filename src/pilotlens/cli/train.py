"""`pilotlens train`: fit a zoo architecture (or fine-tune a pilot) on driving data."""
from __future__ import annotations

import argparse

from .arguments import add_input, add_model, model_options, open_input, open_model, verb

EXAMPLE = "pilotlens train --arch donkey_linear --input mytub/ --out mypilot.pt"
RECIPE_NAMES = ("pilotlens", "donkeycar")   # pilotlens.train.RECIPES, named here so --help needs no torch


def register(sub) -> None:
    p = verb(sub, "train", "train a zoo pilot on driving data and save the best checkpoint as a pilot file", EXAMPLE, run,
             description="Validation and the constant baseline are printed on the same frames; docs/training.md "
                         "explains the output and compares the recipes.")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--arch", help="a zoo architecture: pilotnet, donkey_linear, donkey_categorical, long_range")
    add_model(p, required=False, into=group)
    add_input(p)
    p.add_argument("--out", required=True, help="the pilot file to write (.pt)")
    p.add_argument("--recipe", choices=RECIPE_NAMES, default="pilotlens",
                   help="the defaults of the options below: pilotlens (batch 64, block split, up to 100 epochs with "
                        "early stopping, brightness and mirror augmentation) or donkeycar (donkeycar's own: batch 128, random "
                        "split, up to 100 epochs with early stopping, no augmentation); default pilotlens")
    p.add_argument("--epochs", type=int, help="at most this many passes over the training frames (recipe: 100)")
    p.add_argument("--patience", type=int,
                   help="stop after this many epochs without a gain of --min-delta in validation MSE; 0: never stop "
                        "early (recipe: 5)")
    p.add_argument("--min-delta", type=float, help="the smallest gain in validation MSE early stopping counts (recipe: "
                                                   "0.0005)")
    p.add_argument("--batch-size", type=int, help="recipe: pilotlens 64, donkeycar 128")
    p.add_argument("--lr", type=float, help="Adam learning rate (recipe: 1e-3)")
    p.add_argument("--split", choices=("blocks", "random"),
                   help="validation frames: 'blocks' holds out contiguous stretches of the drive (honest), 'random' "
                        "single frames whose neighbours train (flatters; donkeycar's). recipe: pilotlens blocks, "
                        "donkeycar random")
    p.add_argument("--val-fraction", type=float, help="share of frames held out for validation (recipe: 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed for the split, shuffling and augmentation (default 0)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="random brightness on training batches (recipe: pilotlens on, donkeycar off)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="with --augment, also mirror half the images left-right and negate their angle (recipe: "
                        "pilotlens on, donkeycar off)")
    p.add_argument("--sparsity", type=float, default=0.0,
                   help="L1 penalty on the first conv layer's rectified output: edge-like features, maps that "
                        "follow the road (the shipped pilotnet: 0.3, donkey: 0.05; default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def settings(args) -> dict:
    """The train() keywords: the recipe's, then what was given on the command line."""
    from ..train import RECIPES
    out = dict(RECIPES[args.recipe])
    given = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, split=args.split,
                 val_fraction=args.val_fraction, augment=args.augment, flip=args.flip, min_delta=args.min_delta)
    out.update({k: v for k, v in given.items() if v is not None})
    if args.patience is not None:
        if args.patience < 0:
            raise ValueError(f"--patience must be 0 (never stop early) or more epochs, got {args.patience}")
        out["patience"] = args.patience or None
    if not out.get("augment"):
        if args.flip:
            raise ValueError("--flip is part of the augmentation: add --augment (the donkeycar recipe has none)")
        out["flip"] = False     # no augmentation, no mirror (the recipe's flip applies only with it)
    return out


def run(args) -> None:
    from ..outputs import check_output_file
    from ..train import train
    if args.arch and model_options(args):
        from ..models.open import OPTION_FLAGS
        flags = sorted({OPTION_FLAGS.get(k, k) for k in model_options(args)})
        raise ValueError(f"{', '.join(flags)}: for a pilot given with --model, not --arch")
    kwargs = settings(args)
    check_output_file(args.out, inputs=[args.input] + ([args.model] if args.model else []), suffixes=(".pt",),
                      what="pilot file")
    result = train(args.arch or open_model(args), open_input(args), seed=args.seed, out=args.out,
                   progress=not args.quiet, sparsity=args.sparsity, **kwargs)
    print(f"recipe: {args.recipe}" + "".join(f", {k} {v}" for k, v in kwargs.items()))
    print(result)
