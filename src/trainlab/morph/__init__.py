"""Function-preserving transforms: widen and deepen a trained network without changing its outputs.

Pure functions from a model to a new model (the input is left alone unless ``inplace=True``):

- :func:`volumes` lists the channel volumes of a network (traced with torch.fx) and which of them
  :func:`widen` may change;
- :func:`widen` adds channels: R2WiderR (Painter, "Towards a More Complete Theory of Function
  Preserving Transforms", 2019), Net2WiderNet (Chen et al., ICLR 2016), NetMorph (Wei et al.,
  ICML 2016), or random padding as a non-preserving baseline; through grouped and depthwise
  convolutions (new groups), squeeze-and-excitation, stochastic depth and auxiliary heads, and by
  default into every volume it can widen (the rest named in a :class:`SkippedVolumesWarning`);
- :func:`deepen` inserts identity-computing layers: R2DeeperR zero-branch residual blocks or
  Net2DeeperNet identity convolutions;
- :func:`rebuild_optimizer` makes the optimizer for the new model, lr scaled by old/new
  parameter count.

"Function preserving" means equal outputs in eval mode (BatchNorm running statistics, no dropout)
up to float rounding; in training mode dropout and batch statistics make the halves differ.

Saving and loading: a transformed model is an ordinary module (the original class with larger or
extra layers; a ``GraphModule`` only when ``widen`` had to rewrite a hard-coded ``view``). Its
``state_dict`` saves normally. To load it, rebuild the base model, apply the same transforms with
the same arguments (shapes and names are deterministic; the random values do not matter) and call
``load_state_dict``. Pickling the whole module with ``torch.save(model)`` also works, but such files
cannot be read with ``weights_only=True``.

Example:
    >>> import torch, torchvision
    >>> from trainlab import morph
    >>> net = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    >>> x = torch.randn(2, 3, 32, 32)
    >>> big = morph.deepen(morph.widen(net, x, factor=1.5), x, where=["layer4"]).eval()
    >>> bool((big(x) - net(x)).abs().max() < 1e-4), big.fc.in_features, len(big.layer4)
    (True, 768, 3)
"""
from ..lazy import lazy_exports

# imported on first use: `trainlab morph --help` and the feature's registration must not import torch
lazy_exports(__name__, {
    ".blocks": ["ResidualBlock"],
    ".deepen": ["deepen"],
    ".graph": ["volumes"],
    ".layout": ["Volume"],
    ".optim": ["rebuild_optimizer"],
    ".widen": ["SkippedVolumesWarning", "widen"],
})
