"""Inspecting fitted GRU estimators: gradient attributions and their display."""

from ._attributions import integrated_gradients, saliency
from ._display import AttributionDisplay

__all__ = ["AttributionDisplay", "integrated_gradients", "saliency"]
