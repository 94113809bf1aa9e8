"""The synthesis modes, each a thin configuration of `synthesis.synthesize`."""

from .dream import dream
from .figures import figure
from .reconstruct import reconstruct
from .texture import texture
from .transfer import transfer

__all__ = ["dream", "figure", "reconstruct", "texture", "transfer"]
