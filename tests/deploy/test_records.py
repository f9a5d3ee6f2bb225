"""Records in the original image's pixels, the writers' formats, the output file written whole or not at all."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from trainlab.deploy.preprocess import Loaded
from trainlab.deploy.records import agree, record
from trainlab.deploy.writers import format_for, write_coco, write_csv
from trainlab.errors import ConfigError


def test_detections_are_scaled_to_the_original_image_and_clipped():
    item = Loaded(Path("s.png"), np.zeros((1, 64, 64), np.uint8), (96, 128))  # (H, W): x × 2, y × 1.5
    answer = {"boxes": np.array([[10, 10, 20, 40], [50, 60, 70, 63], [1, 1, 2, 2]], np.float32),
              "scores": np.array([0.9, 0.5, 0.1], np.float32), "labels": np.array([3, 1, 0])}
    rec = record("detection", answer, item, [str(i) for i in range(5)], min_score=0.25)
    assert [d["box"] for d in rec["detections"]] == [[20.0, 15.0, 40.0, 60.0], [100.0, 90.0, 128.0, 94.5]]
    assert [d["class"] for d in rec["detections"]] == ["3", "1"] and (rec["width"], rec["height"]) == (128, 96)


def test_ocr_records_and_agreement():
    item = Loaded(Path("l.png"), np.zeros((1, 16, 40), np.uint8), (16, 40))
    rec = record("ocr-ctc", {"tokens": np.array([2, 1, 3]), "confidence": np.array([0.5, 1.0, 0.9])}, item,
                 ["a", "b", "c"])
    assert rec["text"] == "bac" and rec["confidence"] == pytest.approx(0.8) and len(rec["char_confidence"]) == 3
    empty = record("ocr-ctc", {"tokens": np.zeros(0, int), "confidence": np.zeros(0)}, item, ["a"])
    assert empty["text"] == "" and empty["confidence"] is None
    assert agree("ocr-ctc", {"tokens": np.array([1, 2])}, {"tokens": np.array([1, 2])})
    assert not agree("ocr-ctc", {"tokens": np.array([1, 2])}, {"tokens": np.array([1])})
    near = {"boxes": np.array([[0, 0, 10, 10.]]), "scores": np.array([0.2504]), "labels": np.array([1])}
    none = {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, int)}
    assert agree("detection", near, none)  # within the margin of the threshold: either side is fine
    assert not agree("detection", {**near, "scores": np.array([0.3])}, none)


def test_csv_and_coco_formats():
    rec = {"path": "a.png", "width": 10, "height": 10, "detections": [
        {"class": "cat", "class_id": 0, "score": 0.9, "box": [1.0, 2.0, 5.0, 8.0]}]}
    buf = io.StringIO()
    assert write_csv(iter([rec, {**rec, "path": "b.png", "detections": []}]), buf, "detection", 5) == 2
    assert buf.getvalue().splitlines() == ["path,class,class_id,score,x1,y1,x2,y2", "a.png,cat,0,0.9,1.0,2.0,5.0,8.0",
                                           "b.png"]
    buf = io.StringIO()
    assert write_coco(iter([rec]), buf) == 1
    assert json.loads(buf.getvalue()) == [{"image_id": 1, "category_id": 0, "bbox": [1.0, 2.0, 4.0, 6.0], "score": 0.9}]
    assert format_for(Path("x.json"), None, "detection") == "coco"
    assert format_for(Path("x.json"), None, "classification") == "jsonl"
    with pytest.raises(ConfigError, match="give --out DIR"):
        format_for(None, "yolo-txt", "detection")
