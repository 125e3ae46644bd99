"""Models: the zoo of driving CNNs, the Pilot (a model plus how it sees), and the one door to both.

    open.py         open_pilot(spec, **options): the only way from a model spec (pilot file, shipped
                    name, zoo name, Keras file, ONNX file, FILE.py:Class, weights onto an
                    architecture) to a Pilot; import_model: the library of `pilotlens import`
    pilot.py        Pilot: model, Seeing, output names, target resolution; save/load of pilot files
    seeing.py       Seeing: input size, crop, colour, scaling as one frozen value, and the geometry
                    between frames and the model's input
    pilot_file.py   the pilot file format (torch.load(weights_only=True)) and the shipped pilots
    zoo.py          PilotNet, donkeycar linear/categorical, LongRangeCNN, torchvision classifiers
    donkey_bins.py  donkeycar's bin decoding, shared by the zoo and the Keras converter
    color.py        colour spaces; user_code.py: FILE.py:Class; keras/: Keras files -> torch modules
    onnx/           ONNX files -> torch modules; weights_onto.py: weights-only Keras files onto a model
"""
from .open import import_model, open_pilot
from .pilot import Pilot
from .pilot_file import shipped_pilots
from .seeing import Seeing
from .zoo import (ARCHITECTURES, DonkeyCategorical, DonkeyLinear, LongRangeCNN, PilotNet, build,
                  torchvision_classifier)

__all__ = ["ARCHITECTURES", "DonkeyCategorical", "DonkeyLinear", "LongRangeCNN", "Pilot", "PilotNet", "Seeing",
           "build", "import_model", "open_pilot", "shipped_pilots", "torchvision_classifier"]
