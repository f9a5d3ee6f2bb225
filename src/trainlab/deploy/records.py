"""Answers → records: what ``trainlab predict`` writes for one image, in the original image's pixels.

A record is a JSON-able dict with the image's ``path`` and, per kind of task:

- classification: ``top``, the ``top_k`` best classes as ``{"class", "prob"}``, best first;
- detection: ``width``/``height`` of the original image and ``detections``, each
  ``{"class", "class_id", "score", "box": [x1, y1, x2, y2]}`` in the original image's pixels (clipped to the
  image), scoring at least ``min_score``;
- OCR: ``text``, its mean character ``confidence`` (null for an empty line) and ``char_confidence``.

Example:
    >>> from pathlib import Path
    >>> item = Loaded(Path("a.png"), np.zeros((1, 8, 8), np.uint8), (16, 32))
    >>> record("classification", {"scores": np.array([0.1, 0.9])}, item, ["cat", "dog"], top_k=1)
    {'path': 'a.png', 'top': [{'class': 'dog', 'prob': 0.9}]}
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .preprocess import Loaded

KINDS = ("classification", "detection", "ocr-ctc", "ocr-attention")


def record(kind: str, answer: dict[str, np.ndarray], item: Loaded, class_names: list[str], *, top_k: int = 5,
           min_score: float = 0.25) -> dict[str, Any]:
    """The record of one image (see the module docstring)."""
    out: dict[str, Any] = {"path": str(item.path)}
    if kind == "classification":
        scores = answer["scores"]
        best = np.argsort(-scores, kind="stable")[:top_k]
        out["top"] = [{"class": class_names[i], "prob": round(float(scores[i]), 6)} for i in best]
    elif kind == "detection":
        sx, sy = item.scale
        h, w = item.original
        out["height"], out["width"] = h, w
        sure = answer["scores"] >= min_score
        boxes = answer["boxes"][sure] * np.array([sx, sy, sx, sy], np.float32)
        boxes = np.clip(boxes, 0, np.array([w, h, w, h], np.float32))  # inside the image, as labels are
        out["detections"] = [
            {"class": class_names[int(k)], "class_id": int(k), "score": round(float(s), 6),
             "box": [round(float(v), 2) for v in b]}
            for b, s, k in zip(boxes, answer["scores"][sure], answer["labels"][sure])]
    else:
        tokens, confidence = answer["tokens"].tolist(), answer["confidence"]
        out["text"] = "".join(class_names[t - 1] for t in tokens if 0 < t <= len(class_names))
        out["confidence"] = round(float(confidence.mean()), 6) if len(confidence) else None
        out["char_confidence"] = [round(float(c), 4) for c in confidence]
    return out


def agree(kind: str, a: dict[str, np.ndarray], b: dict[str, np.ndarray], *, min_score: float = 0.25,
          margin: float = 1e-3) -> bool:
    """Whether two answers to one input say the same: the same top-1 class; the same detections scoring at
    least ``min_score`` (labels equal, boxes at IoU >= 0.95; detections within ``margin`` of ``min_score`` may
    be on either side); the same text.

    Example:
        >>> agree("classification", {"scores": np.array([0.2, 0.8])}, {"scores": np.array([0.3, 0.7])})
        True
    """
    if kind == "classification":
        return int(np.argmax(a["scores"])) == int(np.argmax(b["scores"]))
    if kind != "detection":
        return a["tokens"].tolist() == b["tokens"].tolist()
    sure_a, sure_b = a["scores"] >= min_score + margin, b["scores"] >= min_score + margin
    maybe_a, maybe_b = a["scores"] >= min_score - margin, b["scores"] >= min_score - margin
    return _covered(a, sure_a, b, maybe_b) and _covered(b, sure_b, a, maybe_a)


def _covered(a: dict, which_a: np.ndarray, b: dict, which_b: np.ndarray) -> bool:
    """Every chosen detection of ``a`` has one of ``b`` with its label at IoU >= 0.95."""
    boxes_b, labels_b = b["boxes"][which_b], b["labels"][which_b]
    for box, label in zip(a["boxes"][which_a], a["labels"][which_a]):
        lt, rb = np.maximum(box[:2], boxes_b[:, :2]), np.minimum(box[2:], boxes_b[:, 2:])
        inter = np.clip(rb - lt, 0, None).prod(1)
        union = (box[2:] - box[:2]).prod() + (boxes_b[:, 2:] - boxes_b[:, :2]).prod(1) - inter
        if not ((inter / np.maximum(union, 1e-9) >= 0.95) & (labels_b == label)).any():
            return False
    return True
