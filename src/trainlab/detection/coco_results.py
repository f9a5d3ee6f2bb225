"""Detections as COCO results JSON: the list pycocotools' ``COCO.loadRes`` reads and ``COCOeval`` scores.

    [{"image_id": 7, "category_id": 3, "bbox": [x, y, w, h], "score": 0.93}, ...]

``bbox`` is in pixels of the original image (top-left corner, width, height), ``category_id`` is the
annotation file's own id of the class. ``trainlab evaluate`` writes ``detections_<split>.json`` this way for
a ``coco`` dataset; ``trainlab predict --format coco`` streams the same entries with
:func:`stream_coco_results`. No torch import: a bundle's predictions are written here too.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np


def _array(values: Any, columns: int | None = None) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, on any device
        values = values.detach().float().cpu().numpy()
    a = np.asarray(values, dtype=np.float64)
    return a.reshape(-1, columns) if columns else a.reshape(-1)


def coco_results(detections: Sequence[Mapping[str, Any]], image_ids: Sequence[int], *,
                 category_ids: Sequence[int] | None = None,
                 scales: Sequence[tuple[float, float]] | None = None) -> list[dict[str, Any]]:
    """One COCO result per detection, in image order then the order given.

    Args:
        detections: per image, ``boxes`` (n, 4) as (x1, y1, x2, y2), ``scores`` (n,) and ``labels`` (n,) class
            indices (torch tensors, numpy arrays or lists: torchvision's detection format).
        image_ids: the COCO image id of each image.
        category_ids: the category id of each class index (None: the class index itself).
        scales: per image ``(sx, sy)`` multiplying x and y, from the model's input back to the original
            image (``original width / input width``, ``original height / input height``); None: 1.

    Returns:
        ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``, bbox rounded to 0.01 px, score to
        6 significant digits (a barely trained model's scores of 1e-4 keep their order); plain Python
        numbers, ready for ``json.dumps``.

    Example:
        >>> coco_results([{"boxes": [[10, 20, 30, 60]], "scores": [0.9], "labels": [1]}], [42],
        ...              category_ids=[5, 7], scales=[(2.0, 0.5)])
        [{'image_id': 42, 'category_id': 7, 'bbox': [20.0, 10.0, 40.0, 20.0], 'score': 0.9}]
    """
    if len(detections) != len(image_ids) or (scales is not None and len(scales) != len(image_ids)):
        raise ValueError(f"{len(detections)} detection lists, {len(image_ids)} image ids"
                         + (f" and {len(scales)} scales" if scales is not None else "") + ": one of each per image.")
    results = []
    for i, (d, image_id) in enumerate(zip(detections, image_ids)):
        boxes, scores, labels = _array(d["boxes"], 4), _array(d["scores"]), _array(d["labels"]).astype(np.int64)
        sx, sy = scales[i] if scales is not None else (1.0, 1.0)
        x1, y1, x2, y2 = boxes[:, 0] * sx, boxes[:, 1] * sy, boxes[:, 2] * sx, boxes[:, 3] * sy
        for j in range(len(scores)):
            k = int(labels[j])
            results.append({"image_id": int(image_id), "category_id": int(category_ids[k]) if category_ids else k,
                            "bbox": [round(float(v), 2) for v in (x1[j], y1[j], x2[j] - x1[j], y2[j] - y1[j])],
                            "score": float(f"{float(scores[j]):.6g}")})
    return results


def write_coco_results(path: Path, results: list[dict[str, Any]]) -> Path:
    """Write :func:`coco_results` to ``path`` atomically (one result per line, so a diff stays readable).

    Example:
        >>> write_coco_results(Path("exp/detections_test.json"), results)  # doctest: +SKIP
    """
    from ..files import atomic_write_text

    text = "[\n" + ",\n".join(json.dumps(r) for r in results) + "\n]\n" if results else "[]\n"
    atomic_write_text(Path(path), text)
    return Path(path)


def stream_coco_results(stream: TextIO, results: Iterable[dict[str, Any]]) -> int:
    """Write ``results`` to ``stream`` as one JSON array, entry by entry (the detections of a large folder are
    never held at once); returns the number written.

    Example:
        >>> import io
        >>> buf = io.StringIO()
        >>> stream_coco_results(buf, coco_results([{"boxes": [[0, 0, 2, 2]], "scores": [0.5], "labels": [0]}], [1]))
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
