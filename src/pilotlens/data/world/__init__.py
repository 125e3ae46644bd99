"""The synthetic driving world: the road (scene), its random look (randomise), its pictures (render)."""
from .randomise import CENTRE_CODES, Appearance
from .render import MASKS, SyntheticWorld
from .scene import (CAM_HEIGHT, CAR_HALF_WIDTH, MAX_STEER, V_TOP, WHEELBASE, Pose, Road)

__all__ = ["SyntheticWorld", "Pose", "Road", "Appearance", "MASKS", "CENTRE_CODES", "CAM_HEIGHT", "CAR_HALF_WIDTH",
           "MAX_STEER", "V_TOP", "WHEELBASE"]
