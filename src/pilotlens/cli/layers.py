"""`pilotlens layers`: a pilot's layers with their output shapes, to pick one for --layer."""
from __future__ import annotations

from .arguments import add_model, open_model, verb

EXAMPLE = "pilotlens layers --model pilotnet"


def register(sub) -> None:
    p = verb(sub, "layers", "list a pilot's layers with their output shapes, to pick one for --layer", EXAMPLE, run)
    add_model(p)


def run(args) -> None:
    from ..layers import format_layers, trace
    from ..models import color
    pilot = open_model(args)
    w, h = pilot.input_size
    print(pilot.describe())
    print(format_layers(trace(pilot.model, (color.channels(pilot.color), h, w))))
