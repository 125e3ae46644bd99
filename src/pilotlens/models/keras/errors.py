"""The one error a Keras file's content raises (its own module, so the readers share it without a circle)."""


class KerasConfigError(ValueError):
    """A Keras file whose configuration or weights pilotlens cannot convert; the message names the layer."""
