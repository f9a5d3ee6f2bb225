"""`trainlab viz`: pictures of what EXP's trained model computes, with an index.html (trainlab.viz)."""
from __future__ import annotations

import argparse
import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import ConfigError, DataError, ModelError
from .common import add_set

WHAT = ("feature-maps", "filters", "histograms", "top-patches", "receptive-field", "maximize", "saliency",
        "integrated-gradients", "gradcam", "occlusion", "augment", "compare-filters", "progression")


def register(verbs: argparse._SubParsersAction) -> None:
    v = verbs.add_parser(
        "viz", help="pictures of what a trained model computes (feature maps, top patches, saliency, ...)",
        description="Writes PNGs and an index.html into --out (default EXP/viz). Layer names are qualified "
                    "module names as `trainlab summary EXP` lists them, e.g. stage2.0.conv1.")
    v.add_argument("exp", type=Path, help="a trained experiment folder")
    v.add_argument("--what", nargs="+", required=True, choices=[*WHAT, "all"], metavar="WHAT",
                   help=f"one or more of: {', '.join(WHAT)}, all")
    v.add_argument("--layer", help="module name (default: the last convolutional block; filters: the first conv)")
    v.add_argument("--channel", type=int, help="channel of --layer (default 0; progression: the strongest channels)")
    src = v.add_mutually_exclusive_group()
    src.add_argument("--image", type=Path, help="an image file (resized and converted to the model's input)")
    src.add_argument("--index", type=int, nargs="+", metavar="I",
                     help="sample(s) of --split (default: 0; attributions: 0 1 2 3)")
    v.add_argument("--split", default="valid", choices=["train", "valid", "test"])
    v.add_argument("--target", help="class (index or name): attribution target (default: the predicted class); "
                                    "with maximize: synthesize this class instead of a channel")
    v.add_argument("--unit", help="receptive-field: position Y,X in --layer's output (default: the centre)")
    v.add_argument("-k", type=int, default=9, help="top-patches: how many (default 9)")
    v.add_argument("--max-images", type=int, help="top-patches: stop after this many images of --split")
    v.add_argument("--steps", type=int, default=256, help="maximize: optimization steps (default 256)")
    v.add_argument("--against", default="init", help="compare-filters: init | best | last | PATH (default init)")
    v.add_argument("--checkpoint", default="best", help="best | last | PATH (default best)")
    v.add_argument("--out", type=Path, help="output folder (default EXP/viz)")
    add_set(v)
    v.set_defaults(func=viz)


@dataclass
class Context:
    """What every picture needs: the trained model, its data, the chosen layer/channel/images, where to write."""

    model: nn.Module
    init_model: nn.Module
    cfg: object
    data: object
    layer: str | None
    channel: int
    images: Tensor  # (N, C, H, W) normalized
    names: list[str]  # one caption per image
    args: argparse.Namespace
    out: Path
    written: list[tuple[Path, str]] = field(default_factory=list)

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
        print(f"wrote {path}")


def _load(args: argparse.Namespace):
    from ..config import parse_config
    from ..runs import checkpoint_path, learner_for_checkpoint

    learner, state = learner_for_checkpoint(checkpoint_path(args.exp, args.checkpoint), args.overrides,
                                            load_weights=False)
    init_model = copy.deepcopy(learner.model).eval()  # as the config initializes it (seeded)
    learner.load_state_dict(state, weights_only=True)
    cfg = parse_config(learner.config, source=str(args.exp))
    model = learner.model
    # the model as a classifier: itself, or e.g. a detector seen as per-class scores (B, C)
    model, init_model = learner.task.classifier_view(model), learner.task.classifier_view(init_model)
    return cfg, model.eval(), init_model, learner.data


def _load_image(path: Path, shape: tuple[int, int, int], mean: list[float], std: list[float]) -> Tensor:
    import numpy as np

    from ..images import read_image_file, resize

    pixels = resize(read_image_file(path, channels=shape[0]), shape[1:])  # EXIF orientation applied
    x = torch.from_numpy(pixels.astype(np.float32)) / 255.0
    x = x.unsqueeze(0) if x.dim() == 2 else x.permute(2, 0, 1)  # (C, H, W)
    return (x - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)


def _samples(data, split: str, indices: list[int]) -> tuple[Tensor, list[str]]:
    """The images at ``indices`` of ``split`` and a caption of each one's target."""
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


