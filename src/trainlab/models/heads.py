"""Find a model's classifier head, and freeze the rest (the usual first step of fine-tuning).

trainlab's own models name their head ``head``; torchvision models use ``fc`` (ResNet, RegNet,
GoogLeNet, ShuffleNet), ``classifier`` (VGG, DenseNet, MobileNet, EfficientNet, ConvNeXt, MaxViT, ...),
``heads`` (ViT) or ``head`` (Swin).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from torch import nn

from ..errors import ModelError

log = logging.getLogger(__name__)

HEAD_NAMES: tuple[str, ...] = ("head", "heads", "fc", "classifier")


def head_name(model: nn.Module) -> str:
    """Name of the top-level child that is the classifier head.

    Example:
        >>> from trainlab.models import build_model
        >>> head_name(build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8)))
        'head'
    """
    children = dict(model.named_children())
    for name in HEAD_NAMES:
        if name in children:
            return name
    raise ModelError(
        f"cannot find the classifier head of {type(model).__name__}: expected a top-level module named "
        f"{', '.join(HEAD_NAMES)}; its top-level modules are {', '.join(children) or 'none'}. "
        "Rename the classifier to 'head'."
    )


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of the classifier head (frozen or not), in registration order.

    Example:
        >>> from trainlab.models import build_model
        >>> m = build_model("mlp", num_classes=3, in_channels=1, input_size=(4, 4), hidden_sizes=[8])
        >>> [tuple(p.shape) for p in head_parameters(m)]
        [(3, 8), (3,)]
    """
    return list(model.get_submodule(head_name(model)).parameters())


def top_level_names(model: nn.Module) -> list[str]:
    """Names of the top-level children and of parameters owned directly by ``model``, in order."""
    return [n for n, _ in model.named_parameters(recurse=False)] + [n for n, _ in model.named_children()]


def matches(param_name: str, prefix: str) -> bool:
    """Whether ``param_name`` lies under the module (or is the parameter) named ``prefix``."""
    return param_name == prefix or param_name.startswith(prefix + ".")


def check_prefixes(model: nn.Module, prefixes: Iterable[str], what: str, hint: str = "") -> None:
    """Raise ModelError for a prefix that names no parameter of ``model``."""
    names = [n for n, _ in model.named_parameters()]
    for prefix in prefixes:
        if not isinstance(prefix, str) or not any(matches(n, prefix) for n in names):
            raise ModelError(
                f"{what} {prefix!r} matches no parameter of {type(model).__name__}. Use module-name prefixes "
                f"such as its top-level modules: {', '.join(top_level_names(model))}.{hint}"
            )


def freeze(model: nn.Module, spec: bool | str | list[str] | None) -> None:
    """Set ``requires_grad=False`` on the parameters ``spec`` names.

    Args:
        model: the model, changed in place.
        spec: ``True`` or ``"all_but_head"``: freeze everything but the head (whose parameters are made
            trainable); a name prefix or a list of them (e.g. ``["conv1", "layer1"]``): freeze the
            parameters under those modules; ``None`` or ``False``: change nothing.
            Gradients stop here; whether a frozen BatchNorm layer also keeps its running statistics is the
            Learner's ``freeze_bn_stats`` (``model.freeze_bn_stats``, true by default: it runs in eval mode).

    Example:
        >>> from trainlab.models import build_model
        >>> m = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))
        >>> freeze(m, "all_but_head")
        >>> sorted({n.split(".")[0] for n, p in m.named_parameters() if p.requires_grad})
        ['head']
    """
    if spec is None or spec is False:
        return
    if spec is True or spec == "all_but_head":
        head = head_name(model)
        for name, param in model.named_parameters():
            param.requires_grad_(matches(name, head))
        log.info("froze all parameters of %s but its head %r", type(model).__name__, head)
        return
    prefixes = [spec] if isinstance(spec, str) else spec
    if not isinstance(prefixes, (list, tuple)):
        raise ModelError(
            f"freeze must be true, false, 'all_but_head' or a list of module-name prefixes; got {spec!r}."
        )
    check_prefixes(model, prefixes, "freeze prefix", " Or use 'all_but_head' to train only the head.")
    frozen = 0
    for name, param in model.named_parameters():
        if any(matches(name, p) for p in prefixes):
            param.requires_grad_(False)
            frozen += param.numel()
    log.info("froze %d parameters under %s", frozen, ", ".join(prefixes))
