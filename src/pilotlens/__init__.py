"""pilotlens: see what a convolutional network looks at when it decides."""
from .allocator import keep_freed_memory
from .batch import batch
from . import methods  # the package, callable: methods() lists the method names
from .explain import explain, explainer
from .layer_views import conv_filters, feature_maps
from .layers import LayerNotFound, find_layer, format_layers, trace
from .methods.base import Explainer
from .notebook import show
from .saliency import Saliency, normalize
from .targets import Class, Index, Steering, Sum, Target

__version__ = "0.1.0"
__all__ = ["explain", "explainer", "methods", "Explainer", "Saliency", "normalize", "trace", "find_layer",
           "format_layers", "LayerNotFound", "feature_maps", "conv_filters", "Target", "Index", "Class",
           "Steering", "Sum", "keep_freed_memory", "batch", "show"]