def _default_layer(model: nn.Module, x: Tensor) -> str:
    """The last module (in the order modules finish) whose output is a feature map larger than 1×1."""
    finished: list[str] = []

    def watcher(name: str):
        def hook(module: nn.Module, args: object, output: object) -> None:
            if isinstance(output, Tensor) and output.dim() == 4 and output.shape[-1] * output.shape[-2] > 1:
                finished.append(name)
        return hook

    handles = [m.register_forward_hook(watcher(name)) for name, m in model.named_modules() if name]
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in handles:
            h.remove()
    if not finished:
        raise ModelError("the model has no layer with a 2-D feature map; pass --layer NAME.")
    return finished[-1]


def _target(ctx: Context) -> int | None:
    if ctx.args.target is None:
        return None
    names = list(ctx.data.class_names)
    if ctx.args.target in names:
        return names.index(ctx.args.target)
    try:
        k = int(ctx.args.target)
    except ValueError:
        k = -1
    if not 0 <= k < len(names):
        raise ConfigError(f"--target {ctx.args.target!r} is not a class; use an index 0-{len(names) - 1} or one of "
                          f"{', '.join(names)}.")
    return k


def _layer(ctx: Context) -> str:
    if ctx.layer is None:  # a model may name its own (a detector: the backbone's last stage)
        ctx.layer = getattr(ctx.model, "default_layer", None) or _default_layer(ctx.model, ctx.images)
        print(f"layer: {ctx.layer} (the last convolutional block; choose another with --layer)")
    return ctx.layer


def _check_channel_and_unit(ctx: Context) -> None:
    """Refuse a --channel or --unit outside the chosen layer's output before any picture is drawn."""
    from ..viz.activations import describe_output

    shape = describe_output(ctx.model, ctx.images, _layer(ctx))  # (C, H, W) or (C,)
    if not 0 <= ctx.channel < shape[0]:
        raise ConfigError(f"--channel {ctx.channel} is out of range: {ctx.layer} has {shape[0]} channels "
                          f"(0-{shape[0] - 1}).")
    _unit(ctx, shape)


