"""What the live inspection page computes, apart from the web server: :class:`Inspector`.

One call, :meth:`Inspector.run`, takes an image as the page holds it (uint8 pixels), the slider settings,
a layer and a channel, and returns everything the page shows: the model's input after the augmentations,
the layer's feature maps (numbered, with their colour scale) and the chosen channel as PNGs, the channel's
maximum, and the top-5 predictions of a classifier or the boxes of a detector (a task with
``kind == "detection"`` whose forward output has ``per_image``: :class:`trainlab.detection.DetectionTask`).
Augmentations are those of :mod:`trainlab.viz.watch`, applied in pixel space in a fixed order (rotation,
blur, brightness, occlusion, noise).
"""
from __future__ import annotations

import base64
import binascii
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import TrainlabError, echo
from ..viz.hooks import capture, default_layer, feature_map_layers, get_layer
from ..viz.watch import AUGMENTATIONS, AugmentContext, border_background
from .render import colorize, grey, png_bytes, tile

# name -> (lowest, highest, neutral): the sliders of the page
SLIDERS: dict[str, tuple[float, float, float]] = {
    "rotation": (-180.0, 180.0, 0.0),  # degrees
    "blur": (0.0, 5.0, 0.0),  # Gaussian sigma, pixels
    "brightness": (0.0, 3.0, 1.0),  # multiplier
    "occlusion": (0.0, 1.0, 0.0),  # side of a background square / image side
    "noise": (0.0, 1.0, 0.0),  # std of Gaussian noise, pixel units
}


MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes 64 bits; keep to the signed range every tool shares


class BadRequest(TrainlabError):
    """A request the page (or a client) got wrong; the server answers 400 with the message."""


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


