"""A Keras file -> a pilotlens pilot file (loads with torch.load(weights_only=True)): the library of
`pilotlens import`, whose arguments live in cli/import_.py."""
from __future__ import annotations

from ...outputs import check_output_file
from ..pilot import Pilot
from .pilot import keras_pilot


def import_keras(src, out, **options) -> Pilot:
    """Convert the Keras file `src` (options as keras_pilot: crop, myconfig, lambdas, Pilot settings)
    and write it as the pilot file `out` (atomically). Returns the pilot."""
    out = check_output_file(out, inputs=[src], suffixes=(".pt",), what="pilot file")
    pilot = keras_pilot(src, **options)
    pilot.save(out)
    return pilot
