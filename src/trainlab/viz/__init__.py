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

from ..lazy import lazy_exports

# imported on first use: `trainlab viz --help` and the feature's registration must not import torch
lazy_exports(__name__, {
    ".activations": ["activations", "channel_response", "feature_maps", "filters", "layer_filters", "layer_weights"],
    ".attributions": ["ATTRIBUTIONS", "attribute", "grad_cam", "integrated_gradients", "occlusion", "saliency"],
    ".compare": ["FilterComparison", "compare_filters"],
    ".experiment": ["Pictures", "visualize_experiment"],
    ".geometry": ["AnalyticRF", "analytic_receptive_field"],
    ".hooks": ["conv_layers", "default_layer", "feature_map_layers", "get_layer", "layer_names"],
    ".maximize": ["Maximization", "maximize"],
    ".patches": ["Patch", "TopPatches", "top_patches"],
    ".receptive_field": ["ReceptiveField", "receptive_field", "receptive_fields"],
    ".watch": ["AUGMENTATIONS", "ActivationChange", "Sweep", "activation_change", "augment_and_watch", "paste_patch"],
})