@dataclass
class Inspector:
    """A trained model in eval mode, its data's normalization and class names, and the images of one split.

    Thread-safe: one computation at a time (the capture hooks live on the shared model).

    Example:
        >>> from trainlab.config import DataConfig
        >>> from trainlab.data import data_from_config
        >>> data = data_from_config(DataConfig(name="synthetic"), seed=0)
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 4))
        >>> insp = Inspector.create(net, data, split="valid")
        >>> out = insp.run({"pixels": insp.image(0)["pixels"], "layer": "1", "channel": 1, "augment": {"blur": 1}})
        >>> len(out["top5"]), out["channel_max"] >= 0
        (4, True)
    """

    model: nn.Module
    data: Any
    split: str
    layers: dict[str, tuple[int, ...]]
    lock: threading.Lock
    task: Any = None  # a task that predicts boxes (detection); None: the model's output is logits
    default_layer: str = ""

    @classmethod
    def create(cls, model: nn.Module, data: Any, *, split: str = "test", task: Any = None) -> Inspector:
        """An inspector of ``model`` on ``data``'s ``split``; ``task``: the run's task, used when it predicts
        boxes (``task.kind == "detection"``; its ``forward(model, x)`` output has ``per_image``), ignored otherwise."""
        model = model.eval()
        device = next(iter(model.parameters()), torch.zeros(())).device
        x = torch.zeros(1, *data.input_shape, device=device)
        layers = dict(feature_map_layers(model, x))
        if not layers:
            raise TrainlabError("the model has no layer with (C, H, W) feature maps; the live page shows "
                                "convolutional models.")
        task = task if getattr(task, "kind", None) == "detection" else None  # a classifier's logits need no task
        return cls(model=model, data=data, split=split, layers=layers, lock=threading.Lock(), task=task,
                   default_layer=default_layer(model, layers))

    @property
    def detects(self) -> bool:
        """Whether the model detects boxes (the page draws them instead of a top-5)."""
        return self.task is not None

    @property
    def device(self) -> torch.device:
        return next(iter(self.model.parameters()), torch.zeros(())).device

    @property
    def num_images(self) -> int:
        return self.data.split(self.split).num_samples

    def info(self) -> dict[str, Any]:
        """What the page needs to build its controls."""
        c, h, w = self.data.input_shape
        return {"channels": c, "height": h, "width": w, "classes": list(self.data.class_names),
                "split": self.split, "images": self.num_images, "sliders": SLIDERS,
                "layers": [{"name": n, "shape": list(s)} for n, s in self.layers.items()],
                "default_layer": self.default_layer, "detector": self.detects}

    def image(self, index: int) -> dict[str, Any]:
        """Image ``index`` of the split as the page holds it: base64 uint8 pixels (H, W, C) and its label."""
        if not 0 <= index < self.num_images:
            raise BadRequest(f"image {index} is outside the {self.split} split of {self.num_images} images "
                             f"(0-{self.num_images - 1}).")
        loader = self.data.split(self.split).subset(torch.tensor([index]), train=False)
        x, y = next(iter(loader.batches(0)))
        pixels = (x[0].float().cpu() * self._std + self._mean).clamp(0, 1)  # (C, H, W)
        raw = (pixels * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy().tobytes()
        if isinstance(y, Tensor) and y.dim() == 1:
            label = f"label {self.data.class_names[int(y[0])]}"
        else:  # a target that describes itself (boxes: "3 objects: 1, 4, 7")
            label = y.captions(list(self.data.class_names))[0] if hasattr(y, "captions") else None
        return {"index": index, "pixels": base64.b64encode(raw).decode(), "label": label}

    @property
    def _mean(self) -> Tensor:
        return torch.tensor(self.data.mean, dtype=torch.float32).view(-1, 1, 1)

    @property
    def _std(self) -> Tensor:
        return torch.tensor(self.data.std, dtype=torch.float32).view(-1, 1, 1)

    def _pixels(self, text: Any) -> Tensor:
        c, h, w = self.data.input_shape
        if not isinstance(text, str):
            raise BadRequest("'pixels' must be a base64 string of H×W×C uint8 values.")
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("'pixels' is not valid base64.") from None
        if len(raw) != h * w * c:
            raise BadRequest(f"'pixels' holds {len(raw)} bytes; this model takes {h}×{w}×{c} = {h * w * c}.")
        return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(h, w, c).permute(2, 0, 1).float() / 255

    def _augment(self, pixels: Tensor, settings: Any, seed: int, center: tuple[int, int] | None) -> Tensor:
        if not isinstance(settings, Mapping):
            raise BadRequest("'augment' must be an object such as {\"blur\": 1.5}.")
        unknown = sorted(set(settings) - set(SLIDERS))
        if unknown:
            raise BadRequest(f"unknown augmentation(s) {', '.join(unknown)}; allowed: {', '.join(SLIDERS)}.")
        h, w = pixels.shape[1:]
        ctx = AugmentContext(center=center or (h // 2, w // 2), background=border_background(pixels),
                             generator=torch.Generator().manual_seed(seed))
        x = pixels.unsqueeze(0)  # (1, C, H, W) in [0, 1]
        for name, (lo, hi, neutral) in SLIDERS.items():  # a fixed order, whatever the request's
            value = settings.get(name, neutral)
            if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
                raise BadRequest(f"augment.{name} must be a number in [{lo}, {hi}], got {value!r}.")
            if value != neutral:
                x = AUGMENTATIONS.get(name)(x, float(value), ctx)
        return x.clamp(0, 1)

    def run(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Everything the page shows for one image and setting (see the module docstring); raises
        :class:`BadRequest` for a malformed request."""
        start = time.perf_counter()
        if not isinstance(request, Mapping):
            raise BadRequest("the request body must be a JSON object.")
        layer = request.get("layer", self.default_layer)
        if layer not in self.layers:
            raise BadRequest(f"unknown layer {layer!r}; feature-map layers: {', '.join(self.layers)}.")
        channels = self.layers[layer][0]
        channel = request.get("channel", 0)
        if not isinstance(channel, int) or isinstance(channel, bool) or not 0 <= channel < channels:
            raise BadRequest(f"channel must be an integer in 0-{channels - 1} for {layer}, got {channel!r}.")
        seed = request.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
            raise BadRequest(f"seed must be an integer in 0-{MAX_SEED}, got {echo(seed)}.")
        _, h, w = self.data.input_shape
        center = request.get("center")
        if center is not None and not (isinstance(center, list) and len(center) == 2
                                       and all(isinstance(v, int) and not isinstance(v, bool) for v in center)
                                       and 0 <= center[0] < h and 0 <= center[1] < w):
            raise BadRequest(f"center must be [y, x] pixel coordinates inside the {h}×{w} image, got {echo(center)}.")
        pixels = self._augment(self._pixels(request.get("pixels")), request.get("augment", {}), seed,
                               tuple(center) if center else None)
        x = ((pixels - self._mean) / self._std).to(self.device)
        with self.lock, torch.no_grad():
            maps, output = self._forward(x, layer)
        maps = maps[0].float().cpu()  # (C, H', W')
        selected = maps[channel]
        peak = int(selected.argmax())
        lo, hi = float(maps.min()), float(maps.max())
        cols = math.ceil(math.sqrt(len(maps)))
        scale = _scale(maps, 48)
        response: dict[str, Any] = {
            "input": _data_url(png_bytes(tile([grey(x[0], self.data.mean, self.data.std)], 1, scale=_scale(x, 192)))),
            "maps": _data_url(png_bytes(numbered(tile([colorize(m, lo, hi) for m in maps], cols=cols, scale=scale,
                                                      pad=1), cols, len(maps), cell=scale * maps.shape[-1] + 1,
                                                 row=scale * maps.shape[-2] + 1))),
            "maps_range": [lo, hi], "maps_grid": [cols, math.ceil(len(maps) / cols)],
            "channel": _data_url(png_bytes(tile([colorize(selected)], 1, scale=_scale(maps, 192)))),
            "channel_range": [float(selected.min()), float(selected.max())],
            "channel_max": float(selected.max()), "channel_argmax": list(divmod(peak, selected.shape[1])),
        }
        if self.detects:
            response["boxes"] = self._boxes(output)
            response["top5"] = []
        else:
            response["top5"] = self._top5(output)
        response["ms"] = round(1000 * (time.perf_counter() - start), 2)
        return response

    def _forward(self, x: Tensor, layer: str) -> tuple[Tensor, Any]:
        """The output of ``layer`` and of the model (logits; a detection task's decoded output) in one pass."""
        if not self.detects:
            outputs = capture(self.model, x, [layer, ""])
            return outputs[layer], outputs[""]
        seen: list[Tensor] = []

        def hook(module: nn.Module, args: object, output: object) -> None:
            if not seen and isinstance(output, Tensor):
                seen.append(output.detach().clone())

        handle = get_layer(self.model, layer).register_forward_hook(hook)
        try:
            out = self.task.forward(self.model, x)
        finally:
            handle.remove()
        return seen[0], out

    def _boxes(self, output: Any) -> list[dict[str, Any]]:
        """The detections as the task decodes them (its ``detection.score_threshold`` and ``max_detections``),
        best first, in the model's input pixels; the page's threshold slider hides the weaker ones."""
        d = output.per_image(1)[0]
        names = self.data.class_names
        return [{"box": [round(float(v), 1) for v in box], "score": float(score),
                 "label": names[int(k)] if int(k) < len(names) else str(int(k))}
                for box, score, k in zip(d["boxes"].cpu(), d["scores"].cpu(), d["labels"].cpu())]

    def _top5(self, logits: Tensor) -> list[dict[str, Any]]:
        if not isinstance(logits, Tensor) or logits.dim() != 2:  # not a classifier (e.g. a sequence model)
            return []
        probs = logits[0].float().softmax(0).cpu()
        top = probs.topk(min(5, probs.numel()))
        names = self.data.class_names
        return [{"label": names[int(i)] if int(i) < len(names) else str(int(i)), "prob": float(p)}
                for p, i in zip(top.values, top.indices)]


def numbered(grid: np.ndarray, cols: int, count: int, *, cell: int, row: int) -> np.ndarray:
    """The map grid (tiles ``cell`` × ``row`` pixels apart, ``cols`` per row) with each tile's channel number
    in its top-left corner, when the tiles are large enough to hold it.

    Example:
        >>> bool(numbered(np.zeros((40, 40, 3), np.uint8), 2, 4, cell=20, row=20)[1:9, 1:6].max() > 0)
        True
    """
    if cell < 14 or row < 12:
        return grid
    grid = grid.copy()
    for k in range(count):
        r, c = divmod(k, cols)
        stamp = _stamp(str(k))[: row - 1, : cell - 1]
        grid[r * row: r * row + stamp.shape[0], c * cell: c * cell + stamp.shape[1]] = stamp
    return grid


@cache
def _stamp(text: str) -> np.ndarray:
    """``text`` in black on a white box, RGB uint8, drawn once (a live update draws up to hundreds)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (6 * len(text) + 2, 11), (255, 255, 255))
    ImageDraw.Draw(img).text((1, 0), text, fill=(0, 0, 0))
    return np.asarray(img)


def _scale(t: Tensor, target: int) -> int:
    """The whole-number enlargement that brings the last two dims of ``t`` near ``target`` pixels."""
    return max(1, target // max(t.shape[-2:]))


def inspector_for_checkpoint(path: Path, *, split: str = "test", overrides: list[str] = ()) -> Inspector:
    """An :class:`Inspector` of the model in checkpoint ``path`` (see :func:`trainlab.runs.learner_for_checkpoint`).

    Example:
        >>> insp = inspector_for_checkpoint(Path("experiments/digits-cnn/checkpoints/best.pt"))  # doctest: +SKIP
    """
    from ..runs import learner_for_checkpoint

    learner, _ = learner_for_checkpoint(Path(path), list(overrides))
    if split == "test" and learner.data.test is None:
        split = "valid"
    learner.data.split(split)  # an unknown split fails here
    return Inspector.create(learner.model, learner.data, split=split, task=learner.task)
