"""The detection Task the Learner trains with, and the datasets that bring it.

``forward(net, x, y)`` runs the detector and, in evaluation only, decodes its detections (score
threshold, ``torchvision.ops.batched_nms``, at most ``max_detections`` per image); ``loss(out, y)``
assigns true boxes to anchor points (:func:`trainlab.detection.assign.assign`) and returns a per-image
loss (B,) of three parts, as in YOLOX:

    5 · Σ_fg (1 − CIoU)  +  Σ_all BCE(objectness, fg)  +  Σ_fg BCE(class logits, one-hot · quality)

divided by the batch's mean count of positive points per image, so the batch mean equals YOLOX's
"sum over the batch ÷ positives" and no image with few objects is over-weighted. CIoU comes from
``torchvision.ops.complete_box_iou_loss``. ``metrics()`` accumulates the loss parts and, when
detections were decoded (validation, evaluation), the boxes for COCO mAP (:mod:`.metrics`).

:data:`trainlab.data.TASK_DATASETS` maps ``digit-scenes``, ``yolo-folder`` and ``coco`` to the builders here
(registered by :mod:`trainlab.detection.feature`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import batched_nms, box_iou, complete_box_iou_loss

from ..data import DataBundle
from ..engine.task import ExportGraph, Task
from ..images import NORMALIZE_UNIT
from .assign import assign
from .augment import BoxAugment
from .data import DetectionLoader, DetectionSplit, DetectionTargets, detection_bundle
from .metrics import DetectionMetrics
from .model import YOLO


@dataclass
class DetectionOutput:
    """What the Task's forward returns.

    raw: (B, A, 5 + C) model outputs; boxes: (B, A, 4) decoded xyxy pixels; centres (A, 2) and strides (A,)
    of the anchor points; detections: (N, 7) rows [image in batch, x1, y1, x2, y2, score, label] after NMS
    (None while training: decoding is for evaluation); parts: per-image loss parts, filled by ``loss``.
    """

    raw: Tensor
    boxes: Tensor
    centres: Tensor
    strides: Tensor
    detections: Tensor | None = None
    parts: dict[str, Tensor] = field(default_factory=dict)

    def per_image(self, batch_size: int) -> list[dict[str, Tensor]]:
        """Detections as one ``{"boxes", "scores", "labels"}`` dict per image (torchvision's format)."""
        d = self.detections if self.detections is not None else self.raw.new_zeros(0, 7)
        which = d[:, 0].long()
        return [{"boxes": d[which == i, 1:5], "scores": d[which == i, 5], "labels": d[which == i, 6].long()}
                for i in range(batch_size)]


def _unwrap(net: nn.Module) -> nn.Module:
    """The model inside torch.compile's wrapper (``_orig_mod``) and DistributedDataParallel (``module``)."""
    while hasattr(net, "_orig_mod") or isinstance(net, nn.parallel.DistributedDataParallel):
        net = net._orig_mod if hasattr(net, "_orig_mod") else net.module
    return net


def decode(raw: Tensor, boxes: Tensor, *, score_threshold: float = 0.001, iou_threshold: float = 0.6,
           max_detections: int = 100) -> Tensor:
    """Detections (N, 7) [image, x1, y1, x2, y2, score, label] from raw outputs (B, A, 5 + C) and decoded
    boxes (B, A, 4): score = σ(objectness)·σ(class logit) of each point's best class, kept above
    ``score_threshold``, class-wise NMS per image, the ``max_detections`` best per image, sorted by image
    then score.

    Example:
        >>> raw = torch.full((1, 2, 7), -9.0); raw[0, 0, 4:6] = 9.0  # point 0: an object of class 0
        >>> boxes = torch.tensor([[[0., 0., 4., 4.], [1., 1., 5., 5.]]])
        >>> decode(raw, boxes).tolist()[0][:6] == [0.0, 0.0, 0.0, 4.0, 4.0, decode(raw, boxes)[0, 5].item()]
        True
    """
    b, a, _ = raw.shape
    scores = torch.sigmoid(raw[..., 4:5].float()) * torch.sigmoid(raw[..., 5:].float())  # (B, A, C)
    best, label = scores.max(-1)  # (B, A)
    keep = best > score_threshold
    image = torch.arange(b, device=raw.device)[:, None].expand(b, a)[keep]
    box, score, label = boxes[keep].float(), best[keep], label[keep]
    kept = batched_nms(box, score, image * (raw.shape[-1] - 5) + label, iou_threshold)  # sorted by score
    kept = kept[torch.argsort(image[kept], stable=True)]  # by image, then score
    image, box, score, label = image[kept], box[kept], score[kept], label[kept]
    starts = torch.searchsorted(image, torch.arange(b, device=raw.device))
    rank = torch.arange(len(image), device=raw.device) - starts[image]  # position within its image
    top = rank < max_detections
    return torch.cat([image[top, None].float(), box[top], score[top, None], label[top, None].float()], 1)


class DetectionTask(Task):
    """Loss, decoding and metrics of the ``yolo`` detector (see the module docstring).

    Example:
        >>> from trainlab.detection.model import YOLO
        >>> model = YOLO(num_classes=2, in_channels=1, width=8)
        >>> y = DetectionTargets(torch.tensor([[[4., 4., 20., 28.]], [[30., 8., 50., 30.]]]),
        ...                      torch.tensor([[0], [1]]), torch.arange(2))
        >>> task = DetectionTask()
        >>> out = task.forward(model.eval(), torch.randn(2, 1, 64, 64), y)
        >>> task.loss(out, y).shape, out.detections.shape[1]
        (torch.Size([2]), 7)
    """

    kind = "detection"

    def __init__(self, *, num_classes: int | None = None, score_threshold: float = 0.001, iou_threshold: float = 0.6,
                 max_detections: int = 100, box_weight: float = 5.0, topk: int = 10, radius: float = 2.5,
                 class_metrics: bool = True) -> None:
        self.num_classes = num_classes
        self.score_threshold, self.iou_threshold, self.max_detections = score_threshold, iou_threshold, max_detections
        self.box_weight, self.topk, self.radius, self.class_metrics = box_weight, topk, radius, class_metrics

    def forward(self, model: nn.Module, x: Tensor, target: DetectionTargets | None = None) -> DetectionOutput:
        raw = model(x)  # (B, A, 5 + C)
        inner: YOLO = _unwrap(model)
        centres, strides = inner.anchors(tuple(x.shape[-2:]), x.device)
        out = DetectionOutput(raw, inner.decode_boxes(raw[..., :4], centres, strides), centres, strides)
        if not model.training:
            with torch.no_grad():
                out.detections = self.decode(out)
        return out

    def decode(self, out: DetectionOutput) -> Tensor:
        """Detections (N, 7) of a forward's output with this task's thresholds (see :func:`decode`)."""
        return decode(out.raw.detach(), out.boxes.detach(), score_threshold=self.score_threshold,
                      iou_threshold=self.iou_threshold, max_detections=self.max_detections)

    def loss(self, out: DetectionOutput, target: DetectionTargets) -> Tensor:
        raw = out.raw.float()
        obj, cls = raw[..., 4], raw[..., 5:]  # (B, A), (B, A, C)
        with torch.no_grad():
            scores = torch.sigmoid(obj)[..., None] * torch.sigmoid(cls)
        a = assign(scores, out.boxes.detach(), out.centres, out.strides, target.boxes, target.objects,
                   topk=self.topk, radius=self.radius)
        fg = a.fg.float()  # (B, A)
        box = torch.zeros_like(obj)
        if a.fg.any():
            box[a.fg] = complete_box_iou_loss(out.boxes[a.fg], a.boxes[a.fg], reduction="none")
        obj_loss = F.binary_cross_entropy_with_logits(obj, fg, reduction="none")  # (B, A)
        wanted = F.one_hot(a.labels.clamp_min(0), cls.shape[-1]).float() * a.quality[..., None]
        cls_loss = F.binary_cross_entropy_with_logits(cls, wanted, reduction="none").sum(-1) * fg
        norm = fg.sum(1).mean().clamp_min(1.0)  # positives per image, over the batch
        parts = {"box_loss": self.box_weight * box.sum(1) / norm, "obj_loss": obj_loss.sum(1) / norm,
                 "cls_loss": cls_loss.sum(1) / norm}
        out.parts = {k: v.detach() for k, v in parts.items()}
        return parts["box_loss"] + parts["obj_loss"] + parts["cls_loss"]  # (B,)

    def metrics(self) -> DetectionMetrics:
        return DetectionMetrics(num_classes=self.num_classes, class_metrics=self.class_metrics)

    def predictions(self, out: DetectionOutput, target: DetectionTargets, *, min_score: float = 0.25
                    ) -> dict[str, Tensor]:
        """Per-image counts for paired comparisons of two models: ``objects`` (true boxes), ``detections``
        (score >= ``min_score``), ``found`` (true boxes overlapped at IoU >= 0.5 by such a detection of
        their class)."""
        preds = out.per_image(len(target))
        found, detections = [], []
        objects = target.objects >= 0  # crowd boxes are neither objects to find nor misses
        for i, p in enumerate(preds):
            sure = p["scores"] >= min_score
            iou = box_iou(target.boxes[i][objects[i]], p["boxes"][sure])  # (n true, n detected)
            same = target.labels[i][objects[i]][:, None] == p["labels"][sure][None, :]
            found.append(((iou >= 0.5) & same).any(1).sum())
            detections.append(sure.sum())
        return {"objects": objects.sum(1), "detections": torch.stack(detections), "found": torch.stack(found)}

    def write_figures(self, model: nn.Module, loader: Any, class_names: list[str], out_dir: Path, split: str
                      ) -> list[Path]:
        """``predictions_<split>.png``: the first images of ``loader`` with predicted and true boxes; for a
        split read from a COCO file also ``detections_<split>.json`` (:meth:`write_coco_detections`)."""
        from .plot import plot_detections

        model.eval()
        x, y = next(iter(loader.subset(torch.arange(min(16, loader.num_samples)), train=False).batches(0)))
        with torch.no_grad():
            out = self.forward(model, x, y)
        path = Path(out_dir) / f"predictions_{split}.png"
        written = [plot_detections(x, out.per_image(len(y)), y.as_list(), path, class_names=class_names,
                                   mean=loader.pipeline.mean.flatten().tolist(),
                                   std=loader.pipeline.std.flatten().tolist())]
        if getattr(loader.split, "image_ids", None) is not None:
            written.append(self.write_coco_detections(model, loader, Path(out_dir) / f"detections_{split}.json"))
        return written

    @torch.no_grad()
    def write_coco_detections(self, model: nn.Module, loader: Any, path: Path) -> Path:
        """Every detection of ``loader``'s split as COCO results JSON (:mod:`.coco_results`): the split's own
        image and category ids, boxes in pixels of the original images, ready for pycocotools' COCOeval."""
        from .coco_results import coco_results, write_coco_results

        s = loader.split
        h, w = s.images.shape[-2:]
        model.eval()
        results = []
        whole = DetectionLoader(s, batch_size=loader.batch_size, pipeline=loader.pipeline, train=False,
                                device=loader.device)  # one process, y.index = positions in s
        for x, y in whole.batches(0):
            index = y.index.cpu()
            scales = [(float(W) / w, float(H) / h) for H, W in s.sizes[index].tolist()]
            results += coco_results(self.forward(model, x, y).per_image(len(y)), s.image_ids[index].tolist(),
                                    category_ids=s.category_ids, scales=scales)
        return write_coco_results(path, results)

    def classifier_view(self, model: nn.Module) -> nn.Module:
        """The detector as an image classifier (see :class:`ClassScores`), for attribution pictures."""
        return ClassScores(_unwrap(model))

    def preprocessing(self, data: DataBundle) -> dict[str, Any]:
        """Images stretched to the training size (no letterbox, as ``yolo-folder`` reads them), the
        detection pipeline's normalization."""
        return {**super().preprocessing(data), "normalize": NORMALIZE_UNIT}

    @torch.no_grad()
    def answers(self, model: nn.Module, x: Tensor, widths: Tensor | None = None, *, greedy: bool = False
                ) -> list[dict[str, np.ndarray]]:
        """``{"boxes": (n, 4) xyxy input pixels, "scores": (n,), "labels": (n,)}`` per image, decoded with this
        task's thresholds (best first)."""
        out = self.forward(model, x)
        return [{k: v.float().cpu().numpy() if k != "labels" else v.cpu().numpy() for k, v in d.items()}
                for d in out.per_image(len(x))]

    def export_graphs(self, model: nn.Module, x: Tensor, widths: Tensor | None = None) -> list[ExportGraph]:
        """One graph ``model``: images (height and width any multiple of 32) → the head's ``raw`` outputs
        (B, A, 5 + C); box decoding and NMS run on the host (data-dependent NMS does not export reliably)."""
        inner: YOLO = _unwrap(model)
        stride = max(inner.strides)
        axes = {0: ("batch", 1), 2: ("height", stride), 3: ("width", stride)}
        return [ExportGraph("model", inner, (x,), ["image"], ["raw"],
                            {"image": axes, "raw": {0: ("batch", 1), 1: ("anchors", 1)}})]

    def bundle_settings(self, model: nn.Module) -> dict[str, Any]:
        return {"strides": list(_unwrap(model).strides), "score_threshold": self.score_threshold,
                "iou_threshold": self.iou_threshold, "max_detections": self.max_detections}


class ClassScores(nn.Module):
    """A detector seen as a classifier: per image and class, the logit of the best score
    σ(objectness)·σ(class) over all anchor points, (B, C). Grad-CAM of class c then shows what drives the
    strongest detection of c. Shares the detector's layers under the same names (``backbone.stage3``), so
    layer names from ``trainlab summary`` work unchanged."""

    default_layer = "backbone.stage4"

    def __init__(self, detector: YOLO) -> None:
        super().__init__()
        for name, child in detector.named_children():
            self.add_module(name, child)
        object.__setattr__(self, "_detector", detector)  # not a child: its layers are ours already

    def forward(self, x: Tensor) -> Tensor:
        raw = self._detector(x)
        log_score = F.logsigmoid(raw[..., 4:5]) + F.logsigmoid(raw[..., 5:])  # (B, A, C)
        p = log_score.amax(1).exp().clamp(1e-6, 1 - 1e-6)
        return torch.log(p) - torch.log1p(-p)  # (B, C) logit of the best score


TaskFactory = Callable[[nn.Module], DetectionTask]


def _bundle_and_task(cfg: Any, splits: dict[str, DetectionSplit | None], class_names: list[str], *, flip: bool,
                     seed: int, device: Any, rank: int, world_size: int) -> tuple[DataBundle, TaskFactory]:
    d, o = cfg.data, getattr(cfg, "detection", None)
    train = splits["train"].without_crowd()  # crowd boxes are not objects to learn (COCO's iscrowd)
    if d.max_train_samples and d.max_train_samples < len(train):
        gen = torch.Generator().manual_seed(d.seed_for_splits(seed))
        train = train.take(torch.randperm(len(train), generator=gen)[: d.max_train_samples].sort().values)
    data = detection_bundle(train, splits["valid"], splits.get("test"), class_names, batch_size=d.batch_size,
                            eval_batch_size=d.eval_batch_size, augment=BoxAugment.preset(d.augment, flip=flip),
                            seed=seed, device=device, rank=rank, world_size=world_size, mean=d.mean, std=d.std)
    options = o.task_options() if o is not None else {}
    return data, lambda model: DetectionTask(num_classes=len(class_names), **options)


def digit_scenes(cfg: Any, *, seed: int, device: Any = "cpu", rank: int = 0, world_size: int = 1
                 ) -> tuple[DataBundle, TaskFactory]:
    """Scenes of scikit-learn's handwritten digits, or Fashion-MNIST items (see :mod:`.scenes`), no files."""
    from .scenes import SceneOptions, scene_splits

    o = SceneOptions.from_args(dict(cfg.data.args))
    splits, names = scene_splits(seed=cfg.data.seed_for_splits(seed), valid_fraction=cfg.data.valid_fraction,
                                 test_fraction=cfg.data.test_fraction, options=o, root=cfg.data.root)
    flip = names != list("0123456789")  # a mirrored digit is not a digit; a mirrored shirt is a shirt
    return _bundle_and_task(cfg, splits, names, flip=flip, seed=seed, device=device, rank=rank, world_size=world_size)


def yolo_folder(cfg: Any, *, seed: int, device: Any = "cpu", rank: int = 0, world_size: int = 1
                ) -> tuple[DataBundle, TaskFactory]:
    """A folder in the YOLO label format with a data.yaml (see :mod:`.yolo_format`)."""
    from .yolo_format import read_yolo_dataset

    d = cfg.data
    flip = bool(dict(d.args).pop("flip", True))
    splits, names = read_yolo_dataset(d.root, image_size=d.image_size, channels=d.channels,
                                      args={k: v for k, v in d.args.items() if k != "flip"})
    return _bundle_and_task(cfg, splits, names, flip=flip, seed=seed, device=device, rank=rank, world_size=world_size)


def coco(cfg: Any, *, seed: int, device: Any = "cpu", rank: int = 0, world_size: int = 1
         ) -> tuple[DataBundle, TaskFactory]:
    """A COCO JSON dataset: annotations files and image folders (see :mod:`.coco_format`)."""
    from .coco_format import read_coco_dataset

    d = cfg.data
    flip = bool(dict(d.args).get("flip", True))
    splits, names = read_coco_dataset(d.root, image_size=d.image_size, channels=d.channels, args=dict(d.args))
    return _bundle_and_task(cfg, splits, names, flip=flip, seed=seed, device=device, rank=rank, world_size=world_size)