def _unit(ctx: Context, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The --unit position (Y,X) in a layer output of ``shape`` (C, H, W); default its centre."""
    if not ctx.args.unit:
        return tuple(s // 2 for s in shape[1:])
    try:
        position = tuple(int(v) for v in ctx.args.unit.split(","))
    except ValueError:
        raise ConfigError(f"--unit {ctx.args.unit!r}: expected Y,X such as 3,4.") from None
    if len(position) != len(shape) - 1 or not all(0 <= p < s for p, s in zip(position, shape[1:])):
        raise ConfigError(f"--unit {ctx.args.unit} is outside {ctx.layer}'s output of "
                          f"{'×'.join(map(str, shape[1:]))} positions; give Y,X within it.")
    return position


def feature_maps_pic(ctx: Context) -> None:
    from ..viz import feature_maps
    from ..viz.pictures import plot_feature_maps, to_display

    layer = _layer(ctx)
    maps = feature_maps(ctx.model, ctx.images[0], layer)
    path = plot_feature_maps(maps, ctx.png("feature-maps", layer), image=to_display(ctx.images[0], ctx.mean, ctx.std),
                             title=f"{layer} feature maps for {ctx.names[0]}")
    ctx.add(path, f"Feature maps of {layer} ({maps.shape[0]} channels, {maps.shape[1]}×{maps.shape[2]}) for "
                  f"{ctx.names[0]}; one colour scale for all channels.")


def filters_pic(ctx: Context) -> None:
    from ..viz import conv_layers, layer_filters
    from ..viz.pictures import plot_filters

    layer = ctx.args.layer or next(iter(conv_layers(ctx.model)), None)
    if layer is None:
        raise ModelError("the model has no convolution; filters need a Conv2d layer.")
    w = layer_filters(ctx.model, layer)
    ctx.add(plot_filters(w, ctx.png("filters", layer), title=layer), f"Filters of {layer}, shape {tuple(w.shape)}.")


def histograms_pic(ctx: Context) -> None:
    from ..viz import layer_weights
    from ..viz.pictures import plot_weight_histograms

    path = plot_weight_histograms(layer_weights(ctx.model), ctx.png("histograms"), title="weights and biases per layer")
    ctx.add(path, "Histograms of each layer's weights (blue) and biases (orange).")


def top_patches_pic(ctx: Context) -> None:
    from ..viz import top_patches
    from ..viz.pictures import plot_top_patches

    layer = _layer(ctx)
    result = top_patches(ctx.model, layer, ctx.channel, ctx.data.split(ctx.args.split), k=ctx.args.k,
                         max_images=ctx.args.max_images)
    path = plot_top_patches(result, ctx.png("top-patches", layer, f"c{ctx.channel}"), mean=ctx.mean, std=ctx.std,
                            class_names=ctx.data.class_names)
    ctx.add(path, f"The {len(result.patches)} {ctx.args.split} images (of {result.images_seen}) that excite {layer} "
                  f"channel {ctx.channel} most; red boxes: the receptive field of the strongest unit, enlarged.")


def receptive_field_pic(ctx: Context) -> None:
    from ..viz import receptive_field
    from ..viz.activations import describe_output
    from ..viz.pictures import plot_receptive_field, to_display

    layer = _layer(ctx)
    shape = describe_output(ctx.model, ctx.images, layer)
    position = _unit(ctx, shape)
    rf = receptive_field(ctx.model, layer, tuple(ctx.images.shape[1:]), (ctx.channel, *position))
    background = to_display(ctx.images[0], ctx.mean, ctx.std)
    path = plot_receptive_field(rf, ctx.png("receptive-field", layer, *position), image=background,
                                input_hw=tuple(ctx.images.shape[2:]))
    ctx.add(path, f"Input pixels that can change unit {rf.unit} of {layer} (output {tuple(shape)}): box {rf.box}, "
                  f"{'×'.join(map(str, rf.size))} px.")


def maximize_pic(ctx: Context) -> None:
    from ..viz import maximize
    from ..viz.pictures import plot_maximization

    target = _target(ctx)
    shape = tuple(ctx.images.shape[1:])
    if target is not None:
        result = maximize(ctx.model, ctx.args.layer, class_index=target, input_shape=shape, steps=ctx.args.steps,
                          n=4, mean=ctx.mean, std=ctx.std, tv=0.25)
        what, name = f"class {ctx.data.class_names[target]}", ctx.png("maximize", "class", target)
    else:
        layer = _layer(ctx)
        result = maximize(ctx.model, layer, channel=ctx.channel, input_shape=shape, steps=ctx.args.steps, n=4,
                          mean=ctx.mean, std=ctx.std, tv=0.25)
        what, name = f"{layer} channel {ctx.channel}", ctx.png("maximize", layer, f"c{ctx.channel}")
    path = plot_maximization(result, name, title=f"images that maximize {what}")
    ctx.add(path, f"Activation maximization of {what} from noise ({ctx.args.steps} steps, FFT parameterization, "
                  f"jitter and scaling, TV penalty): {result.final_value:.3g} versus {result.noise_value:.3g} on "
                  "noise.")


def _attribution(method: str) -> Callable[[Context], None]:
    def run(ctx: Context) -> None:
        from ..viz import attribute
        from ..viz.attributions import predicted_classes
        from ..viz.pictures import plot_attributions

        layer = _layer(ctx) if method == "gradcam" else None
        target = _target(ctx)
        targets = predicted_classes(ctx.model, ctx.images) if target is None else torch.full(
            (ctx.images.shape[0],), target)
        options = {}
        if method in ("integrated-gradients", "occlusion"):  # start from / occlude with black, not the mean
            black = (0 - torch.tensor(ctx.mean)) / torch.tensor(ctx.std)  # (C,)
            options["baseline"] = black.view(1, -1, 1, 1).to(ctx.images).expand_as(ctx.images).contiguous()
        maps = attribute(method, ctx.model, ctx.images, targets, layer=layer, **options)
        names = ctx.data.class_names
        titles = [f"{n}\ntarget: {names[int(t)]}" for n, t in zip(ctx.names, targets)]
        path = plot_attributions(ctx.images, maps, ctx.png(method, layer), method=method + (f" ({layer})" if layer
                                 else ""), titles=titles, mean=ctx.mean, std=ctx.std)
        ctx.add(path, f"{method} for {len(titles)} image(s), target " + ("the predicted class" if target is None
                                                                      else names[target]) + ".")
    return run


def augment_pic(ctx: Context) -> None:
    from ..viz import augment_and_watch
    from ..viz.pictures import plot_sweeps

    layer = _layer(ctx)
    sweeps = augment_and_watch(ctx.model, layer, ctx.channel, ctx.images[0], mean=ctx.mean, std=ctx.std)
    path = plot_sweeps(sweeps, ctx.png("augment", layer, f"c{ctx.channel}"),
                       title=f"{layer} channel {ctx.channel} (max) on {ctx.names[0]}")
    ctx.add(path, f"How {layer} channel {ctx.channel} responds to noise, blur, rotation, brightness and occlusion of "
                  f"{ctx.names[0]}.")


def compare_filters_pic(ctx: Context) -> None:
    from ..viz import compare_filters, conv_layers
    from ..viz.pictures import plot_filter_comparison

    layer = ctx.args.layer or next(iter(conv_layers(ctx.model)), None)
    if ctx.args.against == "init":
        other, label = ctx.init_model, "its initialization"
    else:
        from ..runs import checkpoint_path, learner_for_checkpoint

        path = checkpoint_path(ctx.args.exp, ctx.args.against)
        other, label = learner_for_checkpoint(path)[0].model.eval(), str(path)
    cmp = compare_filters(other, ctx.model, layer)
    path = plot_filter_comparison(cmp, ctx.png("compare-filters", layer))
    ctx.add(path, f"Filters of {layer}: {label} (top) versus the trained model (bottom); median change "
                  f"{float(cmp.relative_change.median()):.0%}.")


def progression_pic(ctx: Context) -> None:
    from ..inspect.probes import read_probes
    from ..inspect.progression import plot_progression, progression, progression_gif

    record = read_probes(ctx.args.exp)
    layer = ctx.args.layer or record.layers[-1]
    if ctx.args.layer is None:
        print(f"layer: {layer} (the last recorded one; recorded: {', '.join(record.layers)})")
    prog = progression(record, layer, ctx.args.channel)
    what = (f"channel {prog.channel} on {len(prog.columns)} {record.split} probe images" if prog.channel is not None
            else f"its {len(prog.columns)} strongest channels on {record.split} #{record.indices[0]}")
    span = f"epochs {', '.join(map(str, prog.epochs))}" if len(prog.epochs) <= 12 else \
        f"{len(prog.epochs)} records, epochs {prog.epochs[0]}-{prog.epochs[-1]}"
    stem = ctx.png("progression", layer, f"c{prog.channel}" if prog.channel is not None else "strongest")
    ctx.add(plot_progression(prog, stem), f"How {layer} learned: {what}, one row per recorded epoch ({span}; "
                                          "epoch 0 is the initialization); one colour scale per row.")
    ctx.add(progression_gif(prog, stem.with_suffix(".gif")), f"The same as an animation, one frame per recorded "
                                                             f"epoch ({span}).")


PICTURES: dict[str, Callable[[Context], None]] = {
    "feature-maps": feature_maps_pic, "filters": filters_pic, "histograms": histograms_pic,
    "top-patches": top_patches_pic, "receptive-field": receptive_field_pic, "maximize": maximize_pic,
    "saliency": _attribution("saliency"), "integrated-gradients": _attribution("integrated-gradients"),
    "gradcam": _attribution("gradcam"), "occlusion": _attribution("occlusion"), "augment": augment_pic,
    "compare-filters": compare_filters_pic, "progression": progression_pic,
}


def viz(args: argparse.Namespace) -> int:
    from ..viz import get_layer
    from ..viz.report import update_index

    what = list(WHAT) if "all" in args.what else list(dict.fromkeys(args.what))
    if "all" in args.what and not (args.exp / "probes").is_dir():
        what.remove("progression")  # only runs trained with logging.probe have records
    cfg, model, init_model, data = _load(args)
    if args.layer is not None:
        get_layer(model, args.layer)  # fail early, with the close names
    attributions = {"saliency", "integrated-gradients", "gradcam", "occlusion"}
    if args.image is not None:
        images = _load_image(args.image, data.input_shape, list(data.mean), list(data.std)).unsqueeze(0)
        names = [args.image.name]
    else:
        indices = args.index or ([0, 1, 2, 3] if attributions & set(what) else [0])
        indices = indices[: data.split(args.split).num_samples]
        images, captions = _samples(data, args.split, indices)
        names = [f"{args.split} #{i}, {c}" for i, c in zip(indices, captions)]
    device = next(iter(model.parameters())).device
    out = args.out or args.exp / "viz"
    channel = 0 if args.channel is None else args.channel
    ctx = Context(model=model, init_model=init_model, cfg=cfg, data=data, layer=args.layer, channel=channel,
                  images=images.to(device), names=names, args=args, out=out)
    if args.channel or args.unit:
        _check_channel_and_unit(ctx)
    for name in what:
        PICTURES[name](ctx)
    index = update_index(out, ctx.written, title=f"trainlab viz: {args.exp}")
    print(f"wrote {index}")
    return 0


# `trainlab VERB --help` ends with these
EXAMPLES = {
    "viz": ["trainlab viz experiments/digits-cnn --what top-patches --layer stem --channel 3"],
}
