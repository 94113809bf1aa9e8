"""stylesynth: image synthesis from the representations of deep convolutional networks."""

__version__ = "0.1.0"

from .errors import InputError, StylesynthError  # noqa: E402

__all__ = ["__version__", "InputError", "StylesynthError"]
