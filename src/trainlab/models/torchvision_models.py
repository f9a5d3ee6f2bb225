"""Every torchvision classification model, registered by its torchvision name and built lazily.

torchvision is imported only when one of these models is built (importing it costs ~1.5 s), so the
names are listed here as plain data; ``tests/models`` checks the list against
``torchvision.models.list_models(module=torchvision.models)``.

A built model differs from torchvision's in four ways, all on request:
* the first convolution takes ``in_channels`` channels (re-initialised when it changes);
* ``small_stem=True`` (CNN families) makes the stem a 3x3 stride-1 conv and drops the stem max-pool,
  the usual adaptation for 32x32 images (e.g. the CIFAR ResNets of He et al. 2016,
  https://arxiv.org/abs/1512.03385); patch-based transformers (ViT, Swin, MaxViT) and Inception-v3
  raise ``ModelError`` instead;
* ``dropout`` goes right before the final classifier layer: through torchvision's own ``dropout``
  argument where the family has one (it then replaces torchvision's default, e.g. VGG's 0.5, and also
  sets the dropout of VGG's hidden classifier layers; AlexNet's two dropouts precede its hidden
  layers), else by replacing the final ``nn.Linear`` with ``nn.Sequential(nn.Dropout(p), linear)``
  (only when ``p > 0``; ``load_pretrained`` maps ``fc.weight`` to ``fc.1.weight`` and back);
* ViT gets ``image_size`` and MaxViT ``input_size`` from ``input_size``; GoogLeNet and Inception-v3
  are built without auxiliary classifiers (pass ``aux_logits=True`` to get them back).
"""
from __future__ import annotations

import functools
import inspect
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import ModelError, echo, shorten
from .heads import head_name
from .registry import MODELS

# torchvision 0.29: torchvision.models.list_models(module=torchvision.models)
TORCHVISION_MODEL_NAMES: tuple[str, ...] = (
    "alexnet",
    *(f"convnext_{s}" for s in ("base", "large", "small", "tiny")),
    *(f"densenet{d}" for d in (121, 161, 169, 201)),
    *(f"efficientnet_b{i}" for i in range(8)),
    *(f"efficientnet_v2_{s}" for s in ("l", "m", "s")),
    "googlenet",
    "inception_v3",
    "maxvit_t",
    *(f"mnasnet{a}" for a in ("0_5", "0_75", "1_0", "1_3")),
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    *(f"regnet_x_{s}" for s in ("16gf", "1_6gf", "32gf", "3_2gf", "400mf", "800mf", "8gf")),
    *(f"regnet_y_{s}" for s in ("128gf", "16gf", "1_6gf", "32gf", "3_2gf", "400mf", "800mf", "8gf")),
    *(f"resnet{d}" for d in (101, 152, 18, 34, 50)),
    "resnext101_32x8d",
    "resnext101_64x4d",
    "resnext50_32x4d",
    *(f"shufflenet_v2_x{s}" for s in ("0_5", "1_0", "1_5", "2_0")),
    "squeezenet1_0",
    "squeezenet1_1",
    *(f"swin_{s}" for s in ("b", "s", "t", "v2_b", "v2_s", "v2_t")),
    *(f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")),
    *(f"vit_{s}" for s in ("b_16", "b_32", "h_14", "l_16", "l_32")),
    "wide_resnet101_2",
    "wide_resnet50_2",
)

# Options trainlab sets itself; a user passing them gets a ModelError pointing at the right argument.
_RESERVED = {
    "weights": "use trainlab.models.load_pretrained(model, path) after building (nothing downloads)",
    "progress": "nothing downloads, so there is no progress bar",
    "num_classes": "pass num_classes to build_model",
    "image_size": "pass input_size to build_model",
    "input_size": "pass input_size to build_model",
}


@dataclass(frozen=True)
class _Family:
    """How one torchvision family is adapted. ``stem`` is None where small_stem is unsupported."""

    native_dropout: bool  # the builder takes `dropout` = p of the Dropout right before the classifier
    stem: Callable[[nn.Module, int], None] | None
    patch_embedding: bool = False  # first conv is a patch embedding (init like a linear layer)
    unsupported_reason: str = ""


def _new_conv(old: nn.Conv2d, in_channels: int, *, small: bool, patch: bool) -> nn.Conv2d:
    """A conv like ``old`` with ``in_channels`` inputs (3x3 stride 1 when ``small``), freshly initialised."""
    kernel, stride, padding = (3, 1, 1) if small else (old.kernel_size, old.stride, old.padding)
    conv = nn.Conv2d(
        in_channels, old.out_channels, kernel, stride=stride, padding=padding, dilation=1 if small else old.dilation,
        groups=1, bias=old.bias is not None, device=old.weight.device, dtype=old.weight.dtype,
    )
    if patch:  # ViT-style patch embedding: truncated normal with std 1/sqrt(fan_in), as torchvision does
        fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
        nn.init.trunc_normal_(conv.weight, std=math.sqrt(1.0 / fan_in))
    else:
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def _set(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, leaf, module)


def _small_conv(path: str) -> Callable[[nn.Module, int], None]:
    """Stem adapter: replace the conv at ``path`` with a 3x3 stride-1 one."""

    def adapt(model: nn.Module, in_channels: int) -> None:
        old = model.get_submodule(path)
        assert isinstance(old, nn.Conv2d), f"{path} is {type(old).__name__}"
        _set(model, path, _new_conv(old, in_channels, small=True, patch=False))

    return adapt


def _stride_one(path: str) -> Callable[[nn.Module, int], None]:
    """Stem adapter for stems that are already 3x3: only the stride becomes 1."""

    def adapt(model: nn.Module, in_channels: int) -> None:
        conv = model.get_submodule(path)
        assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3), f"{path} is {conv}"
        conv.stride = (1, 1)

    return adapt


