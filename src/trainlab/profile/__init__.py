"""FLOPs and parameters per layer, forward and backward, RNNs included (issue 7).

``count(model, example_input)`` returns a :class:`Profile` (totals, one row per module, ``table()``
and ``to_json()``); ``flops_per_sample`` gives the training cost of one sample for the Learner and
``model_signature`` tells when a model changed shape and must be counted again.
FLOPs are floating-point operations (a multiply-add is 2 FLOPs = 1 MAC); MACs are reported apart.

Example:
    >>> import torch
    >>> from trainlab.profile import count
    >>> count(torch.nn.Linear(4, 2), torch.zeros(3, 4)).forward_macs
    24
"""
from ..lazy import lazy_exports

# imported on first use: `trainlab flops --help` and the feature's registration must not import torch
lazy_exports(__name__, {
    ".counter": ["count", "flops_per_sample", "model_signature"],
    ".report": ["ModuleRow", "Profile", "format_count"],
})
