"""Pictures of what an experiment folder's trained model computes, with an ``index.html`` (``trainlab viz``).

:func:`visualize_experiment` loads the model of a checkpoint, picks the images and the layer, draws each kind
of picture named in ``what`` (:data:`WHAT`) into ``out`` and rewrites the folder's ``index.html``. This module
imports torch only where it draws, so the CLI can list :data:`WHAT` without it.
"""
from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DataError, ModelError
from ..registry import close_matches

if TYPE_CHECKING:
    from torch import Tensor, nn

log = logging.getLogger(__name__)

ATTRIBUTION_PICTURES = ("saliency", "integrated-gradients", "gradcam", "occlusion")


@dataclass
class Pictures:
    """What :func:`visualize_experiment` wrote: ``(file, caption)`` per picture in the order drawn, and the index."""

    written: list[tuple[Path, str]]
    index: Path


@dataclass
class _Scene:
    """What every picture needs: the trained model, its data, the chosen layer/channel/images, where to write."""

    exp: Path
    model: nn.Module
    init_model: nn.Module
    data: Any
    named_layer: str | None  # as the caller gave it
    layer: str | None  # named_layer, or the default once a picture needed one
    named_channel: int | None
    images: Tensor  # (N, C, H, W) normalized
    names: list[str]  # one caption per image
    split: str
    target: str | int | None
    unit: tuple[int, ...] | None
    k: int
    max_images: int | None
    steps: int
    against: str
    out: Path
    on_picture: Callable[[Path, str], None] | None
    written: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def channel(self) -> int:
        return 0 if self.named_channel is None else self.named_channel

    @property
    def mean(self) -> list[float]:
        return list(self.data.mean)

    @property
    def std(self) -> list[float]:
        return list(self.data.std)

    def png(self, *parts: object) -> Path:
        stem = "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", str(p)) for p in parts if p not in (None, ""))
        return self.out / f"{stem}.png"

    def add(self, path: Path, caption: str) -> None:
        self.written.append((path, caption))
        if self.on_picture is not None:
            self.on_picture(path, caption)


def _load(exp: Path, checkpoint: str, overrides: Sequence[str]) -> tuple[nn.Module, nn.Module, Any]:
    """The checkpoint's model, the same model as its config initializes it (seeded), and the data."""
    from ..runs import checkpoint_path, learner_for_checkpoint

    learner, state = learner_for_checkpoint(checkpoint_path(exp, checkpoint), list(overrides), load_weights=False)
    init_model = copy.deepcopy(learner.model).eval()
    learner.load_state_dict(state, weights_only=True)
    model = learner.model
    # the model as a classifier: itself, or e.g. a detector seen as per-class scores (B, C)
    model, init_model = learner.task.classifier_view(model), learner.task.classifier_view(init_model)
    return model.eval(), init_model, learner.data


def _load_image(path: Path, shape: tuple[int, int, int], mean: list[float], std: list[float]) -> Tensor:
    import numpy as np
    import torch

    from ..images import read_image

    pixels = read_image(path, channels=shape[0], size=shape[1:])  # (H, W, C), EXIF orientation applied
    x = torch.from_numpy(pixels.astype(np.float32)).permute(2, 0, 1) / 255.0  # (C, H, W)
    return (x - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)


def _samples(data: Any, split: str, indices: list[int]) -> tuple[Tensor, list[str]]:
    """The images at ``indices`` of ``split`` and a caption of each one's target."""
    import torch

    loader = data.split(split)
    n = loader.num_samples
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise DataError(f"--index {bad[0]} is outside the {split} split of {n} samples (0-{n - 1}).")
    batches = list(loader.subset(torch.tensor(indices), train=False).batches(0))  # in the order given
    captions = []
    for _, y in batches:  # a class per sample, or a target that describes itself (e.g. boxes)
        captions += y.captions(data.class_names) if hasattr(y, "captions") else [
            f"label {data.class_names[k]}" for k in y.tolist()]
    return torch.cat([x for x, _ in batches]), captions


def _target(s: _Scene) -> int | None:
    if s.target is None:
        return None
    names = list(s.data.class_names)
    if s.target in names:
        return names.index(s.target)
    try:
        k = int(s.target)
    except ValueError:
        k = -1
    if not 0 <= k < len(names):
        raise ConfigError(f"--target {s.target!r} is not a class; use an index 0-{len(names) - 1} or one of "
                          f"{', '.join(names)}.")
    return k


