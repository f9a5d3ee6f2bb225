"""The model registry: one name per architecture, one ``build_model`` call for all of them.

Every registered builder is a function taking the keyword arguments ``num_classes``, ``in_channels``,
``input_size``, ``dropout`` and ``small_stem`` plus its own options; the models are built lazily
(registering ~80 torchvision names costs a dict entry each, not a model).

Example:
    >>> from trainlab.models import build_model
    >>> model = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8))
    >>> type(model).__name__
    'TinyCNN'
"""
from __future__ import annotations

import logging
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import ModelError
from ..registry import Registry, close_matches

log = logging.getLogger(__name__)

ModelBuilder = Callable[..., nn.Module]

# Features register their models too (trainlab.ocr: crnn, attention_ocr).
MODELS: Registry[ModelBuilder] = Registry("model", features=True)


def list_models() -> list[str]:
    """Names of every registered model, sorted.

    Example:
        >>> from trainlab.models import list_models
        >>> {"mlp", "cnn_tiny", "cnn_small", "resnet18"} <= set(list_models())
        True
    """
    return MODELS.list()


def build_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    input_size: tuple[int, int],
    dropout: float = 0.0,
    small_stem: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """Build the registered model ``name`` for ``num_classes`` classes and ``in_channels``-channel images.

    Args:
        name: a name from :func:`list_models` (unknown names raise ``UnknownNameError`` with close matches).
        num_classes: number of outputs of the classifier head.
        in_channels: channels of the input images (1 for grayscale; the first conv is adapted).
        input_size: ``(height, width)`` of the input images; models that need it (MLP, ViT, MaxViT) use it.
        dropout: probability of the dropout applied right before the final classifier layer. For torchvision
            models that have their own classifier dropout (VGG, MobileNet, EfficientNet, ...) this value
            replaces their default.
        small_stem: for torchvision CNNs, a 3x3 stride-1 first conv and no stem max-pool, for small images
            (e.g. 28x28 or 32x32); trainlab's own models are built for small images already and ignore it.
        **kwargs: options of the model itself (e.g. ``width`` for ``cnn_small``); unknown options raise
            ``ModelError`` naming the allowed ones.

    Returns:
        An ``nn.Module`` in training mode whose classifier head :func:`trainlab.models.head_name` finds.

    Example:
        >>> model = build_model("resnet18", num_classes=10, in_channels=1, input_size=(28, 28),
        ...                     small_stem=True)
        >>> model.conv1.in_channels, model.fc.out_features
        (1, 10)
    """
    builder = MODELS.get(name)
    _validate_common(name, num_classes, in_channels, input_size, dropout, small_stem)
    model = builder(
        num_classes=int(num_classes),
        in_channels=int(in_channels),
        input_size=(int(input_size[0]), int(input_size[1])),
        dropout=float(dropout),
        small_stem=bool(small_stem),
        **kwargs,
    )
    _check_input(model, name, in_channels, input_size)
    log.debug("built model %s (%d parameters)", name, sum(p.numel() for p in model.parameters()))
    return model


def _check_input(model: nn.Module, name: str, in_channels: int, input_size: tuple[int, int]) -> None:
    """Run one (1, C, H, W) zero image through ``model`` in eval mode without gradients.

    A model that cannot take ``input_size`` then fails here with a clear ModelError rather than with a
    shape error at the first training step. Eval mode leaves BatchNorm's running statistics untouched; the
    cost is one forward of one image. (The meta device would spare the compute, but its BatchNorm kernel
    imports torch._dynamo: seconds before every run's first line.)
    """
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_channels, *input_size))
    except (RuntimeError, ValueError, AssertionError, IndexError) as err:
        raise ModelError(
            f"model {name!r} cannot take inputs of {in_channels}x{input_size[0]}x{input_size[1]} "
            f"(channels x height x width): {err}. Use larger images (input_size), small_stem=True for "
            "torchvision CNNs, or a model made for small images such as cnn_small."
        ) from err
    finally:
        for module, training in flags.items():
            module.training = training


def take_options(model_name: str, given: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated with ``given``; a key of ``given`` that is not in ``defaults`` raises ModelError.

    Example:
        >>> take_options("cnn_small", {"width": 16}, {"width": 32, "blocks": 1})
        {'width': 16, 'blocks': 1}
    """
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        allowed = ", ".join(sorted(defaults)) or "none"
        hints = "".join(close_matches(key, list(defaults)) for key in unknown)
        raise ModelError(
            f"unknown option(s) {', '.join(repr(k) for k in unknown)} for model {model_name!r}."
            f"{hints} Allowed options: {allowed}. Remove or rename the option in the model section."
        )
    return {**defaults, **given}


def _validate_common(
    name: str,
    num_classes: Any,
    in_channels: Any,
    input_size: Any,
    dropout: Any,
    small_stem: Any,
) -> None:
    """Check the arguments every builder shares; the messages say what was received and what is allowed."""
    if not _is_int(num_classes) or num_classes < 1:
        raise ModelError(f"num_classes for model {name!r} must be an integer >= 1, got {num_classes!r}.")
    if not _is_int(in_channels) or in_channels < 1:
        raise ModelError(
            f"in_channels for model {name!r} must be an integer >= 1 (1 for grayscale, 3 for RGB), "
            f"got {in_channels!r}."
        )
    if not isinstance(input_size, (tuple, list)) or len(input_size) != 2 or not all(
        _is_int(s) and s >= 1 for s in input_size
    ):
        raise ModelError(
            f"input_size for model {name!r} must be (height, width) with two positive integers, "
            f"got {input_size!r}."
        )
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout < 1.0:
        raise ModelError(f"dropout for model {name!r} must be a number in [0, 1), got {dropout!r}.")
    if not isinstance(small_stem, bool):
        raise ModelError(f"small_stem for model {name!r} must be true or false, got {small_stem!r}.")


def _is_int(value: Any) -> bool:
    """Python or NumPy integers (a class count from scikit-learn is often ``numpy.int64``), not bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
