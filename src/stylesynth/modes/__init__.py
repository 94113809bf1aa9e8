"""The synthesis modes: reconstruct, texture and transfer configure the engine's `synthesize`
(engine/synthesis.py); dream runs its octaves on the same run setup, progress and record
(engine/run.py); figures and video (with its optical flow, flow.py) are made of transfers."""

from .dream import dream
from .figures import figure
from .reconstruct import reconstruct
from .texture import texture
from .transfer import transfer

__all__ = ["dream", "figure", "reconstruct", "texture", "transfer"]
