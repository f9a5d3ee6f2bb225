"""Writing prediction records as they come (see :mod:`.records`): CSV, JSON lines, YOLO label files, COCO results.

Each writer consumes an iterator of records, so rows stream out in input order while later images are still
being read. A file is written to a temporary name beside it and renamed when complete (a failed run never
leaves half a file under the real name).

CSV columns, by task: classification ``path, class_1, prob_1, ..., class_k, prob_k``; detection one row per
detection ``path, class, class_id, score, x1, y1, x2, y2`` (an image without detections gets one row with
only its path); OCR ``path, text, confidence, char_confidence`` (space-separated). YOLO label files hold
``class cx cy w h`` per detection, normalized to 0-1: the format the ``yolo-folder`` dataset reads.

Example:
    >>> import io
    >>> buf = io.StringIO()
    >>> write_csv(iter([{"path": "a.png", "top": [{"class": "dog", "prob": 0.9}]}]), buf, "classification", 1)
    1
    >>> buf.getvalue().splitlines()
    ['path,class_1,prob_1', 'a.png,dog,0.9']
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from ..errors import ConfigError
from ..files import writing

FORMATS = ("csv", "jsonl", "yolo-txt", "coco")
Record = dict[str, Any]


def format_for(out: Path | None, fmt: str | None, kind: str) -> str:
    """The output format: ``fmt``, else from ``out``'s suffix (.jsonl, .json → coco for detection), else csv;
    refused where the task has no such output."""
    if fmt is None:
        suffix = out.suffix.lower() if out is not None else ""
        fmt = {".jsonl": "jsonl", ".json": "coco" if kind == "detection" else "jsonl"}.get(suffix, "csv")
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is unknown; allowed: {', '.join(FORMATS)}.")
    if fmt in ("yolo-txt", "coco") and kind != "detection":
        raise ConfigError(f"--format {fmt} writes boxes, but this model's task is {kind}; use csv or jsonl.")
    if fmt == "yolo-txt" and out is None:
        raise ConfigError("--format yolo-txt writes one label file per image: give --out DIR.")
    return fmt


def write_jsonl(records: Iterator[Record], stream: TextIO) -> int:
    """One JSON object per line; returns the number of records."""
    n = 0
    for n, rec in enumerate(records, 1):
        stream.write(json.dumps(rec, ensure_ascii=False) + "\n")
        stream.flush()
    return n


def write_csv(records: Iterator[Record], stream: TextIO, kind: str, top_k: int) -> int:
    """CSV rows (columns in the module docstring); returns the number of records (images)."""
    out = csv.writer(stream, lineterminator="\n")
    if kind == "classification":
        out.writerow(["path", *(f"{name}_{i}" for i in range(1, top_k + 1) for name in ("class", "prob"))])
    elif kind == "detection":
        out.writerow(["path", "class", "class_id", "score", "x1", "y1", "x2", "y2"])
    else:
        out.writerow(["path", "text", "confidence", "char_confidence"])
    n = 0
    for n, rec in enumerate(records, 1):
        if kind == "classification":
            out.writerow([rec["path"], *(v for t in rec["top"] for v in (t["class"], t["prob"]))])
        elif kind == "detection":
            for d in rec["detections"]:
                out.writerow([rec["path"], d["class"], d["class_id"], d["score"], *d["box"]])
            if not rec["detections"]:
                out.writerow([rec["path"]])
        else:
            conf = "" if rec["confidence"] is None else rec["confidence"]
            out.writerow([rec["path"], rec["text"], conf, " ".join(map(str, rec["char_confidence"]))])
        stream.flush()
    return n


def write_coco(records: Iterator[Record], stream: TextIO) -> int:
    """The COCO results array (image ids 1, 2, ... in input order); returns the number of records."""
    from ..detection.coco_results import coco_results, stream_coco_results

    count = [0]

    def entries():
        for i, rec in enumerate(records, 1):
            count[0] = i
            d = rec["detections"]
            yield from coco_results([{"boxes": [e["box"] for e in d], "scores": [e["score"] for e in d],
                                      "labels": [e["class_id"] for e in d]}], [i])

    stream_coco_results(stream, entries())
    return count[0]


def write_yolo_txt(records: Iterator[Record], folder: Path, roots: dict[str, Path | None]) -> int:
    """One ``<name>.txt`` per image in ``folder``: images found in a SOURCE folder keep their path relative to
    it (``roots`` maps an image path to that folder), others their file name; returns the number of records."""
    folder = Path(folder)
    used: set[Path] = set()
    n = 0
    for n, rec in enumerate(records, 1):
        image = Path(rec["path"])
        root = roots.pop(rec["path"], None)
        name = image.relative_to(root) if root is not None else Path(image.name)
        target = folder / name.with_suffix(".txt")
        stem, k = target.with_suffix(""), 2
        while target in used:  # two images of the same name from different places
            target, k = stem.with_name(f"{stem.name}-{k}.txt"), k + 1
        used.add(target)
        w, h = rec["width"], rec["height"]
        lines = [f"{d['class_id']} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
                 for d in rec["detections"] for x1, y1, x2, y2 in [d["box"]]]
        with writing(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("".join(line + "\n" for line in lines))
    return n
