"""Look inside a trained model: feature maps, filters, top patches, receptive fields, activation
maximization and attributions. Every function takes any ``nn.Module`` and qualified layer names
(``trainlab summary EXP`` lists them); pictures are in :mod:`trainlab.viz.pictures`.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from trainlab import viz
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    >>> viz.receptive_field(net, "2", (1, 16, 16), unit=(0, 8, 8)).size
    (5, 5)
"""
from __future__ import annotations

from .activations import activations, channel_response, feature_maps, filters, layer_filters, layer_weights
from .attributions import ATTRIBUTIONS, attribute, grad_cam, integrated_gradients, occlusion, saliency
from .compare import FilterComparison, compare_filters
from .geometry import AnalyticRF, analytic_receptive_field
from .hooks import conv_layers, get_layer, layer_names
from .maximize import Maximization, maximize
from .patches import Patch, TopPatches, top_patches
from .receptive_field import ReceptiveField, receptive_field, receptive_fields
from .watch import AUGMENTATIONS, ActivationChange, Sweep, activation_change, augment_and_watch, paste_patch

__all__ = [
    "ATTRIBUTIONS", "AUGMENTATIONS", "ActivationChange", "AnalyticRF", "FilterComparison", "Maximization", "Patch",
    "ReceptiveField", "Sweep", "TopPatches", "activation_change", "activations", "analytic_receptive_field",
    "attribute", "augment_and_watch", "channel_response", "compare_filters", "conv_layers", "feature_maps",
    "filters", "get_layer", "grad_cam", "integrated_gradients", "layer_filters", "layer_names", "layer_weights",
    "maximize", "occlusion", "paste_patch", "receptive_field", "receptive_fields", "saliency", "top_patches",
]