def _then_no_pool(first: Callable[[nn.Module, int], None], pool_path: str) -> Callable[[nn.Module, int], None]:
    """Chain a stem adapter with replacing the stem max-pool at ``pool_path`` by ``nn.Identity``."""

    def adapt(model: nn.Module, in_channels: int) -> None:
        first(model, in_channels)
        assert isinstance(model.get_submodule(pool_path), nn.MaxPool2d), pool_path
        _set(model, pool_path, nn.Identity())  # no parameters: state-dict keys are unchanged

    return adapt


def _vgg_stem(model: nn.Module, in_channels: int) -> None:
    """VGG's first conv is already 3x3 stride 1; drop the first max-pool."""
    features = model.get_submodule("features")
    first_pool = next(i for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d))
    features[first_pool] = nn.Identity()


_PATCH_REASON = "it embeds patches with a transformer; choose input_size (a multiple of its patch size) instead"
_FAMILIES: dict[str, _Family] = {
    "resnet": _Family(False, _then_no_pool(_small_conv("conv1"), "maxpool")),
    "regnet": _Family(False, _stride_one("stem.0")),
    "densenet": _Family(False, _then_no_pool(_small_conv("features.conv0"), "features.pool0")),
    "vgg": _Family(True, _vgg_stem),
    "alexnet": _Family(True, _then_no_pool(_small_conv("features.0"), "features.2")),
    "squeezenet": _Family(True, _then_no_pool(_small_conv("features.0"), "features.2")),
    "googlenet": _Family(True, _then_no_pool(_small_conv("conv1.conv"), "maxpool1")),
    "inception": _Family(True, None, unsupported_reason="Inception-v3 needs inputs of at least 75x75"),
    "mobilenet": _Family(True, _stride_one("features.0.0")),
    "efficientnet": _Family(True, _stride_one("features.0.0")),
    "mnasnet": _Family(True, _stride_one("layers.0")),
    "shufflenet": _Family(False, _then_no_pool(_stride_one("conv1.0"), "maxpool")),
    "convnext": _Family(False, _small_conv("features.0.0"), patch_embedding=True),
    "swin": _Family(False, None, patch_embedding=True, unsupported_reason=_PATCH_REASON),
    "vit": _Family(False, None, patch_embedding=True, unsupported_reason=_PATCH_REASON),
    "maxvit": _Family(False, None, unsupported_reason="MaxViT needs height and width that are multiples of 224"),
}


def family_of(name: str) -> str:
    """The adaptation family of a torchvision model name.

    Example:
        >>> family_of("wide_resnet50_2"), family_of("mobilenet_v3_small")
        ('resnet', 'mobilenet')
    """
    for prefix, family in (("resnext", "resnet"), ("wide_resnet", "resnet"), ("maxvit", "maxvit")):
        if name.startswith(prefix):
            return family
    for family in _FAMILIES:
        if name.startswith(family):
            return family
    raise ModelError(f"no trainlab adaptation for torchvision model {name!r}; known families: {sorted(_FAMILIES)}.")


