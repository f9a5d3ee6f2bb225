"""Detections in the COCO results format, the list ``pycocotools``' ``COCO.loadRes`` scores (no torch).

One entry per detection: ``{"image_id", "category_id", "bbox": [x, y, width, height], "score"}`` with the box
in pixels of the original image; :func:`write_coco_results` streams them into a JSON array, so the detections
of a large folder are never held in memory at once.

Example:
    >>> coco_results(7, [[10, 20, 30, 60]], [0.9], [2])
    [{'image_id': 7, 'category_id': 2, 'bbox': [10.0, 20.0, 20.0, 40.0], 'score': 0.9}]
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO


def coco_results(image_id: int, boxes: Iterable[Sequence[float]], scores: Iterable[float], labels: Iterable[int],
                 category_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The COCO results entries of one image: ``boxes`` as (x1, y1, x2, y2) pixels, class indices ``labels``
    mapped to COCO ``category_ids`` (default: the index itself)."""
    out = []
    for (x1, y1, x2, y2), score, label in zip(boxes, scores, labels):
        category = category_ids[int(label)] if category_ids is not None else int(label)
        out.append({"image_id": int(image_id), "category_id": int(category),
                    "bbox": [round(float(v), 2) for v in (x1, y1, x2 - x1, y2 - y1)], "score": round(float(score), 6)})
    return out


def write_coco_results(stream: TextIO, results: Iterable[dict[str, Any]]) -> int:
    """Write ``results`` to ``stream`` as one JSON array, entry by entry; returns the number written.

    Example:
        >>> import io
        >>> buf = io.StringIO(); write_coco_results(buf, coco_results(1, [[0, 0, 2, 2]], [0.5], [0]))
        1
        >>> json.loads(buf.getvalue())[0]["bbox"]
        [0.0, 0.0, 2.0, 2.0]
    """
    stream.write("[")
    n = 0
    for entry in results:
        stream.write(("," if n else "") + "\n" + json.dumps(entry))
        n += 1
    stream.write("\n]\n")
    return n