def _layer(s: _Scene) -> str:
    if s.layer is None:
        from .hooks import default_layer, feature_map_layers

        s.layer = default_layer(s.model, dict(feature_map_layers(s.model, s.images[:1])))
        log.info("layer: %s (the last convolutional block; choose another with --layer)", s.layer)
    return s.layer


def _check_channel_and_unit(s: _Scene) -> None:
    """Refuse a channel or unit outside the chosen layer's output before any picture is drawn."""
    from .activations import describe_output

    shape = describe_output(s.model, s.images, _layer(s))  # (C, H, W) or (C,)
    if not 0 <= s.channel < shape[0]:
        raise ConfigError(f"--channel {s.channel} is out of range: {s.layer} has {shape[0]} channels "
                          f"(0-{shape[0] - 1}).")
    _unit(s, shape)


def _unit(s: _Scene, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The unit position (Y, X) in a layer output of ``shape`` (C, H, W); default its centre."""
    if s.unit is None:
        return tuple(n // 2 for n in shape[1:])
    if len(s.unit) != len(shape) - 1 or not all(0 <= p < n for p, n in zip(s.unit, shape[1:])):
        raise ConfigError(f"--unit {','.join(map(str, s.unit))} is outside {s.layer}'s output of "
                          f"{'×'.join(map(str, shape[1:]))} positions; give Y,X within it.")
    return s.unit


def _feature_maps(s: _Scene) -> None:
    from .activations import feature_maps
    from .pictures import plot_feature_maps, to_display

    layer = _layer(s)
    maps = feature_maps(s.model, s.images[0], layer)
    path = plot_feature_maps(maps, s.png("feature-maps", layer), image=to_display(s.images[0], s.mean, s.std),
                             title=f"{layer} feature maps for {s.names[0]}")
    s.add(path, f"Feature maps of {layer} ({maps.shape[0]} channels, {maps.shape[1]}×{maps.shape[2]}) for "
                f"{s.names[0]}; one colour scale for all channels.")


def _filters(s: _Scene) -> None:
    from .activations import layer_filters
    from .hooks import conv_layers
    from .pictures import plot_filters

    layer = s.named_layer or next(iter(conv_layers(s.model)), None)
    if layer is None:
        raise ModelError("the model has no convolution; filters need a Conv2d layer.")
    w = layer_filters(s.model, layer)
    s.add(plot_filters(w, s.png("filters", layer), title=layer), f"Filters of {layer}, shape {tuple(w.shape)}.")


def _histograms(s: _Scene) -> None:
    from .activations import layer_weights
    from .pictures import plot_weight_histograms

    path = plot_weight_histograms(layer_weights(s.model), s.png("histograms"), title="weights and biases per layer")
    s.add(path, "Histograms of each layer's weights (blue) and biases (orange).")


def _top_patches(s: _Scene) -> None:
    from .patches import top_patches
    from .pictures import plot_top_patches

    layer = _layer(s)
    result = top_patches(s.model, layer, s.channel, s.data.split(s.split), k=s.k, max_images=s.max_images)
    path = plot_top_patches(result, s.png("top-patches", layer, f"c{s.channel}"), mean=s.mean, std=s.std,
                            class_names=s.data.class_names)
    s.add(path, f"The {len(result.patches)} {s.split} images (of {result.images_seen}) that excite {layer} "
                f"channel {s.channel} most; red boxes: the receptive field of the strongest unit, enlarged.")


def _receptive_field(s: _Scene) -> None:
    from .activations import describe_output
    from .pictures import plot_receptive_field, to_display
    from .receptive_field import receptive_field

    layer = _layer(s)
    shape = describe_output(s.model, s.images, layer)
    position = _unit(s, shape)
    rf = receptive_field(s.model, layer, tuple(s.images.shape[1:]), (s.channel, *position))
    path = plot_receptive_field(rf, s.png("receptive-field", layer, *position),
                                image=to_display(s.images[0], s.mean, s.std), input_hw=tuple(s.images.shape[2:]))
    s.add(path, f"Input pixels that can change unit {rf.unit} of {layer} (output {tuple(shape)}): box {rf.box}, "
                f"{'×'.join(map(str, rf.size))} px.")


def _maximize(s: _Scene) -> None:
    from .maximize import maximize
    from .pictures import plot_maximization

    target = _target(s)
    shape = tuple(s.images.shape[1:])
    if target is not None:
        result = maximize(s.model, s.named_layer, class_index=target, input_shape=shape, steps=s.steps, n=4,
                          mean=s.mean, std=s.std, tv=0.25)
        what, name = f"class {s.data.class_names[target]}", s.png("maximize", "class", target)
    else:
        layer = _layer(s)
        result = maximize(s.model, layer, channel=s.channel, input_shape=shape, steps=s.steps, n=4, mean=s.mean,
                          std=s.std, tv=0.25)
        what, name = f"{layer} channel {s.channel}", s.png("maximize", layer, f"c{s.channel}")
    path = plot_maximization(result, name, title=f"images that maximize {what}")
    s.add(path, f"Activation maximization of {what} from noise ({s.steps} steps, FFT parameterization, jitter and "
                f"scaling, TV penalty): {result.final_value:.3g} versus {result.noise_value:.3g} on noise.")


def _attribution(method: str) -> Callable[[_Scene], None]:
    def draw(s: _Scene) -> None:
        import torch

        from .attributions import attribute, predicted_classes
        from .pictures import plot_attributions

        layer = _layer(s) if method == "gradcam" else None
        target = _target(s)
        targets = predicted_classes(s.model, s.images) if target is None else torch.full((s.images.shape[0],), target)
        options = {}
        if method in ("integrated-gradients", "occlusion"):  # start from / occlude with black, not the mean
            black = (0 - torch.tensor(s.mean)) / torch.tensor(s.std)  # (C,)
            options["baseline"] = black.view(1, -1, 1, 1).to(s.images).expand_as(s.images).contiguous()
        maps = attribute(method, s.model, s.images, targets, layer=layer, **options)
        names = s.data.class_names
        titles = [f"{n}\ntarget: {names[int(t)]}" for n, t in zip(s.names, targets)]
        path = plot_attributions(s.images, maps, s.png(method, layer), method=method + (f" ({layer})" if layer
                                 else ""), titles=titles, mean=s.mean, std=s.std)
        s.add(path, f"{method} for {len(titles)} image(s), target " + ("the predicted class" if target is None
                                                                     else names[target]) + ".")
    return draw


def _augment(s: _Scene) -> None:
    from .pictures import plot_sweeps
    from .watch import augment_and_watch

    layer = _layer(s)
    sweeps = augment_and_watch(s.model, layer, s.channel, s.images[0], mean=s.mean, std=s.std)
    path = plot_sweeps(sweeps, s.png("augment", layer, f"c{s.channel}"),
                       title=f"{layer} channel {s.channel} (max) on {s.names[0]}")
    s.add(path, f"How {layer} channel {s.channel} responds to noise, blur, rotation, brightness and occlusion of "
                f"{s.names[0]}.")


def _compare_filters(s: _Scene) -> None:
    from .compare import compare_filters
    from .hooks import conv_layers
    from .pictures import plot_filter_comparison

    layer = s.named_layer or next(iter(conv_layers(s.model)), None)
    if s.against == "init":
        other, label = s.init_model, "its initialization"
    else:
        from ..runs import checkpoint_path, learner_for_checkpoint

        path = checkpoint_path(s.exp, s.against)
        other, label = learner_for_checkpoint(path)[0].model.eval(), str(path)
    cmp = compare_filters(other, s.model, layer)
    path = plot_filter_comparison(cmp, s.png("compare-filters", layer))
    s.add(path, f"Filters of {layer}: {label} (top) versus the trained model (bottom); median change "
                f"{float(cmp.relative_change.median()):.0%}.")


def _progression(s: _Scene) -> None:
    from ..inspect.probes import read_probes
    from ..inspect.progression import plot_progression, progression, progression_gif

    record = read_probes(s.exp)
    layer = s.named_layer or record.layers[-1]
    if s.named_layer is None:
        log.info("layer: %s (the last recorded one; recorded: %s)", layer, ", ".join(record.layers))
    prog = progression(record, layer, s.named_channel)
    what = (f"channel {prog.channel} on {len(prog.columns)} {record.split} probe images" if prog.channel is not None
            else f"its {len(prog.columns)} strongest channels on {record.split} #{record.indices[0]}")
    span = f"epochs {', '.join(map(str, prog.epochs))}" if len(prog.epochs) <= 12 else \
        f"{len(prog.epochs)} records, epochs {prog.epochs[0]}-{prog.epochs[-1]}"
    stem = s.png("progression", layer, f"c{prog.channel}" if prog.channel is not None else "strongest")
    s.add(plot_progression(prog, stem), f"How {layer} learned: {what}, one row per recorded epoch ({span}; epoch 0 "
                                        "is the initialization); one colour scale per row.")
    s.add(progression_gif(prog, stem.with_suffix(".gif")), f"The same as an animation, one frame per recorded "
                                                           f"epoch ({span}).")


PICTURES: dict[str, Callable[[_Scene], None]] = {
    "feature-maps": _feature_maps, "filters": _filters, "histograms": _histograms, "top-patches": _top_patches,
    "receptive-field": _receptive_field, "maximize": _maximize, **{m: _attribution(m) for m in ATTRIBUTION_PICTURES},
    "augment": _augment, "compare-filters": _compare_filters, "progression": _progression,
}
WHAT = tuple(PICTURES)  # the kinds of picture, in the order "all" draws them


def visualize_experiment(exp: Path | str, what: Sequence[str], *, checkpoint: str = "best", layer: str | None = None,
                         channel: int | None = None, image: Path | str | None = None,
                         indices: Sequence[int] | None = None, split: str = "valid", target: str | int | None = None,
                         unit: tuple[int, int] | None = None, k: int = 9, max_images: int | None = None,
                         steps: int = 256, against: str = "init", out: Path | str | None = None,
                         overrides: Sequence[str] = (),
                         on_picture: Callable[[Path, str], None] | None = None) -> Pictures:
    """Draw the pictures named in ``what`` (any of :data:`WHAT`, or ``"all"``) of the model in ``exp``'s
    ``checkpoint`` into ``out`` (default ``exp/viz``) and rewrite ``out/index.html``.

    ``layer`` is a qualified module name (default: the model's last convolutional block; filters and
    compare-filters: its first convolution; progression: the last recorded layer), ``channel`` a channel of it
    (default 0; progression: the strongest channels). The images are ``image`` (a PNG/JPEG file, resized to the
    model's input) or samples ``indices`` of ``split`` (default 0, and 0-3 for attributions). ``target`` is a
    class (index or name) for attributions and class maximization (default: the predicted class), ``unit``
    the (Y, X) position in ``layer``'s output for the receptive field (default the centre); ``k`` and
    ``max_images`` bound top-patches, ``steps`` maximize; ``against`` is the checkpoint compare-filters sets
    the trained filters beside (``init``, ``best``, ``last`` or a path). ``on_picture(path, caption)`` is
    called as each picture is written. Bad choices raise :class:`~trainlab.errors.TrainlabError` before any
    picture is drawn where they can be checked then.

    Example:
        >>> pics = visualize_experiment("experiments/digits-cnn", ["feature-maps", "saliency"],
        ...                             layer="block1", indices=[0, 1])  # doctest: +SKIP
        >>> [p.name for p, _ in pics.written], pics.index.name  # doctest: +SKIP
        (['feature-maps-block1.png', 'saliency.png'], 'index.html')
    """
    from .hooks import get_layer
    from .report import update_index

    exp = Path(exp)
    unknown = [w for w in what if w not in (*WHAT, "all")]
    if unknown:
        raise ConfigError(f"unknown picture {unknown[0]!r}.{close_matches(unknown[0], list(WHAT))} Choose from "
                          f"{', '.join(WHAT)}, all.")
    kinds = list(WHAT) if "all" in what else list(dict.fromkeys(what))
    if "all" in what and not (exp / "probes").is_dir():
        kinds.remove("progression")  # only runs trained with logging.probe have records
    model, init_model, data = _load(exp, checkpoint, overrides)
    if layer is not None:
        get_layer(model, layer)  # fail early, with the close names
    if image is not None:
        images = _load_image(Path(image), data.input_shape, list(data.mean), list(data.std)).unsqueeze(0)
        names = [Path(image).name]
    else:
        chosen = list(indices or ([0, 1, 2, 3] if set(ATTRIBUTION_PICTURES) & set(kinds) else [0]))
        chosen = chosen[: data.split(split).num_samples]
        images, captions = _samples(data, split, chosen)
        names = [f"{split} #{i}, {c}" for i, c in zip(chosen, captions)]
    device = next(iter(model.parameters())).device
    scene = _Scene(exp=exp, model=model, init_model=init_model, data=data, named_layer=layer, layer=layer,
                   named_channel=channel, images=images.to(device), names=names, split=split,
                   target=target, unit=None if unit is None else tuple(unit), k=k, max_images=max_images,
                   steps=steps, against=against, out=Path(out) if out is not None else exp / "viz",
                   on_picture=on_picture)
    if channel or unit is not None:
        _check_channel_and_unit(scene)
    for kind in kinds:
        PICTURES[kind](scene)
    index = update_index(scene.out, scene.written, title=f"trainlab viz: {exp}")
    return Pictures(written=scene.written, index=index)
