"""Detection metrics: the loss and its parts every step, COCO mAP from torchmetrics when detections exist.

:class:`DetectionMetrics` keeps the decoded detections and true boxes of every image it sees as tensor
states (rows tagged with the image's index in its split), so they are gathered across processes
and a mid-epoch checkpoint can hold them. ``compute()`` hands them, one dict per image, to
``torchmetrics.detection.MeanAveragePrecision`` (pycocotools' COCOeval): mAP@0.5:0.95 (``map``), mAP@0.5
(``map50``), mAP@0.75, mAR@100, and per class AP@0.5:0.95 and AP@0.5. Training batches are not decoded
(see :class:`trainlab.detection.task.DetectionTask`), so the train split records only the losses.
"""
from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from ..engine.metric import Metric


class DetectionMetrics(Metric):
    """Loss parts per image, and COCO mAP of the decoded detections.

    ``update(output, target, per_sample_loss)`` reads ``output.detections`` (N, 7) [image in batch, x1, y1, x2,
    y2, score, label] (None: not decoded) and ``output.parts``, and ``target.boxes``/``labels``/``index``.
    ``compute()`` returns ``loss``, ``box_loss``, ``obj_loss``, ``cls_loss``, ``images`` and, when
    detections were decoded (or nothing was seen yet: the names a run will record), ``map50``, ``map``,
    ``map75``, ``mar100`` and ``per_class`` {``ap``, ``ap50``, ``objects``} (-1: the class has no true box).
    A ``target.crowd`` (B, K) flag marks COCO crowd boxes: scored as COCOeval's ``iscrowd`` and not counted
    in ``objects``.

    Example:
        >>> from types import SimpleNamespace as NS
        >>> m = DetectionMetrics(num_classes=2)
        >>> det = torch.tensor([[0, 0., 0., 10., 10., 0.9, 1], [0, 20., 20., 30., 30., 0.8, 0]])
        >>> y = NS(boxes=torch.tensor([[[0., 0., 10., 10.]]]), labels=torch.tensor([[1]]), index=torch.tensor([0]))
        >>> m.update(NS(detections=det, parts={}), y, torch.tensor([0.5]))
        >>> r = m.compute(); r["map50"], r["per_class"]["ap50"], r["loss"]
        (1.0, [-1.0, 1.0], 0.5)
    """

    def __init__(self, num_classes: int | None = None, class_metrics: bool = True) -> None:
        super().__init__()
        self.num_classes, self.class_metrics = num_classes, class_metrics
        for name in ("loss_sum", "box_sum", "obj_sum", "cls_sum"):
            self.add_state(name, torch.zeros((), dtype=torch.float64), "sum")
        self.add_state("images", torch.zeros((), dtype=torch.long), "sum")
        self.add_state("seen", torch.zeros(0, dtype=torch.long), "cat")  # decoded images' ids
        self.add_state("dets", torch.zeros(0, 7), "cat")  # [id, x1, y1, x2, y2, score, label]
        self.add_state("truth", torch.zeros(0, 7), "cat")  # [id, x1, y1, x2, y2, label, crowd]

    def update(self, output: Any, target: Any, loss: Tensor) -> None:
        self.loss_sum += loss.double().sum()
        self.images += loss.numel()
        for name, key in (("box_sum", "box_loss"), ("obj_sum", "obj_loss"), ("cls_sum", "cls_loss")):
            if key in output.parts:
                setattr(self, name, getattr(self, name) + output.parts[key].double().sum())
        if output.detections is None:
            return
        ids = target.index.to(self.dets.device)
        d = output.detections.float()
        d = torch.cat([ids[d[:, 0].long()].float()[:, None], d[:, 1:]], 1)
        valid = target.labels >= 0
        crowd = getattr(target, "crowd", None)
        crowd = torch.zeros_like(valid) if crowd is None else crowd
        rows = torch.cat([ids[:, None].expand_as(target.labels)[valid].float()[:, None], target.boxes[valid].float(),
                          target.labels[valid].float()[:, None], crowd[valid].float()[:, None]], 1)
        self.seen = torch.cat([self.seen, ids])
        self.dets = torch.cat([self.dets, d])
        self.truth = torch.cat([self.truth, rows])

    def compute(self) -> dict:
        n = self.images.clamp_min(1).double()
        out: dict[str, Any] = {}
        if len(self.seen) or not int(self.images):
            out.update(self._map())
        out.update({"loss": float(self.loss_sum / n), "box_loss": float(self.box_sum / n),
                    "obj_loss": float(self.obj_sum / n), "cls_loss": float(self.cls_sum / n),
                    "images": int(self.images)})
        if "per_class" in out:
            out["per_class"] = out.pop("per_class")  # keep the scalars first, per-class last
        return out

    def _map(self) -> dict[str, Any]:
        k = self.num_classes or 0
        empty = {"map50": -1.0, "map": -1.0, "map75": -1.0, "mar100": -1.0,
                 "per_class": {"ap": [-1.0] * k, "ap50": [-1.0] * k, "objects": [0] * k}}
        if not len(self.seen):
            return empty
        from torchmetrics.detection import MeanAveragePrecision

        ids = torch.unique(self.seen.cpu())
        dets, truth = self.dets.cpu(), self.truth.cpu()
        preds = [{"boxes": dets[dets[:, 0] == i, 1:5], "scores": dets[dets[:, 0] == i, 5],
                  "labels": dets[dets[:, 0] == i, 6].long()} for i in ids.tolist()]
        # crowd boxes go in as COCO's iscrowd: a detection on one is ignored, neither a hit nor a false alarm
        targets = [{"boxes": truth[truth[:, 0] == i, 1:5], "labels": truth[truth[:, 0] == i, 5].long(),
                    "iscrowd": truth[truth[:, 0] == i, 6].long()} for i in ids.tolist()]
        metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=self.class_metrics,
                                      extended_summary=True, backend="pycocotools")
        metric.warn_on_many_detections = False
        metric.update(preds, targets)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "no ground truth" for a class seen only in the predictions
            r = metric.compute()
        result = {"map50": float(r["map_50"]), "map": float(r["map"]), "map75": float(r["map_75"]),
                  "mar100": float(r["mar_100"])}
        if k:
            objects = torch.bincount(truth[truth[:, 6] == 0, 5].long(), minlength=k)[:k]
            ap = torch.full((k,), -1.0)
            if self.class_metrics:
                classes = r["classes"].reshape(-1).long()
                ap[classes[classes < k]] = r["map_per_class"].reshape(-1).float()[classes < k]
            # AP@0.5 per class from COCOeval's own precision table (IoU 0.5, all areas, 100 detections),
            # averaged over the recall points as COCOeval averages it for map_50
            precision = r["precision"][0, :, :, 0, -1]  # (R, K') for the classes in r["classes"]
            ap50 = torch.full((k,), -1.0)
            for j, c in enumerate(r["classes"].reshape(-1).tolist()):
                p = precision[:, j]
                if c < k and (p > -1).any():
                    ap50[c] = float(p[p > -1].mean())
            ap, ap50 = torch.where(objects > 0, ap, -1.0), torch.where(objects > 0, ap50, -1.0)
            result["per_class"] = {"ap": ap.tolist(), "ap50": ap50.tolist(), "objects": objects.tolist()}
        return result