def _builder_kwargs(name: str, family: str, input_size: tuple[int, int], dropout: float) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if _FAMILIES[family].native_dropout:
        kwargs["dropout"] = dropout
    if family in ("googlenet", "inception"):
        # Auxiliary heads make training-mode outputs namedtuples; init_weights=True silences a FutureWarning.
        kwargs.update(aux_logits=False, init_weights=True)
    if family == "vit":
        if input_size[0] != input_size[1]:
            raise ModelError(f"{name} needs square inputs (ViT's image_size), got input_size={input_size}.")
        kwargs["image_size"] = input_size[0]
    if family == "maxvit":
        kwargs["input_size"] = input_size
    return kwargs


def _wrap_final_linear(model: nn.Module, head: str, dropout: float) -> None:
    """Replace the last ``nn.Linear`` under ``head`` with ``Sequential(Dropout(dropout), linear)``."""
    head_module = model.get_submodule(head)
    path = head if isinstance(head_module, nn.Linear) else None
    if path is None:
        path = [f"{head}.{n}" for n, m in head_module.named_modules() if isinstance(m, nn.Linear)][-1]
    _set(model, path, nn.Sequential(nn.Dropout(dropout), model.get_submodule(path)))


def _allowed_options(name: str, message: str) -> str:
    """' Allowed options: ...' from the signature of the class a TypeError names ('ResNet.__init__() ...')."""
    import torchvision.models

    match = re.match(r"(\w+)\.__init__\(\)", message)
    module = sys.modules[torchvision.models.get_model_builder(name).__module__]
    cls = getattr(module, match.group(1), None) if match else None
    if not isinstance(cls, type):
        return ""
    # Parameters without defaults are filled by torchvision's builder; trainlab sets the reserved ones, and
    # `dropout` is build_model's own argument (for Swin/ViT, whose `dropout` is inside the blocks, unreachable).
    params = inspect.signature(cls.__init__).parameters.values()
    skip = {*_RESERVED, "dropout"}
    names = [p.name for p in params if p.default is not inspect.Parameter.empty and p.name not in skip]
    return f" Allowed options: {', '.join(names) or 'none'}."


def _first_conv_path(model: nn.Module) -> str:
    return next(name for name, m in model.named_modules() if isinstance(m, nn.Conv2d))


def build_torchvision(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    input_size: tuple[int, int],
    dropout: float = 0.0,
    small_stem: bool = False,
    **options: Any,
) -> nn.Module:
    """Build torchvision model ``name`` with ``weights=None``, adapted as the module docstring says.

    Example:
        >>> import torch
        >>> m = build_torchvision("resnet18", num_classes=10, in_channels=1, input_size=(32, 32),
        ...                       small_stem=True)
        >>> m(torch.zeros(2, 1, 32, 32)).shape
        torch.Size([2, 10])
    """
    import torchvision.models  # deferred: ~1.5 s to import

    family = family_of(name)
    spec = _FAMILIES[family]
    reserved = sorted(set(options) & set(_RESERVED))
    if reserved:
        raise ModelError(f"option {reserved[0]!r} is set by trainlab for model {name!r}: {_RESERVED[reserved[0]]}.")
    if small_stem and spec.stem is None:
        raise ModelError(
            f"small_stem=True is unsupported for {name} ({family} family): {spec.unsupported_reason}. "
            "Set small_stem to false, or choose a CNN such as resnet18 for small images."
        )
    kwargs = {**_builder_kwargs(name, family, input_size, dropout), **options}
    try:
        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)
    except (TypeError, ValueError, AssertionError, RuntimeError) as err:
        allowed = _allowed_options(name, str(err)) if isinstance(err, TypeError) else ""
        advice = allowed or f" Check the options against torchvision's {name} documentation."
        raise ModelError(  # kept short: the allowed options must survive the one-line limit
            f"torchvision could not build {name} with options {echo(options or {})} (input_size {input_size}): "
            f"{shorten(str(err), 100)}.{advice}"
        ) from err
    if small_stem:
        assert spec.stem is not None
        spec.stem(model, in_channels)
    conv_path = _first_conv_path(model)
    conv = model.get_submodule(conv_path)
    if conv.in_channels != in_channels:
        _set(model, conv_path, _new_conv(conv, in_channels, small=False, patch=spec.patch_embedding))
    if dropout > 0 and not spec.native_dropout:
        _wrap_final_linear(model, head_name(model), dropout)
    return model


def _register_all() -> None:
    for name in TORCHVISION_MODEL_NAMES:
        MODELS.register(name)(functools.partial(build_torchvision, name))


_register_all()
