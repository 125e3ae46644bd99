"""Models: the zoo of driving CNNs and the Pilot (a model plus how it sees)."""
from .open import open_pilot
from .pilot import Pilot, shipped_pilots
from .zoo import (ARCHITECTURES, DonkeyCategorical, DonkeyLinear, LongRangeCNN, PilotNet, build,
                  torchvision_classifier)

__all__ = ["ARCHITECTURES", "DonkeyCategorical", "DonkeyLinear", "LongRangeCNN", "Pilot", "PilotNet",
           "build", "open_pilot", "shipped_pilots", "torchvision_classifier"]
